//! Benchmark for DESIGN.md's lookup target: all contacts of one phone number
//! among 10 million in under 10 ms. It fills a fresh SQLite file with
//! `KIRJURI_BENCH_CONTACTS` contacts (default 1 000 000; set 10000000 for the
//! full target — the fill then takes minutes), each with a phone entry shared
//! by about five contacts and a name entry shared by about a thousand, then
//! times searches through the [`Store`] trait.
//!
//! `KIRJURI_BENCH_DB=PATH` keeps the filled database at PATH and, when PATH
//! already exists, measures it without filling again — a 10-million fill is
//! worth reusing while tuning.
//!
//! Measured on the 2-core development VM with 10 M contacts (a 9 GB file):
//! one phone number, newest 50, median 0.3–1.6 ms and p99 0.9–16 ms — the
//! tail is the page cache, warm runs stay under 5 ms at p99.
//!
//! The fill writes SQL directly (one statement per 100 000 rows) because
//! going through `insert_contact` would measure ten million fsyncs, not the
//! lookup. It is a benchmark, not a test: it asserts nothing and prints
//! timings. Run with `cargo bench -p kirjuri-store --bench lookup`.

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kirjuri_store::{ContactFilter, IndexEntry, SqliteStore, Store};

/// Contacts per fill statement.
const BATCH: i64 = 100_000;
/// Contacts sharing one phone number, on average.
const PER_PHONE: i64 = 5;
/// Contacts sharing one name, on average.
const PER_NAME: i64 = 1_000;
/// Searches per measurement.
const SEARCHES: usize = 1_000;
/// Start of the generated contacts: 2026-01-01T00:00:00Z, in microseconds.
const EPOCH_MICROS: i64 = 1_767_225_600_000_000;

fn main() -> Result<(), Box<dyn Error>> {
    let contacts: i64 = match std::env::var("KIRJURI_BENCH_CONTACTS") {
        Ok(value) => value.parse()?,
        Err(_) => 1_000_000,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(contacts))
}

async fn run(contacts: i64) -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = match std::env::var_os("KIRJURI_BENCH_DB") {
        Some(path) => PathBuf::from(path),
        None => dir.path().join("bench.db"),
    };
    let existing = path.exists();
    let store = SqliteStore::open(&path).await?;
    let contacts = if existing {
        let stored = i64::try_from(store.count_contacts().await?)?;
        println!("reusing {} with {stored} contacts", path.display());
        stored
    } else {
        let started = Instant::now();
        fill(&store, contacts).await?;
        println!("filled {contacts} contacts in {:.1?}", started.elapsed());
        contacts
    };

    let phones = (contacts / PER_PHONE).max(1);
    let mut picks = Lcg(0x2545_F491_4F6C_DD1D);
    let mut phone = Vec::with_capacity(SEARCHES);
    let mut found = 0;
    for _ in 0..SEARCHES {
        let filter = ContactFilter {
            index: vec![hash_entry("phone", picks.below(phones))],
            limit: 50,
            ..ContactFilter::default()
        };
        let started = Instant::now();
        found += store.search_contacts(&filter).await?.len();
        phone.push(started.elapsed());
    }
    report("one phone number, newest 50", &mut phone, found);

    let mut agent = Vec::with_capacity(SEARCHES);
    let mut found = 0;
    for i in 0..SEARCHES {
        let filter = ContactFilter {
            agent: Some(format!("agent{}", i % 50)),
            limit: 50,
            ..ContactFilter::default()
        };
        let started = Instant::now();
        found += store.search_contacts(&filter).await?.len();
        agent.push(started.elapsed());
    }
    report("one agent, newest 50", &mut agent, found);
    Ok(())
}

/// Inserts `contacts` contacts, one minute apart, with their index entries.
async fn fill(store: &SqliteStore, contacts: i64) -> Result<(), Box<dyn Error>> {
    let mut first = 0;
    while first < contacts {
        let last = (first + BATCH).min(contacts) - 1;
        let mut tx = store.pool().begin().await?;
        // `n` is the contact's number; its start time encodes it, so the
        // index entries below can be derived from the row. Ids lead with it,
        // time-ordered like the UUIDv7s Kirjuri issues.
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2) \
             INSERT INTO contacts (id, external_id, channel, started_at, ended_at, agent, service, \
                 created_at, created_by, sealed_document, document_key, retain_until) \
             SELECT unhex(printf('%016x%016x', i, random())), NULL, 'call_in', ?3 + i * 60000000, NULL, 'agent' || (i % 50), \
                 'billing', ?3, zeroblob(16), zeroblob(400), zeroblob(60), ?3 + 31536000000000 \
             FROM n",
        )
        .bind(first)
        .bind(last)
        .bind(EPOCH_MICROS)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO contact_index (contact_id, kind, hash) \
             SELECT id, 'phone', CAST(printf('%032d', ((started_at - ?1) / 60000000) % ?2) AS BLOB) \
             FROM contacts WHERE started_at BETWEEN ?1 + ?3 * 60000000 AND ?1 + ?4 * 60000000 \
             UNION ALL \
             SELECT id, 'name', CAST(printf('%032d', ((started_at - ?1) / 60000000) % ?5) AS BLOB) \
             FROM contacts WHERE started_at BETWEEN ?1 + ?3 * 60000000 AND ?1 + ?4 * 60000000",
        )
        .bind(EPOCH_MICROS)
        .bind((contacts / PER_PHONE).max(1))
        .bind(first)
        .bind(last)
        .bind((contacts / PER_NAME).max(1))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        first = last + 1;
    }
    Ok(())
}

/// The index entry the fill gave value `n` of `kind`.
fn hash_entry(kind: &str, n: i64) -> IndexEntry {
    IndexEntry {
        kind: kind.into(),
        hash: format!("{n:032}").into_bytes(),
    }
}

fn report(what: &str, times: &mut [Duration], found: usize) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{what}: {} searches, {found} rows; median {:.2?}, p99 {:.2?}, max {:.2?}",
        times.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

/// A small deterministic generator, so runs are comparable.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: i64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % bound.unsigned_abs()) as i64
    }
}
