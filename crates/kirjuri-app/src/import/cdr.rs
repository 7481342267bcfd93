//! Asterisk CDR CSV files (`Master.csv` as written by `cdr_csv`, with or
//! without a header row) read into contacts, one per row; each row's
//! recording is `<uniqueid>.wav` beside the CSV. A row that cannot be
//! understood becomes an item that fails on its own. Error messages name the
//! column, never its contents.

use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, TimeZone};
use kirjuri_core::contact::{Channel, ContactInput, Customer};

use super::{Error, Item};

/// Why one CDR row could not be read into a contact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdrError {
    /// The row is not valid CSV.
    #[error("not valid CSV")]
    NotCsv,
    /// Without a uniqueid, a re-run would import the row again.
    #[error("the uniqueid column is empty; it is needed to import idempotently")]
    NoUniqueId,
    /// The agent's channel names no peer.
    #[error("cannot tell the agent: the {column} column names no peer")]
    NoAgent {
        /// `channel` or `dstchannel`.
        column: &'static str,
    },
    /// A time column is not `YYYY-MM-DD HH:MM:SS`.
    #[error("the {column} column is not a time of the form YYYY-MM-DD HH:MM:SS")]
    BadTime {
        /// The column.
        column: &'static str,
    },
    /// A time column names a local time skipped by a clock change.
    #[error("the {column} column names a local time that does not exist")]
    NoSuchLocalTime {
        /// The column.
        column: &'static str,
    },
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

/// The items of one CSV file: a contact per row, or a row's failure.
pub(super) fn cdr_items(csv_path: &Path) -> Result<Vec<Item>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(csv_path)
        .map_err(|source| Error::OpenCsv {
            path: csv_path.to_owned(),
            source,
        })?;
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
                    error: CdrError::NotCsv,
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
                let wav: Option<PathBuf> =
                    (wav.is_file() && !uniqueid.contains('/')).then_some(wav);
                items.push(Item::Cdr {
                    csv: csv_path.into(),
                    line,
                    contact: Box::new(contact),
                    wav,
                });
            }
            Err(error) => items.push(Item::BadCdr {
                csv: csv_path.into(),
                line,
                error,
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

fn cdr_time(
    value: &str,
    column: &'static str,
) -> Result<chrono::DateTime<chrono::FixedOffset>, CdrError> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| CdrError::BadTime { column })?;
    chrono_tz::Europe::Helsinki
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.fixed_offset())
        .ok_or(CdrError::NoSuchLocalTime { column })
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

fn cdr_contact(row: &CdrRow<'_>) -> Result<ContactInput, CdrError> {
    let field = |name: &str| row.field(name);
    let uniqueid = field("uniqueid");
    if uniqueid.is_empty() {
        return Err(CdrError::NoUniqueId);
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
    let agent = channel_peer(agent_channel).ok_or(CdrError::NoAgent {
        column: if outbound { "channel" } else { "dstchannel" },
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
