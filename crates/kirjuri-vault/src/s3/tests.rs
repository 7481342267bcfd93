//! Unit tests of the S3 backend that need no server: configuration,
//! credentials, endpoint and prefix checks, object names, redaction, and
//! parsing an uploads listing. (Against a real Garage: `tests/s3.rs`.)

use std::os::unix::fs::PermissionsExt;

use kirjuri_core::ids::ObjectId;
use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;

use super::config::{S3Config, S3Credentials, normalize_prefix};
use super::redact::redacted;
use super::store::{ListMultipartUploadsResult, S3Store};
use super::*;

fn config() -> S3Config {
    S3Config {
        endpoint: Some("http://127.0.0.1:3900".into()),
        region: "garage".into(),
        bucket: "kirjuri".into(),
        prefix: None,
        allow_http: true,
        country: "FI".into(),
        credentials_file: None,
    }
}

fn credentials() -> S3Credentials {
    S3Credentials::new(
        SecretString::from("GK0123456789abcdef01234567"),
        SecretString::from("s3cr3t-s3cr3t-s3cr3t"),
    )
    .unwrap()
}

#[test]
fn the_configuration_parses_from_toml_and_refuses_unknown_fields() {
    let parsed: S3Config = toml::from_str(
        r#"
        endpoint = "https://s3.example.fi"
        region = "garage"
        bucket = "recordings"
        prefix = "kirjuri/objects"
        country = "FI"
        credentials_file = "/etc/kirjuri/s3.toml"
        "#,
    )
    .unwrap();
    assert_eq!(parsed.prefix.as_deref(), Some("kirjuri/objects"));
    assert!(!parsed.allow_http);

    let unknown = toml::from_str::<S3Config>(
        r#"
        region = "garage"
        bucket = "b"
        country = "FI"
        secret_access_key = "inline"
        "#,
    );
    assert!(unknown.is_err());
}

#[test]
fn debug_output_shows_no_credentials() {
    let credentials = credentials();
    let store = S3Store::open(&config(), credentials.clone()).unwrap();

    for text in [format!("{credentials:?}"), format!("{store:?}")] {
        assert!(!text.contains("GK0123456789abcdef01234567"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
    assert!(format!("{store:?}").contains("kirjuri"));
}

#[test]
fn a_location_outside_the_eea_is_refused() {
    let mut outside = config();
    outside.country = "GB".into();
    let mut london = config();
    london.endpoint = None;
    london.region = "eu-west-2".into();
    london.country = "GB".into();
    let mut stockholm = config();
    stockholm.endpoint = Some("https://s3.eu-north-1.amazonaws.com".into());
    stockholm.region = "eu-north-1".into();
    stockholm.country = "SE".into();
    let mut virginia = stockholm.clone();
    virginia.region = "us-east-1".into();

    for refused in [outside, london, virginia] {
        let error = S3Store::open(&refused, credentials()).unwrap_err();
        assert!(error.to_string().contains("EU/EEA"), "{error}");
    }
    S3Store::open(&stockholm, credentials()).unwrap();
}

#[test]
fn aws_endpoints_are_recognised() {
    let mut config = config();
    assert!(!config.is_aws());
    config.endpoint = None;
    assert!(config.is_aws());
    config.endpoint = Some("https://s3.eu-north-1.amazonaws.com/".into());
    assert!(config.is_aws());
    config.endpoint = Some("https://bucket.s3.amazonaws.com.".into());
    assert!(config.is_aws());
    config.endpoint = Some("https://notamazonaws.com".into());
    assert!(!config.is_aws());
}

#[test]
fn plain_http_needs_allow_http() {
    let mut config = config();
    config.allow_http = false;

    let error = S3Store::open(&config, credentials()).unwrap_err();

    assert!(error.to_string().contains("allow_http"), "{error}");
}

#[test]
fn endpoints_with_credentials_or_odd_schemes_are_refused() {
    for endpoint in [
        "http://GK1:secret@127.0.0.1:3900",
        "ftp://127.0.0.1",
        "127.0.0.1:3900",
        "http://127.0.0.1:3900/?x=1",
    ] {
        let mut config = config();
        config.endpoint = Some(endpoint.into());
        let error = S3Store::open(&config, credentials()).unwrap_err();
        assert!(!error.to_string().contains("secret@"), "{error}");
        assert!(
            matches!(error, Error::InvalidInput(_)),
            "{endpoint}: {error}"
        );
    }
}

#[test]
fn prefixes_are_plain_folder_paths() {
    assert_eq!(normalize_prefix(None).unwrap(), "");
    assert_eq!(normalize_prefix(Some("/")).unwrap(), "");
    assert_eq!(normalize_prefix(Some("a/b-c_d.e/")).unwrap(), "a/b-c_d.e/");
    for bad in ["a//b", "../x", "a/./b", "a b", "ä"] {
        assert!(normalize_prefix(Some(bad)).is_err(), "{bad}");
    }
}

#[test]
fn keys_follow_the_local_folder_layout_and_parse_back() {
    let mut config = config();
    config.prefix = Some("kirjuri/objects".into());
    let store = S3Store::open(&config, credentials()).unwrap();
    let id = ObjectId::new_v7();
    let name = id.to_string();

    let key = store.inner.path(&id);

    assert_eq!(
        key.as_ref(),
        format!("kirjuri/objects/{}/{name}.kjr", &name[34..])
    );
    assert_eq!(store.inner.id_of(key.as_ref()), Some(id));
    // A shard that is not this id's own: "00" would be right for one id in 256.
    let wrong_shard = if &name[34..] == "00" { "01" } else { "00" };
    for other in [
        format!("kirjuri/objects/{wrong_shard}/{name}.kjr"),
        format!("kirjuri/{}/{name}.kjr", &name[34..]),
        format!("kirjuri/objects/{}/{name}.part", &name[34..]),
        format!(
            "kirjuri/objects/{}/{}.kjr",
            &name[34..],
            name.to_uppercase()
        ),
        "kirjuri/objects/README".to_owned(),
    ] {
        assert_eq!(store.inner.id_of(&other), None, "{other}");
    }
}

#[test]
fn the_part_size_cannot_go_below_the_s3_minimum() {
    let store = S3Store::open(&config(), credentials()).unwrap();

    assert!(store.clone().with_part_size(MIN_PART_SIZE - 1).is_err());
    let store = store.with_part_size(MIN_PART_SIZE).unwrap();
    assert_eq!(
        store.with_concurrent_parts(3).upload_memory_bound(),
        4 * MIN_PART_SIZE
    );
}

#[test]
fn credentials_come_from_an_owner_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3.toml");
    std::fs::write(
        &path,
        "access_key_id = \"GKabc\"\nsecret_access_key = \"very-secret\"\n",
    )
    .unwrap();

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let error = S3Credentials::from_file(&path).unwrap_err();
    assert!(matches!(error, Error::InsecureKeyFile { .. }), "{error}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let credentials = S3Credentials::from_file(&path).unwrap();
    assert_eq!(credentials.access_key_id.expose_secret(), "GKabc");
    assert_eq!(credentials.secret_access_key.expose_secret(), "very-secret");
}

#[test]
fn a_malformed_credentials_file_is_refused_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3.toml");
    for text in [
        "access_key_id = \"GKabc\"\nsecret_access_key = very-secret\n",
        "access_key_id = \"GKabc\"\nsecret = \"very-secret\"\n",
        "access_key_id = \"GKabc\"\n",
        "access_key_id = \"\"\nsecret_access_key = \"very-secret\"\n",
    ] {
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

        let error = S3Credentials::from_file(&path).unwrap_err().to_string();

        assert!(error.contains("s3.toml"), "{error}");
        assert!(!error.contains("very-secret"), "{error}");
    }
}

#[test]
fn messages_have_the_credentials_cut_out() {
    let credentials = credentials();

    let text = redacted(
        "denied for GK0123456789abcdef01234567 with s3cr3t-s3cr3t-s3cr3t",
        &credentials,
    );

    assert_eq!(text, "denied for [redacted] with [redacted]");
}

#[test]
fn an_uploads_listing_parses() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
        <ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
          <Bucket>kirjuri</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
          <NextKeyMarker>b/2.kjr</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
          <Prefix>b/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
          <Upload><Key>a/1.kjr</Key><UploadId>u1</UploadId><Initiated>2026-01-01T00:00:00Z</Initiated></Upload>
          <Upload><Key>b/2.kjr</Key><UploadId>u2</UploadId></Upload>
        </ListMultipartUploadsResult>"#;

    let page: ListMultipartUploadsResult = quick_xml::de::from_reader(xml.as_bytes()).unwrap();

    assert!(page.is_truncated);
    assert_eq!(page.uploads.len(), 2);
    assert_eq!(page.uploads[1].key, "b/2.kjr");
    assert_eq!(page.uploads[1].upload_id, "u2");
    assert_eq!(page.next_upload_id_marker.as_deref(), Some("u2"));

    let empty: ListMultipartUploadsResult = quick_xml::de::from_reader(
        "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"
            .as_bytes(),
    )
    .unwrap();
    assert!(empty.uploads.is_empty());
}
