//! Fuzz target: the configuration file as `kirjuri` reads it (figment:
//! defaults ← TOML), then every check `Kirjuri::open` makes before it
//! touches the disk. Never a panic.
#![no_main]

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use kirjuri_app::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .extract::<Config>()
    else {
        return;
    };
    let _ = config.retention.validate();
    let _ = config.check();
});
