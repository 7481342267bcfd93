//! The public privacy notice (NOT-1, issue 13 §2): `GET /privacy` (the
//! version in force), `GET /privacy/versions` (every version, dated) and
//! `GET /privacy/versions/{version}` (an older one as it was published,
//! with what changed from the one before) — in Finnish, Swedish or English
//! (`?lang=`, default Finnish, the notice's original), without signing in
//! and without JavaScript. A recent significant change shows a banner.
//! What the notice says is `kirjuri_app::register`'s; this only lays it
//! out, section by section as the notice is numbered.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::register::{LegalBasis, NoticeView, VersionSummary};
use serde::Deserialize;

use crate::error::Result;
use crate::http::params::query;

/// `?lang=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LangQuery {
    #[serde(default)]
    lang: Option<String>,
}

/// The notice pages' fixed words in one language.
pub struct Labels {
    pub code: &'static str,
    pub title: &'static str,
    pub versions: &'static str,
    pub version: &'static str,
    pub published: &'static str,
    pub older: &'static str,
    pub current: &'static str,
    pub changed: &'static str,
    pub languages: &'static str,
    pub sections: [&'static str; 14],
    pub legal_basis: &'static str,
    pub months: &'static str,
    pub changes: &'static str,
    pub removed: &'static str,
    pub added: &'static str,
    pub significant: &'static str,
}

const FI: Labels = Labels {
    code: "fi",
    title: "Tietosuojaseloste",
    versions: "Selosteen aiemmat versiot",
    version: "Versio",
    published: "julkaistu",
    older: "tämä on aiempi versio",
    current: "voimassa oleva seloste",
    changed: "Tietosuojaseloste on muuttunut.",
    languages: "Kieli",
    sections: [
        "Rekisterinpitäjä",
        "Rekisterin nimi",
        "Yhteyshenkilö rekisteriä koskevissa asioissa",
        "Vastuuhenkilö",
        "Käsittelyn tarkoitus ja oikeusperuste",
        "Rekisterin tietosisältö",
        "Säännönmukaiset tietolähteet",
        "Säännönmukaiset luovutukset ja siirrot",
        "Siirrot EU:n tai ETA:n ulkopuolelle",
        "Suojauksen periaatteet",
        "Rekisteröidyn oikeudet",
        "Säilytysajat",
        "Rekisterihallinto ja tietosuojavastaava",
        "Selosteen muutokset",
    ],
    legal_basis: "Oikeusperuste",
    months: "kuukautta",
    changes: "Muutokset edelliseen versioon",
    removed: "Poistettu",
    added: "Lisätty",
    significant: "merkittävä muutos",
};

const SV: Labels = Labels {
    code: "sv",
    title: "Dataskyddsbeskrivning",
    versions: "Tidigare versioner",
    version: "Version",
    published: "publicerad",
    older: "detta är en tidigare version",
    current: "gällande beskrivning",
    changed: "Dataskyddsbeskrivningen har ändrats.",
    languages: "Språk",
    sections: [
        "Personuppgiftsansvarig",
        "Registrets namn",
        "Kontaktperson i ärenden som gäller registret",
        "Ansvarsperson",
        "Ändamål och rättslig grund",
        "Registrets innehåll",
        "Regelbundna uppgiftskällor",
        "Regelbundna utlämnanden och överföringar",
        "Överföringar utanför EU eller EES",
        "Principer för skyddet",
        "Den registrerades rättigheter",
        "Lagringstider",
        "Registerförvaltning och dataskyddsombud",
        "Ändringar i beskrivningen",
    ],
    legal_basis: "Rättslig grund",
    months: "månader",
    changes: "Ändringar sedan föregående version",
    removed: "Borttaget",
    added: "Tillagt",
    significant: "väsentlig ändring",
};

const EN: Labels = Labels {
    code: "en",
    title: "Privacy notice",
    versions: "Earlier versions",
    version: "Version",
    published: "published",
    older: "this is an earlier version",
    current: "the notice in force",
    changed: "The privacy notice has changed.",
    languages: "Language",
    sections: [
        "Controller",
        "Name of the register",
        "Contact person for the register",
        "Responsible person",
        "Purpose and legal basis",
        "Contents of the register",
        "Regular sources",
        "Regular disclosures and transfers",
        "Transfers outside the EU/EEA",
        "Security",
        "Rights of the data subject",
        "Retention",
        "Administration and data protection officer",
        "Changes to the notice",
    ],
    legal_basis: "Legal basis",
    months: "months",
    changes: "Changes from the previous version",
    removed: "Removed",
    added: "Added",
    significant: "significant change",
};

fn labels(language: &str) -> &'static Labels {
    match language {
        "sv" => &SV,
        "en" => &EN,
        _ => &FI,
    }
}

/// A legal basis in words.
pub fn basis_name(basis: &LegalBasis, language: &str) -> &'static str {
    let [fi, sv, en] = match basis {
        LegalBasis::Consent => ["suostumus", "samtycke", "consent"],
        LegalBasis::Contract => ["sopimus", "avtal", "contract"],
        LegalBasis::LegalObligation => [
            "rekisterinpitäjän lakisääteinen velvoite",
            "rättslig förpliktelse",
            "a legal obligation of the controller",
        ],
        LegalBasis::VitalInterests => [
            "elintärkeät edut",
            "grundläggande intressen",
            "vital interests",
        ],
        LegalBasis::PublicTask => [
            "yleisen edun mukainen tehtävä",
            "uppgift av allmänt intresse",
            "a task in the public interest",
        ],
        LegalBasis::LegitimateInterests => [
            "oikeutettu etu",
            "berättigat intresse",
            "legitimate interests",
        ],
    };
    match language {
        "sv" => sv,
        "en" => en,
        _ => fi,
    }
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct NoticePage<'a> {
    css: String,
    l: &'static Labels,
    view: &'a NoticeView,
}

#[derive(Template)]
#[template(path = "privacy_versions.html")]
struct VersionsPage<'a> {
    css: String,
    l: &'static Labels,
    versions: &'a [VersionSummary],
}

fn render(template: &impl Template) -> Result<Response> {
    let html = template
        .render()
        .map_err(|_| Error::Internal("a notice page could not be rendered"))?;
    Ok(Html(html).into_response())
}

fn lang(request: std::result::Result<Query<LangQuery>, QueryRejection>) -> Result<String> {
    Ok(query(request)?.lang.unwrap_or_else(|| "fi".to_owned()))
}

/// `GET /privacy`.
pub async fn notice(
    State(app): State<Kirjuri>,
    request: std::result::Result<Query<LangQuery>, QueryRejection>,
) -> Result<Response> {
    let lang = lang(request)?;
    let view = app.notice(&lang, None).await?;
    render(&NoticePage {
        css: crate::ui::asset::url("kirjuri.css"),
        l: labels(&lang),
        view: &view,
    })
}

/// `GET /privacy/versions`.
pub async fn versions(
    State(app): State<Kirjuri>,
    request: std::result::Result<Query<LangQuery>, QueryRejection>,
) -> Result<Response> {
    let lang = lang(request)?;
    let versions = app.notice_versions(&lang).await?;
    render(&VersionsPage {
        css: crate::ui::asset::url("kirjuri.css"),
        l: labels(&lang),
        versions: &versions,
    })
}

/// `GET /privacy/versions/{version}`.
pub async fn version(
    State(app): State<Kirjuri>,
    Path(version): Path<String>,
    request: std::result::Result<Query<LangQuery>, QueryRejection>,
) -> Result<Response> {
    let lang = lang(request)?;
    if version.len() > 64 || !version.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::NotFound.into());
    }
    let view = app.notice(&lang, Some(&version)).await?;
    render(&NoticePage {
        css: crate::ui::asset::url("kirjuri.css"),
        l: labels(&lang),
        view: &view,
    })
}
