//! The web UI's languages (issue 4): Finnish (the default), Swedish and
//! English. Every string a page shows comes from `i18n/{fi,sv,en}.toml`,
//! embedded in the binary and parsed once; a key is `section.name`.
//!
//! A missing key shows the key itself rather than failing a page, and the
//! tests below make sure no key is missing: the three catalogues have the
//! same keys, no value is empty, and every key the templates and the UI code
//! ask for exists. Messages take one parameter at most, written `{n}`.
//!
//! Not here: choosing the language of a request (`context`).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// A language the UI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Finnish, the default.
    Fi,
    /// Swedish.
    Sv,
    /// English.
    En,
}

impl Lang {
    /// Every language, in the order the switcher lists them.
    pub const ALL: [Lang; 3] = [Lang::Fi, Lang::Sv, Lang::En];

    /// The ISO 639-1 code, as in `<html lang>` and the stored preference.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fi => "fi",
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }

    /// The language's name in itself, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Fi => "Suomi",
            Lang::Sv => "Svenska",
            Lang::En => "English",
        }
    }

    /// The language with this code, if the UI speaks it.
    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code.trim())
    }

    fn index(self) -> usize {
        match self {
            Lang::Fi => 0,
            Lang::Sv => 1,
            Lang::En => 2,
        }
    }
}

/// The catalogue sources, embedded at compile time.
const SOURCES: [&str; 3] = [
    include_str!("../../i18n/fi.toml"),
    include_str!("../../i18n/sv.toml"),
    include_str!("../../i18n/en.toml"),
];

type Catalogue = HashMap<String, String>;

fn flatten(prefix: &str, table: &toml::Table, out: &mut Catalogue) {
    for (key, value) in table {
        let key = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            toml::Value::String(text) => {
                out.insert(key, text.clone());
            }
            // Only strings are messages; anything else is a catalogue slip
            // that the completeness test reports as a missing key.
            _ => {}
        }
    }
}

fn parse(source: &str) -> Catalogue {
    let mut catalogue = Catalogue::new();
    match source.parse::<toml::Table>() {
        Ok(table) => flatten("", &table, &mut catalogue),
        // The catalogues are compiled in and tested; a broken one shows keys.
        Err(e) => tracing::error!(error = %e, "a UI language catalogue does not parse"),
    }
    catalogue
}

fn catalogues() -> &'static [Catalogue; 3] {
    static CATALOGUES: OnceLock<[Catalogue; 3]> = OnceLock::new();
    CATALOGUES.get_or_init(|| SOURCES.map(parse))
}

/// Translations in one language: what templates call `t.t("key")` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    /// The language.
    pub lang: Lang,
}

impl Tr {
    /// Translations in `lang`.
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The language code, for `<html lang>`.
    pub fn code(&self) -> &'static str {
        self.lang.code()
    }

    /// The text for `key` (the key itself if it were missing).
    pub fn t<'k>(&self, key: &'k str) -> &'k str
    where
        'static: 'k,
    {
        catalogues()[self.lang.index()]
            .get(key)
            .map_or(key, String::as_str)
    }

    /// The text for `key` with `{n}` replaced by `n`.
    pub fn f(&self, key: &str, n: impl std::fmt::Display) -> String {
        self.t(key).replace("{n}", &n.to_string())
    }

    /// The text for `prefix.name`, e.g. a purpose or role label; the name
    /// itself when there is none.
    pub fn label(&self, prefix: &str, name: &str) -> String {
        let key = format!("{prefix}.{name}");
        match catalogues()[self.lang.index()].get(&key) {
            Some(text) => text.clone(),
            None => name.to_owned(),
        }
    }

    /// Whether the catalogue has `key` (for optional texts such as an error
    /// code's own explanation).
    pub fn has(&self, key: &str) -> bool {
        catalogues()[self.lang.index()].contains_key(key)
    }

    /// The key of `section`'s text for an error `code`: its own
    /// (`section.error_<code>`) when the catalogue has one, else
    /// `section.error_generic`.
    pub fn error_key(&self, section: &str, code: &str) -> String {
        let own = format!("{section}.error_{code}");
        if self.has(&own) {
            own
        } else {
            format!("{section}.error_generic")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    fn keys(lang: Lang) -> BTreeSet<String> {
        catalogues()[lang.index()].keys().cloned().collect()
    }

    #[test]
    fn every_catalogue_parses_and_has_the_same_keys_as_finnish() {
        let finnish = keys(Lang::Fi);
        assert!(finnish.len() > 100, "only {} keys", finnish.len());
        for lang in [Lang::Sv, Lang::En] {
            let other = keys(lang);
            let missing: Vec<_> = finnish.difference(&other).collect();
            let extra: Vec<_> = other.difference(&finnish).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: missing {missing:?}, not in Finnish {extra:?}",
                lang.code()
            );
        }
    }

    #[test]
    fn no_translation_is_empty() {
        for lang in Lang::ALL {
            for (key, value) in &catalogues()[lang.index()] {
                assert!(!value.trim().is_empty(), "{}: {key} is empty", lang.code());
            }
        }
    }

    /// Every key literal in the templates and the UI code (`t.t("…")`,
    /// `t.f("…", n)`, `field(t, "…", v)`), and every key built from a fixed
    /// list (purposes, roles, channels, error codes), exists in every
    /// language.
    #[test]
    fn every_key_the_ui_asks_for_exists_in_every_language() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut used = BTreeSet::new();
        let mut sources = Vec::new();
        for dir in ["templates", "src/ui"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                sources.push(std::fs::read_to_string(&path).unwrap());
            }
        }
        for text in &sources {
            for call in [".t(\"", ".f(\"", "(t, \""] {
                for piece in text.split(call).skip(1) {
                    let key = piece.split('"').next().unwrap();
                    if key.contains('.') && !key.contains(' ') && !key.ends_with('.') {
                        used.insert(key.to_owned());
                    }
                }
            }
        }
        for purpose in kirjuri_core::purpose::Purpose::ALL {
            used.insert(format!("purpose.{}", purpose.as_str()));
            used.insert(format!("purpose_help.{}", purpose.as_str()));
        }
        for role in kirjuri_core::role::Role::ALL {
            used.insert(format!("role.{}", role.as_str()));
        }
        for channel in kirjuri_core::contact::Channel::ALL {
            used.insert(format!("channel.{}", channel.as_str()));
        }
        for code in super::super::context::TRANSLATED_ERRORS {
            used.insert(format!("error.{code}"));
        }
        assert!(used.len() > 80, "found only {} keys in use", used.len());
        for lang in Lang::ALL {
            let have = keys(lang);
            let missing: Vec<_> = used.iter().filter(|k| !have.contains(*k)).collect();
            assert!(
                missing.is_empty(),
                "{} lacks keys: {missing:?}",
                lang.code()
            );
        }
    }

    #[test]
    fn a_message_takes_its_parameter_and_a_language_code_round_trips() {
        let tr = Tr::new(Lang::En);
        assert!(tr.f("search.count", 3).contains('3'));
        for lang in Lang::ALL {
            assert_eq!(Lang::from_code(lang.code()), Some(lang));
        }
        assert_eq!(Lang::from_code("de"), None);
    }
}
