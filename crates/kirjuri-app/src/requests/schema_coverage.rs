//! Every table of the schema has a say in the access package (DSR-3): a
//! table that holds a data subject's personal data names where the package
//! carries it, and every other table says why it holds none. A table added
//! by a migration without an entry here fails this test, so a new kind of
//! personal data cannot silently stay out of subjects' packages.
//!
//! Not here: the package itself (`access`).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::*;

/// Where a table's rows stand with respect to the access package.
enum Coverage {
    /// Carried in the package, as the file(s) named.
    InPackage(&'static str),
    /// Not the subject's personal data, because …
    NotPersonal(&'static str),
}

use Coverage::{InPackage, NotPersonal};

/// The one mapping: table → coverage.
const MAPPING: &[(&str, Coverage)] = &[
    (
        "contacts",
        InPackage("contacts/<id>.json: the opened document and its metadata"),
    ),
    (
        "contact_index",
        InPackage("keyed hashes of identifiers the contacts' JSON carries in the clear"),
    ),
    (
        "contact_history",
        InPackage("contacts/<id>.json: previous_versions, each earlier document opened"),
    ),
    (
        "objects",
        InPackage("recordings/<contact>/<kind>.*: every stored object, original bytes"),
    ),
    (
        "pending_objects",
        NotPersonal("an upload in flight: ids and an instance tag; its bytes land in objects"),
    ),
    (
        "audit_events",
        InPackage("access-history.json: the reads of the subject's contacts, by role"),
    ),
    (
        "audit_refs",
        NotPersonal("an index of audit_events by id, rebuilt from them"),
    ),
    ("audit_log", NotPersonal("the log's random identity")),
    (
        "audit_checkpoints",
        NotPersonal("signed tree heads: hashes and sizes"),
    ),
    (
        "users",
        NotPersonal("staff accounts: the staff's data, not a data subject's"),
    ),
    ("api_tokens", NotPersonal("staff credentials (hashes)")),
    ("user_totp", NotPersonal("staff second factors")),
    ("sessions", NotPersonal("staff sign-in sessions")),
    (
        "legal_holds",
        NotPersonal("a hold's ground and dates; a phone query is kept only as a hash"),
    ),
    (
        "legal_hold_targets",
        NotPersonal("which contact or object a hold keeps: ids"),
    ),
    (
        "tombstones",
        NotPersonal("what was destroyed: ids, dates, rules, digests"),
    ),
    ("job_leases", NotPersonal("background jobs' leases")),
    ("instances", NotPersonal("server processes' heartbeats")),
    (
        "notice_versions",
        NotPersonal("the published privacy notice: it describes the register, no one in it"),
    ),
    (
        "outbox",
        NotPersonal("letters to the requester about the request itself, sealed, sent and gone"),
    ),
    (
        "requests",
        NotPersonal("the request being answered: the requester gave it, the timeline shows it"),
    ),
    (
        "request_identifiers",
        NotPersonal("the request's own identifiers, as typed by the requester"),
    ),
    (
        "request_verifications",
        NotPersonal("how the request's identity check was done: methods and levels"),
    ),
    ("request_codes", NotPersonal("one-time codes, as HMACs")),
    (
        "recipients",
        NotPersonal("the recipients register: organisations, their countries and agreements"),
    ),
    (
        "incidents",
        NotPersonal("the breach register's fixed facts: times and who recorded them"),
    ),
    (
        "contact_rollups",
        NotPersonal(
            "anonymous daily counts of contacts by channel, service and handling time: \
             no id, identifier or agent",
        ),
    ),
    (
        "contact_rollup_backfill",
        NotPersonal(
            "ids of contacts not yet counted into the roll-ups: the contacts themselves \
             are in the package",
        ),
    ),
    (
        "contact_index_sweep",
        NotPersonal(
            "ids of erased contacts whose blind-index entries are still to be deleted: \
             no identifier",
        ),
    ),
    (
        "request_rollups",
        NotPersonal(
            "anonymous daily counts of closed data-subject requests by right, outcome \
             and timeliness: no id, reference or identifier",
        ),
    ),
    (
        "disclosure_rollups",
        NotPersonal(
            "anonymous daily counts of approved disclosures by recipient kind: no id, \
             recipient or case reference",
        ),
    ),
    (
        "survey_configs",
        NotPersonal("each service's survey settings: rates, hours, texts"),
    ),
    (
        "survey_rollups",
        NotPersonal(
            "anonymous daily survey counts by service: invitations, answers, scores; \
             no id, identifier or words",
        ),
    ),
    (
        "survey_recipients",
        NotPersonal(
            "when a phone's hash was last invited, only to keep the once-per-period rule; \
             a keyed hash and a date, erased after the longest period",
        ),
    ),
    (
        "survey_invitations",
        InPackage(
            "surveys.json: each invitation after the subject's contacts, its score and words",
        ),
    ),
    (
        "incident_updates",
        NotPersonal(
            "the controller's Art. 33(5) documentation of a breach: counts and decisions, \
             its text sealed and keyed to no subject (the subjects a breach touched are \
             found by the impact query and told under Art. 34, not through this table)",
        ),
    ),
    (
        "disclosures",
        InPackage("disclosures.json: each recipient, its kind, country, legal ground and date"),
    ),
    (
        "disclosure_contacts",
        InPackage("disclosures.json: the subject's contacts each disclosure covered"),
    ),
    (
        "disclosure_links",
        NotPersonal("one-time links to a disclosure's package: keyed hashes and times"),
    ),
    (
        "subject_limits",
        NotPersonal("the subject's own restrictions and objections: kinds, purposes, dates"),
    ),
    (
        "subject_limit_identifiers",
        NotPersonal("the identifiers a limit binds, as keyed hashes the request gave"),
    ),
    (
        "delivery_links",
        NotPersonal("one-time download links and their codes, as HMACs and blind-index hashes"),
    ),
    (
        "request_events",
        NotPersonal("the request's timeline: states and dates"),
    ),
];

#[tokio::test]
async fn every_table_in_the_schema_says_whether_the_access_package_carries_it() {
    // Arrange: a data folder with every migration applied.
    let dir = tempfile::tempdir().unwrap();
    let config = crate::Config {
        data: dir.path().to_path_buf(),
        ..crate::Config::default()
    };
    let clock = Arc::new(kirjuri_core::clock::FixedClock::new(
        "2026-03-02T08:00:00Z".parse().unwrap(),
    ));
    let database = config.database_file();
    let app = Kirjuri::open(config, clock).await.unwrap();
    drop(app);

    // Act: the tables SQLite knows.
    let db = rusqlite::Connection::open(database).unwrap();
    let mut statement = db
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%'",
        )
        .unwrap();
    let tables: BTreeSet<String> = statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<std::result::Result<_, _>>()
        .unwrap();

    // Assert: each has exactly one entry.
    let mapped: BTreeSet<&str> = MAPPING.iter().map(|(table, _)| *table).collect();
    let unmapped: Vec<&String> = tables
        .iter()
        .filter(|t| !mapped.contains(t.as_str()))
        .collect();
    assert!(
        unmapped.is_empty(),
        "tables with no entry in the access package's mapping (add one: where the package \
         carries them, or why they hold no data subject's personal data): {unmapped:?}"
    );
    assert_eq!(mapped.len(), MAPPING.len(), "a table is mapped twice");
    for (table, coverage) in MAPPING {
        let text = match coverage {
            InPackage(what) | NotPersonal(what) => what,
        };
        assert!(!text.is_empty(), "{table}: say where, or why not");
    }
}
