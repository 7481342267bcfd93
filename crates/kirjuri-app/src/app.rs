//! The assembled application: store, keyring, object storage and clock, opened
//! from a data folder and the configuration. Every command (`serve`,
//! `import`, `user add`, …) opens one of these; several may run on the same
//! folder at once, and several nodes may share one database and bucket.
//!
//! **Backends.** [`Kirjuri::open`] picks them from the configuration: no
//! `[database] url` → SQLite in the data folder, a `postgres://` URL →
//! PostgreSQL; `[objects] backend` → the local folder or S3. Before it
//! connects to anything it refuses storage declared outside the EU/EEA
//! (DIS-1), naming the setting.
//!
//! **Data folder.** Owner-only: created 0700, and an existing one with
//! group or world access is tightened to 0700 (or, when this process may
//! not change it, the start is refused naming the `chmod` to run) —
//! [`owner_only_folder`]. The database files are 0600 (the store), the key
//! file 0600 (the vault), object, ledger, backup and instance folders 0700.
//!
//! **Liveness.** A process that dies mid-upload leaves a pending-object row
//! and perhaps a temporary or finished object; those are removed once no
//! live process owns them. On one machine liveness is an exclusive lock on
//! `instances/<id>.lock` that the OS releases when a process dies — exact and
//! instant. Nodes sharing a database cannot see each other's lock files, so
//! with a database URL every process also heartbeats into the database
//! (a task owned by the app) and an instance with no lock file here is dead
//! once its last heartbeat is older than `cluster.instance_ttl_seconds`.
//!
//! **Recovery** ([`Kirjuri::recover`]) runs at start-up, and in `serve`
//! periodically ([`Kirjuri::start_recovery`]) on one node at a time under the
//! `recover` lease, so a survivor cleans up after a node that was killed.
//! It never deletes bytes an acknowledged object needs: it removes the
//! pending row first (after which the writer's commit fails) and deletes the
//! bytes only if the object did not commit before that.
//!
//! **Leases** ([`JobLease`]): background jobs that must run once across
//! nodes (recovery, checkpoint signing, the purge) take a lease in the
//! database for a bounded term and renew it while they work; a holder that
//! dies loses it when the term ends.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kirjuri_core::clock::Clock;
use kirjuri_core::ids::ObjectId;
use kirjuri_core::location::{LocationError, check_storage_location};
use kirjuri_store::{PostgresStore, SqliteStore, Store};
use kirjuri_vault::{Keyring, LocalFolder, ObjectStore, S3Credentials, S3Store};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{LoginThrottle, PasswordWork};
use crate::config::{Config, DatabaseUrl, ObjectBackend};
use crate::error::{Error, Result};

/// A running process's claim on the data folder (and, with a shared
/// database, its heartbeat there).
#[derive(Debug)]
pub struct Instance {
    /// Random id written into pending-object rows this process creates.
    pub id: String,
    /// Held open with an exclusive lock for the life of the process.
    _lock: File,
    /// Heartbeats into the shared database while the app lives; `None` with
    /// the embedded database, where the lock file is the whole story.
    heartbeat: Option<Background>,
    /// The pending objects this process is writing right now. A pending row
    /// of this instance that is not here is one whose upload ended without
    /// cleaning up after itself (the database or the object store was down
    /// when it tried): [`Kirjuri::recover_own_leftovers`] removes it while
    /// the process lives, rather than only after its next start.
    uploads: Mutex<HashSet<ObjectId>>,
}

/// Marks pending objects as being written by this process until dropped
/// ([`Instance::track_uploads`]).
#[derive(Debug)]
pub(crate) struct UploadsInFlight {
    instance: Arc<Instance>,
    ids: Vec<ObjectId>,
}

impl Drop for UploadsInFlight {
    fn drop(&mut self) {
        let mut uploads = self.instance.uploads();
        for id in &self.ids {
            uploads.remove(id);
        }
    }
}

/// What this node can see of another process's lock file.
enum LocalLock {
    /// A live process on this machine holds it.
    Held,
    /// The file is there and nobody holds it: its process died (the file is
    /// removed).
    Free,
    /// No such file here: the process ran elsewhere, or is long gone.
    Absent,
}

/// A process's lock file in a data folder's `instances/`, as
/// [`scan_local_instances`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalInstance {
    /// The instance id (the file's name without `.lock`).
    pub id: String,
    /// The lock file.
    pub path: std::path::PathBuf,
    /// Whether a live process holds it. Opening and trying the lock is the
    /// only test of liveness the OS gives; the test's own lock is dropped
    /// at once.
    pub live: bool,
}

/// Every lock file in `dir` (a data folder's `instances/`) and whether its
/// process lives: the one scan behind "is this data folder in use" (restore,
/// migrate-store) and "which processes here died" (the purge's lease). A
/// missing folder holds none.
pub fn scan_local_instances(dir: &Path) -> std::io::Result<Vec<LocalInstance>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".lock"))
            .map(str::to_owned)
        else {
            continue;
        };
        // A file that vanished or cannot be opened belongs to no one now.
        let Ok(file) = OpenOptions::new().write(true).open(&path) else {
            continue;
        };
        let live = file.try_lock().is_err();
        found.push(LocalInstance { id, path, live });
    }
    Ok(found)
}

impl Instance {
    fn claim(dir: &Path) -> Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io(format!("failed to create {}", dir.display()), e))?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = dir.join(format!("{id}.lock"));
        let lock = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("failed to create {}", path.display()), e))?;
        lock.try_lock()
            .map_err(|e| Error::io(format!("failed to lock {}", path.display()), e.into()))?;
        Ok(Self {
            id,
            _lock: lock,
            heartbeat: None,
            uploads: Mutex::new(HashSet::new()),
        })
    }

    /// The set of uploads in flight; a panic while it was held left nothing
    /// half-changed (inserts and removes are single steps).
    fn uploads(&self) -> std::sync::MutexGuard<'_, HashSet<ObjectId>> {
        self.uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks `ids` as written by this process until the guard drops. Call
    /// it before their pending rows are inserted and keep the guard until
    /// they are committed or discarded.
    pub(crate) fn track_uploads(self: &Arc<Self>, ids: &[ObjectId]) -> UploadsInFlight {
        self.uploads().extend(ids.iter().copied());
        UploadsInFlight {
            instance: Arc::clone(self),
            ids: ids.to_vec(),
        }
    }

    /// Whether this process is writing `id` right now.
    fn is_uploading(&self, id: &ObjectId) -> bool {
        self.uploads().contains(id)
    }

    /// The state of `id`'s lock file in this data folder. A lock file nobody
    /// holds is removed.
    fn local_lock(dir: &Path, id: &str) -> LocalLock {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return LocalLock::Absent;
        }
        let path = dir.join(format!("{id}.lock"));
        match OpenOptions::new().write(true).open(&path) {
            Err(_) => LocalLock::Absent,
            Ok(file) => match file.try_lock() {
                Ok(()) => {
                    let _ = std::fs::remove_file(&path);
                    LocalLock::Free
                }
                Err(_) => LocalLock::Held,
            },
        }
    }

    /// Registers the instance in the shared database now (so it is known
    /// before its first pending row) and keeps its heartbeat going every
    /// `every` until the app is dropped or closed.
    async fn start_heartbeat(
        &mut self,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        every: Duration,
    ) -> Result<()> {
        store.heartbeat(&self.id, clock.now()).await?;
        let id = self.id.clone();
        self.heartbeat = Some(Background::spawn(move |stop| async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
                if let Err(e) = store.heartbeat(&id, clock.now()).await {
                    // Logged and retried: a missed beat or two is what the
                    // TTL's slack is for.
                    tracing::warn!(error = ?e, "instance heartbeat failed");
                }
            }
            // A clean stop: nothing of ours is pending any more, so survivors
            // need not wait out the TTL.
            if let Err(e) = store.remove_instance(&id).await {
                tracing::warn!(error = ?e, "failed to unregister the instance");
            }
        }));
        Ok(())
    }
}

/// A background task owned by the app: [`Background::stop`] asks it to
/// finish and waits; dropping the handle aborts it, so no task outlives
/// what owns it.
#[derive(Debug)]
pub struct Background {
    /// Cancelled to ask the task to finish.
    stop: CancellationToken,
    /// The task; taken by `stop`.
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Background {
    /// Spawns `job`, handing it the token it must watch to stop.
    pub fn spawn<F, Fut>(job: F) -> Background
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let task = tokio::spawn(job(stop.clone()));
        Background {
            stop,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// Asks the task to finish and waits for it (once; later calls return
    /// at once). A caller that stops waiting (a shutdown deadline dropping
    /// this future) aborts the task, so it never runs on unowned.
    pub async fn stop(&self) {
        self.stop.cancel();
        let task = match self.task.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            let mut task = AbortOnDrop(task);
            if let Err(e) = (&mut task.0).await
                && !e.is_cancelled()
            {
                tracing::error!(error = %e, "a background task failed");
            }
        }
    }
}

/// A task handle that aborts its task when dropped (a finished task is not
/// affected).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let task = match self.task.get_mut() {
            Ok(task) => task.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            task.abort();
        }
    }
}

/// A lease on a background job in the database, so that of all the nodes
/// (and processes) sharing it, one runs the job at a time. The holder is
/// this process's instance id; the lease lasts `term` from each
/// [`JobLease::acquire`], which also renews it, so a holder that keeps
/// working keeps it and one that dies loses it when the term runs out.
#[derive(Debug, Clone)]
pub struct JobLease {
    /// Where the lease is kept.
    store: Arc<dyn Store>,
    /// "Now", for the lease's term.
    clock: Arc<dyn Clock>,
    /// The job's name (`recover`, `audit-checkpoint`, `purge`).
    job: &'static str,
    /// This process's instance id.
    holder: String,
    /// How long one acquisition lasts.
    term: chrono::Duration,
}

impl JobLease {
    /// The lease on `job` for `app`'s instance, `term` long per acquisition.
    pub fn new(app: &Kirjuri, job: &'static str, term: Duration) -> JobLease {
        JobLease {
            store: Arc::clone(&app.store),
            clock: Arc::clone(&app.clock),
            job,
            holder: app.instance.id.clone(),
            term: chrono::Duration::from_std(term).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// Takes the lease, or renews it if this process holds it; `false` when
    /// another holder's term has not run out.
    pub async fn acquire(&self) -> Result<bool> {
        let now = self.clock.now();
        let until = now.checked_add_signed(self.term).unwrap_or(now);
        Ok(self
            .store
            .try_lease(self.job, &self.holder, now, until)
            .await?)
    }

    /// Gives the lease up (nothing if this process does not hold it).
    pub async fn release(&self) -> Result<()> {
        Ok(self.store.release_lease(self.job, &self.holder).await?)
    }

    /// Frees the lease if `holder` — another process known to be dead —
    /// holds it (nothing otherwise).
    pub async fn release_for_dead(&self, holder: &str) -> Result<()> {
        Ok(self.store.release_lease(self.job, holder).await?)
    }
}

/// What start-up recovery cleaned up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// Uploads abandoned by a dead process.
    pub abandoned_uploads: usize,
    /// Object files with no row at all.
    pub orphaned_objects: usize,
}

/// The application, shared by every request handler and command.
#[derive(Debug, Clone)]
pub struct Kirjuri {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Key-encryption keys and the blind-index key.
    pub keyring: Arc<Keyring>,
    /// Where encrypted objects live.
    pub objects: Arc<dyn ObjectStore>,
    /// The only source of "now".
    pub clock: Arc<dyn Clock>,
    /// The configuration it was opened with.
    pub config: Arc<Config>,
    /// This process's liveness claim.
    pub instance: Arc<Instance>,
    /// Failed sign-ins per client address (in memory, per process).
    pub login_throttle: Arc<LoginThrottle>,
    /// The public request form's per-address allowance (every post takes
    /// one, refused or not), in memory, per process.
    pub public_request_throttle: Arc<LoginThrottle>,
    /// The public download pages' per-address allowance (every post takes
    /// one), as the form's but in a bucket of its own.
    pub public_download_throttle: Arc<LoginThrottle>,
    /// The public contact form's per-address allowance (every post takes
    /// one), in a bucket of its own (`[forms] public_per_address`).
    pub public_form_throttle: Arc<LoginThrottle>,
    /// The address `serve` listens on (`http://127.0.0.1:8080`), set once
    /// it is bound: what links in letters start with when `[requests]
    /// public_base_url` is not set.
    pub served_url: Arc<std::sync::OnceLock<String>>,
    /// Where Argon2 runs: a bounded pool, shared by every request.
    pub passwords: Arc<PasswordWork>,
    /// A strong electronic identification service, if the deployment
    /// plugs one in ([`Kirjuri::with_strong_identification`]).
    pub strong_identification: Option<Arc<dyn crate::requests::StrongIdentification>>,
    /// What `/metrics` shows: this process's counters, shared by clones.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Intake's writes of concurrent uploads, sharing their commits
    /// (`group_commit`).
    pub group: Arc<crate::group_commit::GroupCommit>,
}

impl Kirjuri {
    /// Opens (creating on first use) the data folder named in `config`, and
    /// the database and object storage it names. Refuses storage declared
    /// outside the EU/EEA before connecting to it.
    pub async fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Self> {
        config.check()?;
        owner_only_folder(&config.data)?;
        let keyring = Keyring::open_or_create(&config.key_file())?;
        let store = open_store(&config).await?;
        let objects = open_objects(&config).await?;
        let mut instance = Instance::claim(&config.instances_dir())?;
        if config.database.url.is_some() {
            instance
                .start_heartbeat(
                    Arc::clone(&store),
                    Arc::clone(&clock),
                    Duration::from_secs(config.cluster.heartbeat_seconds.max(1)),
                )
                .await?;
        }
        let login_throttle = Arc::new(LoginThrottle::new(
            config.login_ip_max_failures,
            config.login_ip_window_seconds,
        ));
        let public_request_throttle = Arc::new(LoginThrottle::new(
            config.requests.public_per_address,
            config.requests.public_window_seconds,
        ));
        let public_download_throttle = Arc::new(LoginThrottle::new(
            config.requests.public_per_address,
            config.requests.public_window_seconds,
        ));
        let public_form_throttle = Arc::new(LoginThrottle::new(
            config.forms.public_per_address,
            config.forms.public_window_seconds,
        ));
        let metrics = Arc::new(crate::metrics::Metrics::new(clock.now()));
        Ok(Self {
            group: crate::group_commit::GroupCommit::new(store.clone()),
            store,
            keyring: Arc::new(keyring),
            objects,
            clock,
            config: Arc::new(config),
            instance: Arc::new(instance),
            login_throttle,
            public_request_throttle,
            public_download_throttle,
            public_form_throttle,
            served_url: Arc::new(std::sync::OnceLock::new()),
            passwords: Arc::new(PasswordWork::for_this_machine()?),
            strong_identification: None,
            metrics,
        })
    }

    /// Whether the database is shared with other machines (a URL is set), so
    /// liveness needs heartbeats as well as lock files.
    fn shared_database(&self) -> bool {
        self.config.database.url.is_some()
    }

    /// Stops the heartbeat and unregisters this process from the shared
    /// database, so survivors need not wait out the TTL. Call once nothing
    /// of this process is in flight any more (after `serve` has drained).
    pub async fn close(&self) {
        if let Some(heartbeat) = &self.instance.heartbeat {
            heartbeat.stop().await;
        }
    }

    /// Whether the process that wrote pending rows as `id` is gone: its lock
    /// file here is free (exact), or — with a shared database and no lock
    /// file here — its last heartbeat is older than the TTL or it has none.
    async fn is_dead(&self, id: &str) -> Result<bool> {
        if id == self.instance.id {
            return Ok(false);
        }
        match Instance::local_lock(&self.config.instances_dir(), id) {
            LocalLock::Held => Ok(false),
            LocalLock::Free => Ok(true),
            LocalLock::Absent if !self.shared_database() => Ok(true),
            LocalLock::Absent => {
                let ttl = chrono::Duration::seconds(
                    i64::try_from(self.config.cluster.instance_ttl_seconds).unwrap_or(i64::MAX),
                );
                Ok(match self.store.last_heartbeat(id).await? {
                    None => true,
                    Some(at) => self.clock.now().signed_duration_since(at) > ttl,
                })
            }
        }
    }

    /// Removes what dead processes left half-done: pending uploads (row and
    /// bytes) and object files that no row knows. Safe to run while other
    /// processes and nodes work on the same database and object storage.
    pub async fn recover(&self) -> Result<Recovery> {
        let mut recovery = self.recover_abandoned().await?;
        // List objects first, then rows: a live upload inserts its row before
        // its first byte, so any object listed here has its row by now. (An
        // S3 upload is invisible until it completes; a local one is a temp
        // file from its first byte — either way its row came first.)
        let listed = self.objects.list().await?;
        let known = self.store.known_object_ids().await?;
        for id in listed {
            if !known.contains(&id) {
                self.objects.delete(&id).await?;
                recovery.orphaned_objects += 1;
            }
        }
        log_recovery(recovery);
        Ok(recovery)
    }

    /// The part of [`Kirjuri::recover`] that is cheap enough to run every
    /// few seconds: uploads whose writer is dead. For each, the pending row
    /// goes first — from then on the writer's commit is refused — and the
    /// bytes only if the object did not commit before that, so even a
    /// writer wrongly thought dead (a stalled heartbeat) never loses an
    /// acknowledged object; it only has an upload fail.
    pub async fn recover_abandoned(&self) -> Result<Recovery> {
        let mut recovery = Recovery::default();
        let mut dead: HashMap<String, bool> = HashMap::new();
        for pending in self.store.pending_objects().await? {
            let is_dead = match dead.get(&pending.instance_id) {
                Some(known) => *known,
                None => {
                    let known = self.is_dead(&pending.instance_id).await?;
                    dead.insert(pending.instance_id.clone(), known);
                    known
                }
            };
            if !is_dead {
                continue;
            }
            self.store.abort_object(&pending.id).await?;
            let committed = self.store.object(&pending.id).await?.is_some();
            if !committed {
                self.objects.delete(&pending.id).await?;
            }
            recovery.abandoned_uploads += 1;
        }
        if self.shared_database() {
            for (id, _) in dead.iter().filter(|(_, dead)| **dead) {
                self.store.remove_instance(id).await?;
            }
        }
        Ok(recovery)
    }

    /// Removes this process's own pending uploads that are no longer in
    /// flight: an upload whose failure could not clean up after itself
    /// because the database or the object store was down at that moment
    /// (its row stays pending, its bytes may stay in object storage). No
    /// other node removes them while this one heartbeats, so each node
    /// sweeps its own. Unlike a dead writer's, nobody can commit these any
    /// more (only this process would, and it is not writing them), so the
    /// bytes go first and the row last, as a failed upload's own cleanup
    /// does: if the store is still down the row stays and the next round
    /// tries again, rather than the bytes being left with nothing to name
    /// them. A row whose object did commit only has its pending row removed.
    pub async fn recover_own_leftovers(&self) -> Result<Recovery> {
        let mut recovery = Recovery::default();
        for pending in self.store.pending_objects().await? {
            if pending.instance_id != self.instance.id || self.instance.is_uploading(&pending.id) {
                continue;
            }
            let committed = self.store.object(&pending.id).await?.is_some();
            if !committed {
                self.objects.delete(&pending.id).await?;
            }
            self.store.abort_object(&pending.id).await?;
            recovery.abandoned_uploads += 1;
        }
        Ok(recovery)
    }

    /// Starts `serve`'s periodic recovery: every
    /// `cluster.recover_interval_seconds`, every node removes its own
    /// uploads that failed without cleaning up ([`Kirjuri::recover_own_leftovers`]),
    /// and the node holding the `recover` lease cleans up uploads of dead
    /// processes (other nodes wait their turn; the lease passes on when its
    /// holder stops renewing it).
    pub fn start_recovery(&self) -> Background {
        let app = self.clone();
        let every = Duration::from_secs(self.config.cluster.recover_interval_seconds.max(1));
        Background::spawn(move |stop| async move {
            let lease = JobLease::new(&app, "recover", every);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
                match app.recover_own_leftovers().await {
                    Ok(recovery) => log_recovery(recovery),
                    // Still down: the next round tries again.
                    Err(e) => {
                        tracing::warn!(error = ?e, "removing failed uploads' leftovers failed")
                    }
                }
                match lease.acquire().await {
                    Ok(true) => match app.recover_abandoned().await {
                        Ok(recovery) => log_recovery(recovery),
                        Err(e) => tracing::error!(error = ?e, "periodic recovery failed"),
                    },
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = ?e, "failed to take the recovery lease"),
                }
            }
            if let Err(e) = lease.release().await {
                tracing::warn!(error = ?e, "failed to release the recovery lease");
            }
        })
    }
}

fn log_recovery(recovery: Recovery) {
    if recovery != Recovery::default() {
        tracing::warn!(
            abandoned_uploads = recovery.abandoned_uploads,
            orphaned_objects = recovery.orphaned_objects,
            "recovered from an interrupted run"
        );
    }
}

/// Refuses a configuration whose heartbeat could not tell a slow node from
/// a dead one.
impl Config {
    /// Every check of the configuration that needs nothing but the
    /// configuration itself (no disk, no network): storage locations, the
    /// cluster's needs and each section's own rules. [`Kirjuri::open`]
    /// runs it first; `kirjuri doctor` and the configuration fuzz target
    /// run it too.
    pub fn check(&self) -> Result<()> {
        check_locations(self)?;
        validate_settings(self)
    }
}

fn check_cluster(config: &Config) -> Result<()> {
    let cluster = &config.cluster;
    if config.database.url.is_some()
        && cluster.instance_ttl_seconds < 2 * cluster.heartbeat_seconds.max(1)
    {
        return Err(Error::config(
            "cluster.instance_ttl_seconds",
            format!(
                "({}) must be at least twice cluster.heartbeat_seconds ({}), or a live node \
                 could be taken for dead",
                cluster.instance_ttl_seconds, cluster.heartbeat_seconds
            ),
        ));
    }
    Ok(())
}

/// DIS-1: every storage location off this machine must declare its country,
/// and it must be in the EU/EEA (on AWS: an EU region in that country). The
/// error names the setting to fix and the value's problem; a URL is never
/// quoted.
/// Every setting's own check, beyond what parsing the configuration
/// checks (`Kirjuri::open` and `kirjuri doctor` run the same).
/// The settings' own rules (the cluster's needs and each section's
/// checks); `kirjuri doctor` reports them apart from the locations.
pub(crate) fn validate_settings(config: &Config) -> Result<()> {
    check_cluster(config)?;
    config.requests.validate()?;
    config.outbox.validate()?;
    config.register.validate()?;
    config.webhooks.validate()?;
    config.email.validate(config.lmtp_listen.is_some())?;
    config.forms.validate()?;
    config.attachments.validate()?;
    config.statistics.validate()?;
    config.surveys.validate()?;
    Ok(())
}

pub(crate) fn check_locations(config: &Config) -> Result<()> {
    if config.database.url.is_some() {
        let Some(country) = &config.database.country else {
            return Err(refused_location(
                "database.country",
                "is required with database.url: declare the ISO 3166-1 country code \
                 (e.g. \"FI\") where the database server runs",
            ));
        };
        check_storage_location(country, None)
            .map_err(|e| refused_location("database.country", &format!("is refused: {e}")))?;
    }
    let objects = &config.objects;
    match objects.backend {
        ObjectBackend::Local => {
            if let Some(country) = &objects.country {
                check_storage_location(country, None).map_err(|e| {
                    refused_location("objects.country", &format!("is refused: {e}"))
                })?;
            }
        }
        ObjectBackend::S3 => {
            let Some(s3) = &objects.s3 else {
                return Err(refused_location(
                    "objects.s3",
                    "is required with backend = \"s3\": name the endpoint, region, bucket \
                     and country of the bucket",
                ));
            };
            if objects.country.is_some() {
                return Err(refused_location(
                    "objects.country",
                    "is for the local backend; with backend = \"s3\" declare the bucket's \
                     country as objects.s3.country",
                ));
            }
            s3.check_location().map_err(|e| {
                let setting = match e {
                    LocationError::NonEuAwsRegion { .. } => "objects.s3.region",
                    _ => "objects.s3.country",
                };
                refused_location(setting, &format!("is refused: {e}"))
            })?;
        }
    }
    Ok(())
}

/// "refusing to start: SETTING PROBLEM"; `problem` is a phrase ("is
/// required …", or "is refused: " and the location rule's own message).
/// A configuration refusal, not a failure: the operator fixes the setting.
fn refused_location(setting: &'static str, problem: &str) -> Error {
    Error::config(setting, problem)
}

/// The database `config` names: SQLite in the data folder, or PostgreSQL
/// (migrated on connect unless `database.migrate = false`, where the
/// schema's owner migrates and the nodes connect as a role that cannot
/// rewrite the audit log).
/// Creates the data folder owner-only (0700), or checks an existing one.
/// The folder holds the database (password hashes, the audit log, contact
/// metadata), so no other local user may list or open anything in it. A
/// folder with group or world access — made by an older version, or by a
/// `mkdir`/`tempdir` under umask 022 before the first start — is tightened
/// to 0700 when this process may change it (it owns it); otherwise the
/// start is refused with the command to run, as for a loose key file.
pub fn owner_only_folder(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("failed to create data folder {}", dir.display()), e))?;
    let metadata = std::fs::metadata(dir)
        .map_err(|e| Error::io(format!("failed to stat data folder {}", dir.display()), e))?;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
        Ok(()) => {
            tracing::warn!(
                folder = %dir.display(),
                was = format!("{mode:o}"),
                "the data folder was open to other local users; it is now owner-only (0700)"
            );
            Ok(())
        }
        Err(e) => Err(Error::io(
            format!(
                "data folder {} has mode {mode:o}: other local users can reach the database; \
                 it must be owner-only (fix with: chmod 700 {}) — it could not be changed here",
                dir.display(),
                dir.display()
            ),
            e,
        )),
    }
}

pub(crate) async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let database = &config.database;
    let Some(url) = &database.url else {
        return Ok(Arc::new(SqliteStore::open(&config.database_file()).await?));
    };
    if !url.is_postgres() {
        // Never quote the URL: it may hold a password.
        return Err(Error::config(
            "database.url",
            "must be a postgres:// URL (leave it out for the embedded SQLite database)",
        ));
    }
    let url = match &database.password_file {
        None => zeroize::Zeroizing::new(url.expose().to_owned()),
        Some(path) => with_password(url.expose(), &read_password(path)?),
    };
    let store = if database.migrate {
        PostgresStore::open(&url).await
    } else {
        PostgresStore::connect(&url).await
    }
    .map_err(|source| Error::StoreOpen {
        url: config
            .database
            .url
            .as_ref()
            .map_or_else(String::new, DatabaseUrl::redacted),
        source,
    })?;
    Ok(Arc::new(store))
}

/// The database password from `path`, without a trailing newline.
fn read_password(path: &Path) -> Result<zeroize::Zeroizing<String>> {
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::Config {
            setting: "database.password_file",
            problem: format!("({}) cannot be read", path.display()),
            source: Some(Box::new(e)),
        })?);
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(Error::config(
            "database.password_file",
            format!("({}) is empty", path.display()),
        ));
    }
    Ok(zeroize::Zeroizing::new(password.to_owned()))
}

/// `url` with `password` as its `password` query parameter (which the
/// driver applies after the URL's own user info, so it wins).
fn with_password(url: &str, password: &str) -> zeroize::Zeroizing<String> {
    let mut out = zeroize::Zeroizing::new(String::with_capacity(url.len() + password.len() * 3));
    let (base, fragment) = url
        .split_once('#')
        .map_or((url, None), |(b, f)| (b, Some(f)));
    out.push_str(base);
    out.push(if base.contains('?') { '&' } else { '?' });
    out.push_str("password=");
    for byte in password.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// The object storage `config` names: the data folder, or an S3 bucket
/// (probed once, so a wrong endpoint, bucket or key fails here and not at
/// the first upload).
async fn open_objects(config: &Config) -> Result<Arc<dyn ObjectStore>> {
    match (&config.objects.backend, &config.objects.s3) {
        (ObjectBackend::Local, _) => Ok(Arc::new(LocalFolder::open(&config.objects_dir())?)),
        (ObjectBackend::S3, None) => Err(refused_location(
            "objects.s3",
            "is required with backend = \"s3\"",
        )),
        (ObjectBackend::S3, Some(s3)) => {
            let credentials = S3Credentials::load(s3)?;
            let store = S3Store::open(s3, credentials)?;
            store.probe().await?;
            Ok(Arc::new(store))
        }
    }
}

#[cfg(test)]
mod tests {
    use kirjuri_core::clock::SystemClock;
    use kirjuri_vault::S3Config;

    use super::*;
    use crate::config::DatabaseUrl;

    const SECRET: &str = "hunter2-s3cr3t";

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_data_folder_is_owner_only_and_a_loose_one_we_own_is_tightened() {
        let parent = tempfile::tempdir().unwrap();
        let fresh = parent.path().join("a").join("data");
        owner_only_folder(&fresh).unwrap();
        assert_eq!(mode_of(&fresh), 0o700);

        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
        owner_only_folder(&fresh).unwrap();
        assert_eq!(mode_of(&fresh), 0o700);
    }

    #[test]
    fn a_loose_data_folder_that_cannot_be_changed_is_refused_naming_the_chmod() {
        // 0555, and nobody — not even root — may chmod it.
        let folder = Path::new("/proc/self");
        assert_ne!(mode_of(folder) & 0o077, 0);

        let error = owner_only_folder(folder).unwrap_err().to_string();

        assert!(error.contains("chmod 700 /proc/self"), "{error}");
    }

    fn with_database(country: Option<&str>) -> Config {
        let mut config = Config::default();
        config.database.url = Some(DatabaseUrl::new(format!(
            "postgres://kirjuri:{SECRET}@db.example.fi:5432/kirjuri"
        )));
        config.database.country = country.map(str::to_owned);
        config
    }

    fn with_bucket(endpoint: Option<&str>, region: &str, country: &str) -> Config {
        let mut config = Config::default();
        config.objects.backend = ObjectBackend::S3;
        config.objects.s3 = Some(S3Config {
            endpoint: endpoint.map(str::to_owned),
            region: region.to_owned(),
            bucket: "kirjuri".to_owned(),
            prefix: None,
            allow_http: false,
            country: country.to_owned(),
            credentials_file: None,
        });
        config
    }

    fn refusal(config: &Config) -> String {
        match check_locations(config) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("the configuration was accepted"),
        }
    }

    #[test]
    fn a_database_outside_the_eea_is_refused_naming_the_setting_and_never_the_password() {
        for country in ["US", "GB", "us", "CH"] {
            let message = refusal(&with_database(Some(country)));
            assert!(message.contains("database.country"), "{message}");
            assert!(message.contains("outside the EU/EEA"), "{message}");
            assert!(!message.contains(SECRET), "{message}");
        }
    }

    #[test]
    fn a_database_url_without_a_country_is_refused() {
        let message = refusal(&with_database(None));
        assert!(
            message.contains("database.country is required"),
            "{message}"
        );
        assert!(!message.contains(SECRET), "{message}");
    }

    #[test]
    fn a_database_in_finland_sweden_or_norway_is_accepted() {
        for country in ["FI", "SE", "NO", "fi"] {
            assert!(
                check_locations(&with_database(Some(country))).is_ok(),
                "{country}"
            );
        }
    }

    #[test]
    fn a_bucket_outside_the_eea_is_refused_naming_the_setting() {
        for country in ["US", "GB"] {
            let config = with_bucket(Some("https://s3.example.com"), "garage", country);
            let message = refusal(&config);
            assert!(message.contains("objects.s3.country"), "{message}");
            assert!(message.contains("outside the EU/EEA"), "{message}");
        }
    }

    #[test]
    fn aws_s3_in_a_region_outside_the_eu_is_refused_naming_the_region() {
        for endpoint in [None, Some("https://s3.us-east-1.amazonaws.com")] {
            let message = refusal(&with_bucket(endpoint, "us-east-1", "FI"));
            assert!(message.contains("objects.s3.region"), "{message}");
            assert!(message.contains("us-east-1"), "{message}");
        }
        // London is an `eu-` region but not in the EU/EEA.
        let message = refusal(&with_bucket(None, "eu-west-2", "FI"));
        assert!(message.contains("outside the EU/EEA"), "{message}");
    }

    #[test]
    fn self_hosted_buckets_in_finland_sweden_or_norway_and_aws_in_stockholm_are_accepted() {
        for country in ["FI", "SE", "NO"] {
            let config = with_bucket(Some("https://s3.example.net"), "garage", country);
            assert!(check_locations(&config).is_ok(), "{country}");
        }
        assert!(check_locations(&with_bucket(None, "eu-north-1", "SE")).is_ok());
    }

    #[test]
    fn the_s3_backend_without_its_settings_is_refused() {
        let mut config = Config::default();
        config.objects.backend = ObjectBackend::S3;
        let message = refusal(&config);
        assert!(message.contains("objects.s3 is required"), "{message}");
    }

    #[tokio::test]
    async fn open_refuses_a_database_in_the_united_states_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = with_database(Some("US"));
        config.data = dir.path().to_path_buf();
        let message = Kirjuri::open(config, Arc::new(SystemClock))
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("refusing to start: database.country"),
            "{message}"
        );
        assert!(!message.contains(SECRET), "{message}");
        // Refused before anything was created or connected.
        assert!(!dir.path().join("keys").exists());
    }

    #[test]
    fn a_database_url_never_shows_its_password_in_debug_or_redacted_form() {
        let config = with_database(Some("FI"));
        let debug = format!("{config:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        let url = config.database.url.as_ref().unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://kirjuri:***@db.example.fi:5432/kirjuri"
        );
        let with_query = DatabaseUrl::new(format!("postgres://db/k?password={SECRET}"));
        assert!(!with_query.redacted().contains(SECRET));
    }

    #[test]
    fn a_password_file_is_added_to_the_url_percent_encoded() {
        assert_eq!(
            with_password("postgres://kirjuri@db/k", "p@ss w:rd/ä").as_str(),
            "postgres://kirjuri@db/k?password=p%40ss%20w%3Ard%2F%C3%A4"
        );
        assert_eq!(
            with_password("postgres://kirjuri@db/k?sslmode=require", "x").as_str(),
            "postgres://kirjuri@db/k?sslmode=require&password=x"
        );
    }
}
