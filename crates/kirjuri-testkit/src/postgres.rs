//! PostgreSQL for tests: the server at `KIRJURI_TEST_POSTGRES_URL` (a
//! superuser URL, as `scripts/pg start` prints), or else one this process
//! starts — or finds running — with `scripts/pg start --fast` (a throwaway
//! cluster under /tmp that later runs reuse; `scripts/pg stop` removes it).
//! Without either the tests that need it fail, saying what to install; they
//! never skip.
//!
//! Every test gets a database of its own ([`TestDatabase`], `t_<random>`),
//! so tests run in parallel. The guard drops it, and any roles made for it,
//! when the test ends — except when the test failed: then it is left, and
//! named on stderr, to be looked at.
//!
//! Benchmarks want a server of their own instead, durable as a default
//! installation and in a folder they choose: [`OwnPostgres`] (`scripts/pg
//! start --dir DIR`, without `--fast`), stopped and removed when dropped,
//! with errors returned rather than panics.
//!
//! Not here: opening a store on the database (the store's own tests and the
//! cluster test do, with `kirjuri_store`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sqlx::Connection;

use crate::SetupError;

/// The test server's superuser URL: `KIRJURI_TEST_POSTGRES_URL`, or a
/// server `scripts/pg` starts (or finds running) once per process.
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("KIRJURI_TEST_POSTGRES_URL")
            && !url.trim().is_empty()
        {
            return url.trim().to_owned();
        }
        let script = crate::repository().join("scripts/pg");
        let output = std::process::Command::new(&script)
            .args(["start", "--fast"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "the PostgreSQL tests need a server: set KIRJURI_TEST_POSTGRES_URL to a superuser \
             URL, or install PostgreSQL (apt-get install postgresql) so that `scripts/pg start` \
             can run one. It said:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("scripts/pg prints a UTF-8 URL")
            .trim()
            .to_owned()
    })
}

/// An empty PostgreSQL database for one test, dropped with the guard (left
/// for inspection if the test failed).
#[derive(Debug)]
pub struct TestDatabase {
    /// Its superuser URL.
    pub url: String,
    /// Its name.
    pub name: String,
    /// Roles a test created for it, dropped with it.
    pub roles: Vec<String>,
}

impl TestDatabase {
    /// Creates `t_<random>` on the test server.
    pub async fn create() -> Self {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        admin_execute(&format!("CREATE DATABASE \"{name}\"")).await;
        Self {
            url: with_database(server_url(), &name),
            name,
            roles: Vec::new(),
        }
    }

    /// Creates a login role (trusted, no password) that the guard drops
    /// with the database, and returns its name.
    pub async fn create_role(&mut self) -> String {
        let role = format!("r_{}", uuid::Uuid::new_v4().simple());
        admin_execute(&format!("CREATE ROLE \"{role}\" LOGIN")).await;
        self.roles.push(role.clone());
        role
    }

    /// This database's URL as `user`.
    pub fn url_as(&self, user: &str) -> String {
        with_user(&self.url, user)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "the failed test's database {} is left on {} to be looked at",
                self.name,
                server_url()
            );
            return;
        }
        // Drop runs inside the test's runtime, which cannot block on a
        // future; a thread with its own runtime can.
        let mut statements = vec![format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )];
        statements.extend(
            self.roles
                .iter()
                .map(|role| format!("DROP ROLE IF EXISTS \"{role}\"")),
        );
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                for statement in &statements {
                    admin_execute(statement).await;
                }
            });
        })
        .join();
        assert!(
            dropped.is_ok(),
            "dropping the test database {} failed",
            self.name
        );
    }
}

/// Runs one statement as the superuser on the test server's own database.
pub async fn admin_execute(statement: &str) {
    admin_execute_on(server_url(), statement).await;
}

/// Runs one statement on the server at `url` (a benchmark's own server).
pub async fn admin_execute_on(url: &str, statement: &str) {
    try_admin_execute_on(url, statement)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Runs one statement on the server at `url`, returning what went wrong.
pub async fn try_admin_execute_on(url: &str, statement: &str) -> Result<(), SetupError> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| SetupError(format!("cannot connect to the test PostgreSQL: {e}")))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .map_err(|e| SetupError(format!("{statement}: {e}")))?;
    conn.close().await.ok();
    Ok(())
}

/// The server a benchmark measures PostgreSQL on: the superuser URL in
/// `KIRJURI_BENCH_POSTGRES_URL` (e.g. from `scripts/pg start`), or `None`
/// — after saying on stdout that the PostgreSQL part is skipped.
pub fn bench_server() -> Option<String> {
    let url = std::env::var("KIRJURI_BENCH_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty());
    if url.is_none() {
        println!("postgres: skipped (set KIRJURI_BENCH_POSTGRES_URL)");
    }
    url
}

/// The CPU seconds the PostgreSQL server at `url` has used so far, when it
/// runs on this machine (`None` otherwise, or if `/proc` says nothing):
/// its postmaster's own time, the time of the backends and helpers it has
/// reaped, and the time of those still running
/// ([`process_tree_ticks`](crate::app::process_tree_ticks)).
/// Benchmarks take the difference around a measurement, so the server's
/// part of a query's cost is counted beside the client's.
pub async fn server_cpu_seconds(url: &str) -> Option<f64> {
    let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .ok()?;
    let postmaster = crate::app::process_times(u32::try_from(backend).ok()?)?.parent;
    conn.close().await.ok();
    // The kernel's clock ticks: 100 per second on Linux's every platform.
    Some(crate::app::process_tree_ticks(postmaster)? as f64 / 100.0)
}

/// A PostgreSQL cluster of the caller's own in a folder it chooses, durable
/// (fsync on, as a default installation: what benchmarks should measure);
/// stopped, and its folder deleted, when dropped.
#[derive(Debug)]
pub struct OwnPostgres {
    /// The folder `scripts/pg --dir` manages.
    dir: PathBuf,
    /// Its superuser URL.
    url: String,
}

impl OwnPostgres {
    /// Starts (creating it with initdb) the cluster in `dir`.
    pub fn start(dir: &Path) -> Result<Self, SetupError> {
        Ok(Self {
            dir: dir.to_owned(),
            url: start_in(dir)?,
        })
    }

    /// Starts the cluster again after it was stopped (or crashed), on the
    /// same port, so clients reconnect to the same URL.
    pub fn restart(&self) -> Result<(), SetupError> {
        let url = start_in(&self.dir)?;
        if url == self.url {
            Ok(())
        } else {
            Err(SetupError(format!(
                "PostgreSQL came back on another port: {url} instead of {}",
                self.url
            )))
        }
    }

    /// Its superuser URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its data folder, whose `postmaster.pid` names the server process.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Creates database `name` and returns its superuser URL.
    pub async fn create_database(&self, name: &str) -> Result<String, SetupError> {
        try_admin_execute_on(&self.url, &format!("CREATE DATABASE \"{name}\"")).await?;
        Ok(with_database(&self.url, name))
    }
}

/// Runs `scripts/pg start --dir DIR` (creating the cluster with initdb the
/// first time; on the port it used last after that) and answers its URL.
fn start_in(dir: &Path) -> Result<String, SetupError> {
    let script = crate::repository().join("scripts/pg");
    let output = Command::new(&script)
        .args(["start", "--dir"])
        .arg(dir)
        .output()
        .map_err(|e| SetupError(format!("cannot run {}: {e}", script.display())))?;
    if !output.status.success() {
        return Err(SetupError(format!(
            "scripts/pg start failed (is PostgreSQL installed? apt-get install \
             postgresql): {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let url = String::from_utf8(output.stdout)
        .map_err(|e| SetupError(format!("scripts/pg printed no UTF-8 URL: {e}")))?;
    Ok(url.trim().to_owned())
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new(crate::repository().join("scripts/pg"))
            .args(["stop", "--dir"])
            .arg(&self.dir)
            .status();
    }
}

/// `url` naming database `name` instead (keeping any `?options`).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// `url` connecting as `user`, without a password (the test server trusts
/// local connections).
pub fn with_user(url: &str, user: &str) -> String {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority..];
    let host = rest.find('@').map_or(rest, |at| &rest[at + 1..]);
    format!("{}{user}@{host}", &url[..authority])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_another_database_keeping_its_options() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres?sslmode=disable", "t_1"),
            "postgres://u@h:5/t_1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5", "t_1"),
            "postgres://u@h:5/t_1"
        );
    }

    #[test]
    fn a_url_connects_as_another_user_without_a_password() {
        assert_eq!(
            with_user("postgres://admin:secret@h:5/db", "r_1"),
            "postgres://r_1@h:5/db"
        );
    }
}
