//! `kirjuri import PATH…` (docs/requirements.md ING-2): batch intake of what PBXs spool.
//!
//! Accepts WAV files with a JSON sidecar (`call.wav` + `call.json`, the same
//! contact JSON as the API), lone JSON files (contacts without a recording),
//! and Asterisk CDR CSV files (`Master.csv` as written by `cdr_csv`, with or
//! without a header row), each row's recording found as `<uniqueid>.wav` beside
//! the CSV. Folders are searched recursively. Each item is imported on its
//! own: one bad file is reported and the rest go on; re-running the same
//! import changes nothing (external ids and recording hashes make it
//! idempotent). Error messages name the file, never its personal contents.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{NaiveDateTime, TimeZone};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use kirjuri_app::Kirjuri;
use kirjuri_app::intake::Created;
use kirjuri_core::contact::{Channel, ContactInput, Customer};
use tokio_util::io::ReaderStream;

/// One thing to import.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A recording with its sidecar.
    Wav { wav: PathBuf, sidecar: PathBuf },
    /// A contact without a recording.
    Json(PathBuf),
    /// A WAV file whose sidecar is missing.
    OrphanWav(PathBuf),
    /// One CDR row.
    Cdr {
        csv: PathBuf,
        line: u64,
        contact: Box<ContactInput>,
        wav: Option<PathBuf>,
    },
    /// A CDR row that could not be understood.
    BadCdr {
        csv: PathBuf,
        line: u64,
        error: String,
    },
}

impl Item {
    fn label(&self) -> String {
        match self {
            Item::Wav { wav, .. } | Item::OrphanWav(wav) => wav.display().to_string(),
            Item::Json(path) => path.display().to_string(),
            Item::Cdr { csv, line, .. } | Item::BadCdr { csv, line, .. } => {
                format!("{}:{line}", csv.display())
            }
        }
    }
}

/// What happened to one item.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    contacts_new: usize,
    contacts_existing: usize,
    recordings_new: usize,
    recordings_existing: usize,
    failed: usize,
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn collect_files(path: &Path, files: &mut BTreeSet<PathBuf>) -> Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        let entries =
            std::fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", path.display()))?;
            collect_files(&entry.path(), files)?;
        }
    } else {
        files.insert(path.to_path_buf());
    }
    Ok(())
}

/// Groups files into items: WAVs with their sidecars, lone JSONs, CSV rows.
fn plan(paths: &[PathBuf]) -> Result<(Vec<Item>, Vec<String>)> {
    let mut files = BTreeSet::new();
    let mut problems = Vec::new();
    for path in paths {
        if let Err(e) = collect_files(path, &mut files) {
            problems.push(format!("{e:#}"));
        }
    }
    // CDR rows first: they say which WAVs without a sidecar are theirs.
    let mut items = Vec::new();
    let mut used = BTreeSet::new();
    for file in files.iter().filter(|f| has_extension(f, "csv")) {
        match cdr_items(file) {
            Ok(rows) => {
                for row in &rows {
                    if let Item::Cdr { wav: Some(wav), .. } = row {
                        used.insert(wav.clone());
                    }
                }
                items.extend(rows);
            }
            Err(e) => problems.push(format!("{}: {e:#}", file.display())),
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
            problems.push(format!(
                "{}: not a .wav, .json or .csv file; skipped",
                file.display()
            ));
        }
    }
    Ok((items, problems))
}

/// Column positions of Asterisk's `cdr_csv` Master.csv.
const CDR_COLUMNS: [&str; 18] = [
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
];

fn cdr_items(csv_path: &Path) -> Result<Vec<Item>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(csv_path)
        .with_context(|| format!("cannot open {}", csv_path.display()))?;
    let mut columns: Vec<String> = CDR_COLUMNS.iter().map(|s| (*s).to_owned()).collect();
    let dir = csv_path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut items = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let line = n as u64 + 1;
        let record = match record {
            Ok(record) => record,
            Err(_) => {
                items.push(Item::BadCdr {
                    csv: csv_path.into(),
                    line,
                    error: "not valid CSV".into(),
                });
                continue;
            }
        };
        if n == 0 && record.get(0).is_some_and(|f| f.trim() == "accountcode") {
            columns = record.iter().map(|f| f.trim().to_owned()).collect();
            continue;
        }
        let row = CdrRow {
            columns: &columns,
            record: &record,
        };
        match cdr_contact(&row) {
            Ok(contact) => {
                let uniqueid = row.field("uniqueid");
                let wav = dir.join(format!("{uniqueid}.wav"));
                let wav = (wav.is_file() && !uniqueid.contains('/')).then_some(wav);
                items.push(Item::Cdr {
                    csv: csv_path.into(),
                    line,
                    contact: Box::new(contact),
                    wav,
                });
            }
            Err(e) => items.push(Item::BadCdr {
                csv: csv_path.into(),
                line,
                error: format!("{e:#}"),
            }),
        }
    }
    Ok(items)
}

/// The peer name of an Asterisk channel: `PJSIP/aino-0000001a` → `aino`.
fn channel_peer(channel: &str) -> Option<&str> {
    let after_tech = channel.split_once('/')?.1;
    let peer = after_tech
        .rsplit_once('-')
        .map_or(after_tech, |(peer, _)| peer);
    (!peer.is_empty()).then_some(peer)
}

/// The name part of a caller id: `"Matti M" <0401234567>` → `Matti M`.
fn clid_name(clid: &str) -> Option<String> {
    let name = clid.split('<').next()?.trim().trim_matches('"').trim();
    (!name.is_empty() && !name.chars().all(|c| c.is_ascii_digit() || c == '+'))
        .then(|| name.to_owned())
}

fn cdr_time(value: &str, column: &str) -> Result<chrono::DateTime<chrono::FixedOffset>> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S").map_err(|_| {
        anyhow!("the {column} column is not a time of the form YYYY-MM-DD HH:MM:SS")
    })?;
    chrono_tz::Europe::Helsinki
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.fixed_offset())
        .ok_or_else(|| anyhow!("the {column} column names a local time that does not exist"))
}

/// One CSV row with its column names.
struct CdrRow<'a> {
    columns: &'a [String],
    record: &'a csv::StringRecord,
}

impl<'a> CdrRow<'a> {
    /// The trimmed value of a named column, or "" when absent.
    fn field(&self, name: &str) -> &'a str {
        let record: &'a csv::StringRecord = self.record;
        self.columns
            .iter()
            .position(|c| c == name)
            .and_then(|i| record.get(i))
            .map_or("", str::trim)
    }
}

fn cdr_contact(row: &CdrRow<'_>) -> Result<ContactInput> {
    let field = |name: &str| row.field(name);
    let uniqueid = field("uniqueid");
    if uniqueid.is_empty() {
        bail!("the uniqueid column is empty; it is needed to import idempotently");
    }
    let outbound = {
        let context = field("dcontext").to_ascii_lowercase();
        context.contains("from-internal") || context.contains("outbound")
    };
    let (agent_channel, number) = if outbound {
        (field("channel"), field("dst"))
    } else {
        (field("dstchannel"), field("src"))
    };
    let agent = channel_peer(agent_channel).ok_or_else(|| {
        anyhow!(
            "cannot tell the agent: the {} column names no peer",
            if outbound { "channel" } else { "dstchannel" }
        )
    })?;
    let withheld = number.is_empty()
        || [
            "anonymous",
            "restricted",
            "private",
            "unknown",
            "unavailable",
        ]
        .contains(&number.to_ascii_lowercase().as_str())
        || field("clid").to_ascii_lowercase().contains("<anonymous>");
    let answer = field("answer");
    let started_at = if answer.is_empty() {
        cdr_time(field("start"), "start")?
    } else {
        cdr_time(answer, "answer")?
    };
    let end = field("end");
    let ended_at = if end.is_empty() {
        None
    } else {
        Some(cdr_time(end, "end")?)
    };
    Ok(ContactInput {
        external_id: Some(format!("cdr:{uniqueid}")),
        channel: if outbound {
            Channel::CallOut
        } else {
            Channel::CallIn
        },
        started_at,
        ended_at,
        service: (!outbound && !field("dst").is_empty()).then(|| field("dst").to_owned()),
        agent: agent.to_owned(),
        customer: Some(Customer {
            name: if withheld {
                None
            } else {
                clid_name(field("clid"))
            },
            phone: (!withheld).then(|| number.to_owned()),
            phone_withheld: withheld,
            email: None,
            address: None,
            language: None,
        }),
        contact_person: None,
        account: None,
        property: None,
        service_content: None,
    })
}

/// Imports one item; returns what it created.
async fn import_item(app: &Kirjuri, item: &Item, tally: &mut Tally) -> Result<()> {
    let (contact, wav) = match item {
        Item::Wav { wav, sidecar } => (read_sidecar(sidecar).await?, Some(wav.clone())),
        Item::Json(path) => (read_sidecar(path).await?, None),
        Item::Cdr { contact, wav, .. } => ((**contact).clone(), wav.clone()),
        Item::OrphanWav(_) => {
            bail!("no JSON sidecar with the same base name (and no CDR CSV beside it)")
        }
        Item::BadCdr { error, .. } => bail!("{error}"),
    };
    if let Some(wav) = &wav {
        // Validate the recording before creating its contact, so a bad file
        // leaves no contact behind either.
        precheck_wav(wav, app.config.max_recording_bytes).await?;
    }
    let (id, created) = app
        .create_contact(None, contact)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    match created {
        Created::New => tally.contacts_new += 1,
        Created::Existing => tally.contacts_existing += 1,
    }
    if let Some(wav) = wav {
        let file = tokio::fs::File::open(&wav)
            .await
            .with_context(|| format!("cannot open {}", wav.display()))?;
        let stream =
            ReaderStream::with_capacity(file, 1 << 20).map(|r| r.map_err(|e| e.to_string()));
        let (_, created) = app
            .store_recording(None, id, stream, app.config.max_recording_bytes)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        match created {
            Created::New => tally.recordings_new += 1,
            Created::Existing => tally.recordings_existing += 1,
        }
    }
    Ok(())
}

async fn read_sidecar(path: &Path) -> Result<ContactInput> {
    let meta = tokio::fs::metadata(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > 1 << 20 {
        bail!("the sidecar is larger than 1 MiB");
    }
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    ContactInput::from_json(&bytes).map_err(|e| anyhow!("sidecar: {e}"))
}

async fn precheck_wav(path: &Path, limit: u64) -> Result<()> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    if file.metadata().await.map(|m| m.len()).unwrap_or(0) > limit {
        bail!("the recording is larger than the limit of {limit} bytes");
    }
    let mut validator = kirjuri_core::wav::WavValidator::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        validator.feed(buffer.get(..n).unwrap_or_default())?;
    }
    validator.finish()?;
    Ok(())
}

/// Runs an import and prints the report. Exit status 1 when any item failed.
pub async fn run(app: &Kirjuri, paths: &[PathBuf]) -> Result<ExitCode> {
    app.recover().await.context("start-up recovery failed")?;
    let (items, mut problems) = plan(paths)?;
    let bar = ProgressBar::new(items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} importing [{bar:40}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut tally = Tally::default();
    for item in &items {
        if let Err(e) = import_item(app, item, &mut tally).await {
            tally.failed += 1;
            problems.push(format!("{}: {e:#}", item.label()));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    println!(
        "imported {} items: {} new contacts, {} already present; {} new recordings, {} already present; {} failed",
        items.len(),
        tally.contacts_new,
        tally.contacts_existing,
        tally.recordings_new,
        tally.recordings_existing,
        problems.len(),
    );
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_names_its_peer() {
        assert_eq!(channel_peer("PJSIP/aino-0000001a"), Some("aino"));
        assert_eq!(channel_peer("SIP/bertta-00000002"), Some("bertta"));
        assert_eq!(channel_peer("Local/pbx"), Some("pbx"));
        assert_eq!(channel_peer("garbage"), None);
    }

    #[test]
    fn a_caller_id_gives_its_name_but_not_a_bare_number() {
        assert_eq!(
            clid_name("\"Matti M\" <0401234567>").as_deref(),
            Some("Matti M")
        );
        assert_eq!(clid_name("<0401234567>"), None);
        assert_eq!(clid_name("0401234567"), None);
    }
}
