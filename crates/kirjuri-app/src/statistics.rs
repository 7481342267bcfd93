//! Reports in which no one can be identified (STAT-1; reference §3.6,
//! §4 L; issue 15): `GET /api/v1/statistics/contacts?by=channel,service&
//! from=…&to=…[&period=day|week|month]` and the supervisors' report page.
//!
//! A report is read from the anonymous daily roll-ups
//! (`kirjuri_store::statistics`), never from the contacts, so it is the
//! same before and after the purge. It is a one- or two-way table over
//! `channel`, `service`, `handling_time` (coarse buckets) and `period`
//! (days, ISO weeks or months), with its margins, and it leaves only after
//! kirjuri-core's disclosure control: counts of 1 … k−1 suppressed, further
//! cells suppressed until none can be narrowed below k from the margins,
//! every published count rounded to a multiple of k, and the window made of
//! whole periods (the reasons are in `kirjuri_core::statistics`). `k` is
//! `[statistics] k` (default 5; a value below 3 refuses to start).
//!
//! Who may read: supervisors, registrars and the responsible person
//! (`Action::ReadStatistics`); a refusal is audited, as is every release
//! (what was asked, never a count), so an attempt at differencing can be
//! reviewed. A bad parameter is 422 before anything is read or written.
//!
//! What this module is not: the disclosure control itself (core), storage,
//! or rendering (the web crate draws the chart and the table).

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::contact::Channel;
use kirjuri_core::ids::UserId;
use kirjuri_core::statistics::{HandlingTime, Period, Protected, Threshold, protect, round_to};
use kirjuri_store::NewAuditEvent;
use kirjuri_store::statistics::RollupGrouping;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// The longest window, in days: three years and a day, enough for
/// year-on-year planning; longer is refused rather than read.
pub const MAX_WINDOW_DAYS: u64 = 3 * 366;

/// The most cells one report may have.
pub const MAX_CELLS: usize = 20_000;

/// `[statistics]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatisticsConfig {
    /// The threshold: a published cell counts at least this many contacts
    /// (smaller non-zero counts are suppressed), and published counts are
    /// rounded to its multiples. At least 3.
    pub k: u32,
}

impl Default for StatisticsConfig {
    fn default() -> Self {
        Self {
            k: kirjuri_core::statistics::DEFAULT_K,
        }
    }
}

impl StatisticsConfig {
    /// Refuses a threshold below 3, naming the setting.
    pub fn validate(&self) -> Result<()> {
        self.threshold().map(|_| ())
    }

    /// The threshold.
    pub fn threshold(&self) -> Result<Threshold> {
        Threshold::new(self.k).map_err(|_| {
            Error::config(
                "statistics.k",
                format!(
                    "must be at least {} (it is {}): smaller cells would let people be \
                     recognised in the statistics",
                    kirjuri_core::statistics::MIN_K,
                    self.k
                ),
            )
        })
    }
}

/// What a report can be broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// The contact's channel.
    Channel,
    /// The service queue.
    Service,
    /// The handling-time bucket.
    HandlingTime,
    /// The period (the query's `period`).
    Period,
}

impl Dimension {
    /// The wire name (a query's `by`, a cell's key, a CSV column).
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Channel => "channel",
            Dimension::Service => "service",
            Dimension::HandlingTime => "handling_time",
            Dimension::Period => "period",
        }
    }

    fn parse(name: &str) -> Result<Self> {
        match name.trim() {
            "channel" => Ok(Dimension::Channel),
            "service" => Ok(Dimension::Service),
            "handling_time" => Ok(Dimension::HandlingTime),
            "period" => Ok(Dimension::Period),
            _ => Err(unprocessable(
                "invalid_dimension",
                "by names one or two of channel, service, handling_time, period",
            )),
        }
    }
}

/// The query of a contacts report, as it arrives (all text).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    /// One or two dimensions, comma-separated (default `channel,service`).
    pub by: Option<String>,
    /// The first day, `YYYY-MM-DD` (Helsinki), inclusive.
    pub from: Option<String>,
    /// The last day, inclusive.
    pub to: Option<String>,
    /// `day` (default), `week` or `month`: what the window is made of and
    /// the `period` dimension's unit.
    pub period: Option<String>,
}

/// A cell or margin of a report: its labels, and its count — rounded, or
/// `None` when suppressed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportCell {
    /// Dimension name → label (`null` for a contact without a service).
    #[serde(flatten)]
    pub labels: BTreeMap<&'static str, Option<String>>,
    /// The count, rounded to a multiple of k; `null` if suppressed.
    pub count: Option<u64>,
    /// Whether it was suppressed.
    pub suppressed: bool,
}

/// A report's margins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportTotals {
    /// Each row's total (two-way reports only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<ReportCell>,
    /// Each column's total (two-way reports only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ReportCell>,
    /// The grand total.
    pub all: ReportCell,
}

/// A contacts report after disclosure control: only aggregates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactReport {
    /// The threshold applied.
    pub k: u32,
    /// The base every published count is rounded to.
    pub rounding: u32,
    /// The window's first day.
    pub from: NaiveDate,
    /// The window's last day.
    pub to: NaiveDate,
    /// Its period.
    pub period: &'static str,
    /// The dimensions, rows first.
    pub by: Vec<&'static str>,
    /// The cells, row-major.
    pub cells: Vec<ReportCell>,
    /// The margins.
    pub totals: ReportTotals,
}

/// A 422 with `code`.
fn unprocessable(code: &'static str, message: &str) -> Error {
    Error::Unprocessable {
        code,
        message: message.to_owned(),
    }
}

/// A `YYYY-MM-DD` date.
fn date(field: &'static str, value: Option<&str>) -> Result<NaiveDate> {
    let value = value.ok_or_else(|| Error::Unprocessable {
        code: "invalid_window",
        message: format!("{field} is required (YYYY-MM-DD)"),
    })?;
    if value.len() != 10 {
        return Err(Error::Unprocessable {
            code: "invalid_window",
            message: format!("{field} must be a date, YYYY-MM-DD"),
        });
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| Error::Unprocessable {
        code: "invalid_window",
        message: format!("{field} must be a date, YYYY-MM-DD"),
    })
}

/// A checked query.
struct Checked {
    by: Vec<Dimension>,
    from: NaiveDate,
    to: NaiveDate,
    period: Period,
}

impl ContactQuery {
    fn check(&self) -> Result<Checked> {
        let by_text = self.by.as_deref().unwrap_or("channel,service");
        if by_text.len() > 64 {
            return Err(unprocessable("invalid_dimension", "by is too long"));
        }
        let by: Vec<Dimension> = by_text
            .split(',')
            .map(Dimension::parse)
            .collect::<Result<_>>()?;
        if by.is_empty() || by.len() > 2 || (by.len() == 2 && by[0] == by[1]) {
            return Err(unprocessable(
                "invalid_dimension",
                "by names one or two different dimensions",
            ));
        }
        let period: Period = match self.period.as_deref() {
            None => Period::Day,
            Some(p) => p
                .parse()
                .map_err(|_| unprocessable("invalid_period", "period is day, week or month"))?,
        };
        let from = date("from", self.from.as_deref())?;
        let to = date("to", self.to.as_deref())?;
        period.check_window(from, to).map_err(|e| match e {
            kirjuri_core::Error::Refused { code, reason } => unprocessable(code, reason),
            _ => unprocessable("invalid_window", "the window is not whole periods"),
        })?;
        if (to - from).num_days() >= i64::try_from(MAX_WINDOW_DAYS).unwrap_or(i64::MAX) {
            return Err(Error::Unprocessable {
                code: "window_too_large",
                message: format!("a report covers at most {MAX_WINDOW_DAYS} days"),
            });
        }
        Ok(Checked {
            by,
            from,
            to,
            period,
        })
    }
}

/// The labels of one dimension, in report order, from the roll-ups read.
fn categories(
    dimension: Dimension,
    checked: &Checked,
    rows: &[kirjuri_store::statistics::RollupRow],
) -> Vec<String> {
    match dimension {
        Dimension::Channel => {
            let seen: std::collections::BTreeSet<&str> =
                rows.iter().map(|r| r.channel.as_str()).collect();
            let mut known: Vec<String> = Channel::ALL
                .iter()
                .map(|c| c.as_str())
                .filter(|c| seen.contains(c))
                .map(str::to_owned)
                .collect();
            // A channel stored before a rename still counts, last.
            known.extend(
                seen.iter()
                    .filter(|s| !Channel::ALL.iter().any(|c| c.as_str() == **s))
                    .map(|s| (*s).to_owned()),
            );
            known
        }
        Dimension::Service => {
            let seen: std::collections::BTreeSet<&str> =
                rows.iter().map(|r| r.service.as_str()).collect();
            seen.into_iter().map(str::to_owned).collect()
        }
        Dimension::HandlingTime => HandlingTime::ALL
            .iter()
            .map(|h| h.as_str().to_owned())
            .collect(),
        Dimension::Period => {
            let mut labels = Vec::new();
            let mut day = checked.from;
            while day <= checked.to {
                labels.push(checked.period.label(day));
                day = match checked.period.end(day).checked_add_days(Days::new(1)) {
                    Some(next) => next,
                    None => break,
                };
            }
            labels
        }
    }
}

/// A roll-up row's label in `dimension`.
fn label_of(
    dimension: Dimension,
    period: Period,
    row: &kirjuri_store::statistics::RollupRow,
) -> String {
    match dimension {
        Dimension::Channel => row.channel.clone(),
        Dimension::Service => row.service.clone(),
        Dimension::HandlingTime => row.handling.clone(),
        Dimension::Period => period.label(row.day),
    }
}

/// The wire form of a label: a contact without a service is `null`.
fn wire_label(dimension: Dimension, label: &str) -> Option<String> {
    (dimension != Dimension::Service || !label.is_empty()).then(|| label.to_owned())
}

impl Kirjuri {
    /// The threshold in force.
    fn statistics_threshold(&self) -> Result<Threshold> {
        self.config.statistics.threshold()
    }

    /// A contacts report (supervisors, registrars, the responsible person),
    /// after disclosure control; the release is audited.
    pub async fn contact_statistics(
        &self,
        actor: &Actor,
        actor_id: UserId,
        query: &ContactQuery,
    ) -> Result<ContactReport> {
        self.authorize_register(actor, actor_id, Action::ReadStatistics, None)
            .await?;
        let checked = query.check()?;
        let k = self.statistics_threshold()?;
        let keeps = |d: Dimension| checked.by.contains(&d);
        let grouping = RollupGrouping {
            day: keeps(Dimension::Period),
            channel: keeps(Dimension::Channel),
            service: keeps(Dimension::Service),
            handling: keeps(Dimension::HandlingTime),
        };
        let rollups = self
            .store
            .grouped_contact_rollups(checked.from, checked.to, grouping)
            .await?;

        let row_dimension = checked.by[0];
        let column_dimension = checked.by.get(1).copied();
        let row_labels = categories(row_dimension, &checked, &rollups);
        let column_labels = match column_dimension {
            Some(d) => categories(d, &checked, &rollups),
            None => vec![String::new()],
        };
        let n_cells = row_labels.len().saturating_mul(column_labels.len());
        if n_cells > MAX_CELLS {
            return Err(Error::Unprocessable {
                code: "too_many_cells",
                message: format!(
                    "the report would have more than {MAX_CELLS} cells; choose a longer period \
                     or a shorter window"
                ),
            });
        }
        let row_index: BTreeMap<&str, usize> = row_labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        let column_index: BTreeMap<&str, usize> = column_labels
            .iter()
            .enumerate()
            .map(|(j, l)| (l.as_str(), j))
            .collect();
        let cols = column_labels.len();
        let mut counts = vec![0u64; n_cells];
        for row in &rollups {
            let r = label_of(row_dimension, checked.period, row);
            let c = column_dimension
                .map(|d| label_of(d, checked.period, row))
                .unwrap_or_default();
            if let (Some(&i), Some(&j)) = (row_index.get(r.as_str()), column_index.get(c.as_str()))
            {
                counts[i * cols + j] = counts[i * cols + j].saturating_add(row.contacts);
            }
        }

        let protected = protect(row_labels.len(), cols, &counts, k);
        let report = assemble(
            &checked,
            k,
            &row_labels,
            column_dimension,
            &column_labels,
            &protected,
        );

        let suppressed = report.cells.iter().filter(|c| c.suppressed).count();
        let event = NewAuditEvent {
            at: self.clock.now(),
            actor: Some(actor_id),
            action: "statistics.released".into(),
            object: None,
            purpose: None,
            outcome: "success".into(),
            details: json!({
                "report": "contacts",
                "by": report.by,
                "from": report.from,
                "to": report.to,
                "period": report.period,
                "cells": report.cells.len(),
                "suppressed": suppressed,
            }),
        };
        self.store.append_audit(&event).await?;
        Ok(report)
    }
}

/// The published report from the protected table: labels attached,
/// counts rounded.
fn assemble(
    checked: &Checked,
    k: Threshold,
    row_labels: &[String],
    column_dimension: Option<Dimension>,
    column_labels: &[String],
    protected: &Protected,
) -> ContactReport {
    let row_dimension = checked.by[0];
    let cell = |labels: BTreeMap<&'static str, Option<String>>, value: Option<u64>| ReportCell {
        labels,
        count: value.map(|v| round_to(v, k)),
        suppressed: value.is_none(),
    };
    let row_label = |i: usize| {
        (
            row_dimension.as_str(),
            wire_label(row_dimension, &row_labels[i]),
        )
    };
    let cols = column_labels.len();
    let cells = (0..row_labels.len())
        .flat_map(|i| (0..cols).map(move |j| (i, j)))
        .map(|(i, j)| {
            let mut labels = BTreeMap::from([row_label(i)]);
            if let Some(d) = column_dimension {
                labels.insert(d.as_str(), wire_label(d, &column_labels[j]));
            }
            cell(labels, protected.cells[i * cols + j])
        })
        .collect();
    let (rows, columns) = match column_dimension {
        Some(d) => (
            (0..row_labels.len())
                .map(|i| cell(BTreeMap::from([row_label(i)]), protected.row_totals[i]))
                .collect(),
            (0..cols)
                .map(|j| {
                    cell(
                        BTreeMap::from([(d.as_str(), wire_label(d, &column_labels[j]))]),
                        protected.column_totals[j],
                    )
                })
                .collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    ContactReport {
        k: k.get(),
        rounding: k.get(),
        from: checked.from,
        to: checked.to,
        period: checked.period.as_str(),
        by: checked.by.iter().map(|d| d.as_str()).collect(),
        cells,
        totals: ReportTotals {
            rows,
            columns,
            all: cell(BTreeMap::new(), protected.total),
        },
    }
}

impl ContactReport {
    /// The report as CSV: `kind` (`cell`, `row_total`, `column_total`,
    /// `total`), one column per dimension, `count` (empty when
    /// suppressed), `suppressed`.
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        // Writing into a Vec fails only on a broken record shape.
        let failed = |_: csv::Error| Error::Internal("the report's CSV could not be written");
        let mut header = vec!["kind"];
        header.extend(self.by.iter().copied());
        header.extend(["count", "suppressed"]);
        writer.write_record(&header).map_err(failed)?;
        let kinds = self
            .cells
            .iter()
            .map(|c| ("cell", c))
            .chain(self.totals.rows.iter().map(|c| ("row_total", c)))
            .chain(self.totals.columns.iter().map(|c| ("column_total", c)))
            .chain([("total", &self.totals.all)]);
        for (kind, cell) in kinds {
            let mut record = vec![kind.to_owned()];
            for dimension in &self.by {
                record.push(
                    cell.labels
                        .get(dimension)
                        .cloned()
                        .flatten()
                        .unwrap_or_default(),
                );
            }
            record.push(cell.count.map(|c| c.to_string()).unwrap_or_default());
            record.push(cell.suppressed.to_string());
            writer.write_record(&record).map_err(failed)?;
        }
        writer
            .into_inner()
            .map_err(|_| Error::Internal("the report's CSV could not be finished"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(by: &str, from: &str, to: &str, period: Option<&str>) -> ContactQuery {
        ContactQuery {
            by: Some(by.into()),
            from: Some(from.into()),
            to: Some(to.into()),
            period: period.map(str::to_owned),
        }
    }

    #[test]
    fn hostile_queries_are_refused_with_their_reason() {
        let code = |q: ContactQuery| match q.check() {
            Err(Error::Unprocessable { code, .. }) => code,
            other => panic!("expected a 422, got {:?}", other.map(|_| ())),
        };
        assert_eq!(
            code(query("agent", "2026-01-01", "2026-01-31", None)),
            "invalid_dimension"
        );
        assert_eq!(
            code(query("channel,channel", "2026-01-01", "2026-01-31", None)),
            "invalid_dimension"
        );
        assert_eq!(
            code(query(
                "channel,service,period",
                "2026-01-01",
                "2026-01-31",
                None
            )),
            "invalid_dimension"
        );
        assert_eq!(
            code(query("channel", "2026-02-30", "2026-03-31", None)),
            "invalid_window"
        );
        assert_eq!(
            code(query("channel", "2026-1-1", "2026-03-31", None)),
            "invalid_window"
        );
        assert_eq!(
            code(query("channel", "2020-01-01", "2026-03-31", None)),
            "window_too_large"
        );
        assert_eq!(
            code(query("channel", "2026-01-02", "2026-03-31", Some("month"))),
            "unaligned_window"
        );
        assert_eq!(
            code(query("channel", "2026-01-01", "2026-03-31", Some("year"))),
            "invalid_period"
        );
        assert!(
            query("period,channel", "2026-01-01", "2026-03-31", Some("month"))
                .check()
                .is_ok()
        );
    }

    #[test]
    fn a_threshold_below_three_refuses_to_start_naming_the_setting() {
        let err = StatisticsConfig { k: 2 }.validate().unwrap_err();
        assert!(err.to_string().contains("statistics.k"), "{err}");
        assert!(StatisticsConfig { k: 3 }.validate().is_ok());
    }
}
