//! `kirjuri import PATH…` (docs/requirements.md ING-2): batch intake of what
//! PBXs spool. The binary shows progress and prints the [`Report`]; the
//! planning and the intake are here, and know nothing of HTTP.
//!
//! Accepts WAV files with a JSON sidecar (`call.wav` + `call.json`, the same
//! contact JSON as the API), lone JSON files (contacts without a recording),
//! and Asterisk CDR CSV files (`cdr`), each row's recording found as
//! `<uniqueid>.wav` beside the CSV. Folders are searched recursively. Each
//! item is imported on its own: one bad file is reported and the rest go on;
//! re-running the same import changes nothing (external ids and recording
//! hashes make it idempotent). Error messages name the file, never its
//! personal contents.

mod cdr;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use kirjuri_core::contact::ContactInput;
use tokio_util::io::ReaderStream;

use crate::Kirjuri;
use crate::intake::Created;

pub use cdr::CdrError;

/// Why the import, or one file or item of it, failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Start-up recovery failed: nothing was imported.
    #[error("start-up recovery failed")]
    Recovery(#[source] crate::Error),
    /// A path could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A folder could not be listed.
    #[error("cannot list {}", path.display())]
    List {
        /// The folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be opened.
    #[error("cannot open {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A CSV file could not be opened.
    #[error("cannot open {}", path.display())]
    OpenCsv {
        /// The file.
        path: PathBuf,
        /// The CSV reader's error.
        #[source]
        source: csv::Error,
    },
    /// Not a kind of file the import reads.
    #[error("not a .wav, .json or .csv file; skipped")]
    UnknownKind,
    /// A WAV file with neither a sidecar nor a CDR row.
    #[error("no JSON sidecar with the same base name (and no CDR CSV beside it)")]
    OrphanWav,
    /// A CDR row that could not be understood.
    #[error(transparent)]
    Cdr(#[from] CdrError),
    /// A sidecar too large to be a contact.
    #[error("the sidecar is larger than 1 MiB")]
    SidecarTooLarge,
    /// A sidecar that is not a contact.
    #[error("sidecar")]
    Sidecar(#[source] kirjuri_core::Error),
    /// A recording over the configured limit.
    #[error("the recording is larger than the limit of {limit} bytes")]
    RecordingTooLarge {
        /// `max_recording_bytes`.
        limit: u64,
    },
    /// A recording that is not an acceptable WAV file.
    #[error(transparent)]
    Wav(#[from] kirjuri_core::wav::WavError),
    /// Intake refused or failed.
    #[error(transparent)]
    Intake(#[from] crate::Error),
}

/// One thing to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A recording with its sidecar.
    Wav {
        /// The recording.
        wav: PathBuf,
        /// Its contact.
        sidecar: PathBuf,
    },
    /// A contact without a recording.
    Json(PathBuf),
    /// A WAV file whose sidecar is missing.
    OrphanWav(PathBuf),
    /// One CDR row.
    Cdr {
        /// The CSV file.
        csv: PathBuf,
        /// The row's line.
        line: u64,
        /// The row as a contact.
        contact: Box<ContactInput>,
        /// Its recording, when one lies beside the CSV.
        wav: Option<PathBuf>,
    },
    /// A CDR row that could not be understood.
    BadCdr {
        /// The CSV file.
        csv: PathBuf,
        /// The row's line.
        line: u64,
        /// Why.
        error: CdrError,
    },
}

impl Item {
    /// The file (and line) the item came from, for messages.
    pub fn label(&self) -> String {
        match self {
            Item::Wav { wav, .. } | Item::OrphanWav(wav) => wav.display().to_string(),
            Item::Json(path) => path.display().to_string(),
            Item::Cdr { csv, line, .. } | Item::BadCdr { csv, line, .. } => {
                format!("{}:{line}", csv.display())
            }
        }
    }
}

/// One thing that went wrong: the file or item it concerns, and why.
#[derive(Debug)]
pub struct Problem {
    /// The file or item, when the error does not name it itself.
    pub label: Option<String>,
    /// Why.
    pub error: Error,
}

impl fmt::Display for Problem {
    /// `label: error: cause: …`, the whole chain on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(label) = &self.label {
            write!(f, "{label}: ")?;
        }
        write!(f, "{}", self.error)?;
        let mut cause = std::error::Error::source(&self.error);
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// What the import is doing, for the caller's progress display.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// The files are grouped into `items` items.
    Planned {
        /// Items to import.
        items: usize,
    },
    /// One more item was imported, or failed.
    ItemDone,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Report {
    /// Items found.
    pub items: usize,
    /// Contacts created.
    pub contacts_new: usize,
    /// Contacts that were there already.
    pub contacts_existing: usize,
    /// Recordings stored.
    pub recordings_new: usize,
    /// Recordings that were there already.
    pub recordings_existing: usize,
    /// Files skipped and items failed, in the order met.
    pub problems: Vec<Problem>,
}

/// Imports `paths` (files or folders) after start-up recovery; `progress`
/// hears each [`Step`]. An `Err` means nothing was imported; a failed file
/// or item is a [`Problem`] in the report, and the rest go on.
pub async fn run(
    app: &Kirjuri,
    paths: &[PathBuf],
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<Report, Error> {
    app.recover().await.map_err(Error::Recovery)?;
    let (items, problems) = plan(paths);
    progress(Step::Planned { items: items.len() });
    let mut report = Report {
        items: items.len(),
        problems,
        ..Report::default()
    };
    for item in &items {
        if let Err(error) = import_item(app, item, &mut report).await {
            report.problems.push(Problem {
                label: Some(item.label()),
                error,
            });
        }
        progress(Step::ItemDone);
    }
    Ok(report)
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn collect_files(path: &Path, files: &mut BTreeSet<PathBuf>) -> Result<(), Error> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    if meta.is_dir() {
        let list = |source| Error::List {
            path: path.to_owned(),
            source,
        };
        for entry in std::fs::read_dir(path).map_err(list)? {
            let entry = entry.map_err(list)?;
            collect_files(&entry.path(), files)?;
        }
    } else {
        files.insert(path.to_path_buf());
    }
    Ok(())
}

/// Groups files into items: WAVs with their sidecars, lone JSONs, CSV rows.
fn plan(paths: &[PathBuf]) -> (Vec<Item>, Vec<Problem>) {
    let mut files = BTreeSet::new();
    let mut problems = Vec::new();
    for path in paths {
        if let Err(error) = collect_files(path, &mut files) {
            problems.push(Problem { label: None, error });
        }
    }
    // CDR rows first: they say which WAVs without a sidecar are theirs.
    let mut items = Vec::new();
    let mut used = BTreeSet::new();
    for file in files.iter().filter(|f| has_extension(f, "csv")) {
        match cdr::cdr_items(file) {
            Ok(rows) => {
                for row in &rows {
                    if let Item::Cdr { wav: Some(wav), .. } = row {
                        used.insert(wav.clone());
                    }
                }
                items.extend(rows);
            }
            Err(error) => problems.push(Problem {
                label: Some(file.display().to_string()),
                error,
            }),
        }
    }
    for file in &files {
        if has_extension(file, "wav") {
            let sidecar = file.with_extension("json");
            if files.contains(&sidecar) || sidecar.is_file() {
                used.insert(sidecar.clone());
                items.push(Item::Wav {
                    wav: file.clone(),
                    sidecar,
                });
            } else if !used.contains(file) {
                items.push(Item::OrphanWav(file.clone()));
            }
        }
    }
    for file in &files {
        if has_extension(file, "json") && !used.contains(file) {
            items.push(Item::Json(file.clone()));
        } else if !["json", "wav", "csv"]
            .iter()
            .any(|ext| has_extension(file, ext))
        {
            problems.push(Problem {
                label: Some(file.display().to_string()),
                error: Error::UnknownKind,
            });
        }
    }
    (items, problems)
}

/// Imports one item, counting what it created in `report`.
async fn import_item(app: &Kirjuri, item: &Item, report: &mut Report) -> Result<(), Error> {
    let (contact, wav) = match item {
        Item::Wav { wav, sidecar } => (read_sidecar(sidecar).await?, Some(wav.clone())),
        Item::Json(path) => (read_sidecar(path).await?, None),
        Item::Cdr { contact, wav, .. } => ((**contact).clone(), wav.clone()),
        Item::OrphanWav(_) => return Err(Error::OrphanWav),
        Item::BadCdr { error, .. } => return Err(error.clone().into()),
    };
    if let Some(wav) = &wav {
        // Validate the recording before creating its contact, so a bad file
        // leaves no contact behind either.
        precheck_wav(wav, app.config.max_recording_bytes).await?;
    }
    let (id, created) = app.create_contact(None, contact).await?;
    match created {
        Created::New => report.contacts_new += 1,
        Created::Existing => report.contacts_existing += 1,
    }
    if let Some(wav) = wav {
        let file = tokio::fs::File::open(&wav)
            .await
            .map_err(|source| Error::Open { path: wav, source })?;
        let stream =
            ReaderStream::with_capacity(file, 1 << 20).map(|r| r.map_err(|e| e.to_string()));
        let (_, created) = app
            .store_recording(None, id, stream, app.config.max_recording_bytes)
            .await?;
        match created {
            Created::New => report.recordings_new += 1,
            Created::Existing => report.recordings_existing += 1,
        }
    }
    Ok(())
}

async fn read_sidecar(path: &Path) -> Result<ContactInput, Error> {
    let read = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let meta = tokio::fs::metadata(path).await.map_err(read)?;
    if meta.len() > 1 << 20 {
        return Err(Error::SidecarTooLarge);
    }
    let bytes = tokio::fs::read(path).await.map_err(read)?;
    ContactInput::from_json(&bytes).map_err(Error::Sidecar)
}

async fn precheck_wav(path: &Path, limit: u64) -> Result<(), Error> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
    if file.metadata().await.map(|m| m.len()).unwrap_or(0) > limit {
        return Err(Error::RecordingTooLarge { limit });
    }
    let mut validator = kirjuri_core::wav::WavValidator::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).await.map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        if n == 0 {
            break;
        }
        validator.feed(buffer.get(..n).unwrap_or_default())?;
    }
    validator.finish()?;
    Ok(())
}
