//! Reports in which no one can be identified (STAT-1; reference §3.6,
//! §4 L; issue 15): `GET /api/v1/statistics/{report}?by=…&from=…&to=…
//! [&period=day|week|month]` and the report page, for four reports
//! ([`Report`]): contacts, satisfaction surveys, data-subject requests
//! closed (on time or late) and disclosures approved.
//!
//! A report is read from the anonymous daily roll-ups
//! (`kirjuri_store::statistics`, `kirjuri_store::surveys`), never from the
//! contacts, requests or disclosures, so it is the same before and after
//! the purge. It is a one- or two-way table over its report's dimensions
//! ([`Report::dimensions`]; `period` is days, ISO weeks or months), with
//! its margins, and it leaves only after
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
//! The query's parsing and the window's rules are one ([`ReportQuery`]),
//! and every count goes through the one table builder ([`Layout`],
//! [`publish`]), whichever report it is.
//!
//! The survey report publishes per cell the invitations and the answers,
//! each as its own protected table, and a mean score with the answers per
//! score only when the cell's answer count is itself published, at least
//! k, and every score's count is 0 or at least k: a mean over answers
//! whose split is partly suppressed is one more equation that can pin a
//! suppressed score count (two answers of 4 and 5 … out of six pin the
//! lone 4), so then mean and split are suppressed together.
//!
//! What this module is not: the disclosure control itself (core), storage,
//! or rendering (the web crate draws the chart and the table).

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::contact::Channel;
use kirjuri_core::ids::UserId;
use kirjuri_core::request::RequestType;
use kirjuri_core::statistics::{
    HandlingTime, Period, Protected, Threshold, protect, protect_one_way, round_to,
};
use kirjuri_store::NewAuditEvent;
use kirjuri_store::statistics::{DisclosureRollupRow, RequestRollupRow, RollupGrouping, RollupRow};
use kirjuri_store::surveys::SurveyRollupRow;
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

/// The reports there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Contacts, by channel, service, handling time, period.
    Contacts,
    /// Satisfaction surveys: invitations, answers, scores, by service and
    /// period.
    Surveys,
    /// Data-subject requests closed: by right, outcome, on time or late,
    /// period.
    Requests,
    /// Disclosures approved: by recipient kind and period.
    Disclosures,
}

impl Report {
    /// Every report, in the order offered.
    pub const ALL: [Report; 4] = [
        Report::Contacts,
        Report::Surveys,
        Report::Requests,
        Report::Disclosures,
    ];

    /// The wire name (the route's last segment, the audit's `report`).
    pub fn as_str(self) -> &'static str {
        match self {
            Report::Contacts => "contacts",
            Report::Surveys => "surveys",
            Report::Requests => "requests",
            Report::Disclosures => "disclosures",
        }
    }

    /// The report of a wire name; anything else is 422 `invalid_report`.
    pub fn parse(name: &str) -> Result<Self> {
        Report::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| {
                unprocessable(
                    "invalid_report",
                    "report is contacts, surveys, requests or disclosures",
                )
            })
    }

    /// What it can be broken down by.
    pub fn dimensions(self) -> &'static [Dimension] {
        match self {
            Report::Contacts => &[
                Dimension::Channel,
                Dimension::Service,
                Dimension::HandlingTime,
                Dimension::Period,
            ],
            Report::Surveys => &[Dimension::Service, Dimension::Period],
            Report::Requests => &[
                Dimension::Right,
                Dimension::Outcome,
                Dimension::Timeliness,
                Dimension::Period,
            ],
            Report::Disclosures => &[Dimension::RecipientKind, Dimension::Period],
        }
    }

    /// Its breakdown when none is asked for.
    pub fn default_by(self) -> &'static [Dimension] {
        match self {
            Report::Contacts => &[Dimension::Channel, Dimension::Service],
            Report::Surveys => &[Dimension::Service],
            Report::Requests => &[Dimension::Right, Dimension::Timeliness],
            Report::Disclosures => &[Dimension::RecipientKind],
        }
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
    /// The right a data-subject request exercised.
    Right,
    /// How a request ended: answered, refused, withdrawn.
    Outcome,
    /// Whether a request closed on time or late.
    Timeliness,
    /// The kind of recipient a disclosure went to.
    RecipientKind,
}

/// The outcomes a closed request counts under, in report order.
const OUTCOMES: [&str; 3] = ["answered", "refused", "withdrawn"];

/// On time or late, in report order.
const TIMELINESS: [&str; 2] = ["on_time", "late"];

/// The recipient kinds, in report order.
const RECIPIENT_KINDS: [&str; 4] = ["processor", "partner", "authority", "police"];

impl Dimension {
    /// The wire name (a query's `by`, a cell's key, a CSV column).
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Channel => "channel",
            Dimension::Service => "service",
            Dimension::HandlingTime => "handling_time",
            Dimension::Period => "period",
            Dimension::Right => "right",
            Dimension::Outcome => "outcome",
            Dimension::Timeliness => "timeliness",
            Dimension::RecipientKind => "recipient_kind",
        }
    }

    /// The dimension `name` if `report` has it.
    fn parse(report: Report, name: &str) -> Result<Self> {
        let name = name.trim();
        report
            .dimensions()
            .iter()
            .copied()
            .find(|d| d.as_str() == name)
            .ok_or_else(|| Error::Unprocessable {
                code: "invalid_dimension",
                message: format!(
                    "by names one or two of {}",
                    report
                        .dimensions()
                        .iter()
                        .map(|d| d.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// The labels it always shows, in order, and whether labels seen in
    /// the roll-ups but not listed (a name from before a rename) follow.
    /// `None`: the labels are those seen, sorted.
    fn known(self) -> Option<Vec<&'static str>> {
        match self {
            Dimension::Channel => Some(Channel::ALL.iter().map(|c| c.as_str()).collect()),
            Dimension::HandlingTime => Some(HandlingTime::ALL.iter().map(|h| h.as_str()).collect()),
            Dimension::Right => Some(RequestType::ALL.iter().map(|r| r.as_str()).collect()),
            Dimension::Outcome => Some(OUTCOMES.to_vec()),
            Dimension::Timeliness => Some(TIMELINESS.to_vec()),
            Dimension::RecipientKind => Some(RECIPIENT_KINDS.to_vec()),
            Dimension::Service | Dimension::Period => None,
        }
    }

    /// Whether every known label is shown even with no rows (a fixed
    /// classification whose zeros say something); otherwise only those
    /// seen.
    fn shows_all(self) -> bool {
        matches!(
            self,
            Dimension::HandlingTime | Dimension::Timeliness | Dimension::Outcome
        )
    }
}

/// The query of a report, as it arrives (all text).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// One or two dimensions, comma-separated (default: the report's
    /// [`Report::default_by`]).
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
pub struct ReportTotals<C> {
    /// Each row's total (two-way reports only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<C>,
    /// Each column's total (two-way reports only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<C>,
    /// The grand total.
    pub all: C,
}

/// A report after disclosure control: only aggregates. Its cells are
/// counts ([`CountReport`]) or survey figures ([`SurveyReport`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedReport<C> {
    /// Which report.
    pub report: &'static str,
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
    pub cells: Vec<C>,
    /// The margins.
    pub totals: ReportTotals<C>,
}

/// A counting report (contacts, requests, disclosures).
pub type CountReport = PublishedReport<ReportCell>;

/// One cell or margin of the survey report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyCell {
    /// Dimension name → label.
    #[serde(flatten)]
    pub labels: BTreeMap<&'static str, Option<String>>,
    /// Invitations sent, rounded to a multiple of k; `null` if suppressed.
    pub invited: Option<u64>,
    /// Of them answered, rounded; `null` if suppressed.
    pub answered: Option<u64>,
    /// Answered per invited, in whole percent, from the published
    /// (rounded) counts; `null` if either is suppressed or none invited.
    pub response_rate: Option<u64>,
    /// The mean score, one decimal; `null` unless the scores are published.
    pub mean_score: Option<f64>,
    /// Answers giving 1 … 5, each rounded; `null` unless published.
    pub scores: Option<[u64; 5]>,
    /// Whether any of its figures was suppressed.
    pub suppressed: bool,
}

/// The survey report after disclosure control (`report` is `surveys`).
pub type SurveyReport = PublishedReport<SurveyCell>;

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
    report: Report,
    by: Vec<Dimension>,
    from: NaiveDate,
    to: NaiveDate,
    period: Period,
}

impl ReportQuery {
    fn check(&self, report: Report) -> Result<Checked> {
        let by: Vec<Dimension> = match self.by.as_deref() {
            None => report.default_by().to_vec(),
            Some(text) if text.len() > 64 => {
                return Err(unprocessable("invalid_dimension", "by is too long"));
            }
            Some(text) => text
                .split(',')
                .map(|name| Dimension::parse(report, name))
                .collect::<Result<_>>()?,
        };
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
            report,
            by,
            from,
            to,
            period,
        })
    }
}

/// A roll-up row as a report sees it: its label in each dimension it has.
trait Labelled {
    /// Its label in `dimension` (`period`: its day's period's label).
    fn label(&self, dimension: Dimension, period: Period) -> String;
}

impl Labelled for RollupRow {
    fn label(&self, dimension: Dimension, period: Period) -> String {
        match dimension {
            Dimension::Channel => self.channel.clone(),
            Dimension::Service => self.service.clone(),
            Dimension::HandlingTime => self.handling.clone(),
            Dimension::Period => period.label(self.day),
            _ => String::new(),
        }
    }
}

impl Labelled for SurveyRollupRow {
    fn label(&self, dimension: Dimension, period: Period) -> String {
        match dimension {
            Dimension::Service => self.service.clone(),
            Dimension::Period => period.label(self.day),
            _ => String::new(),
        }
    }
}

impl Labelled for RequestRollupRow {
    fn label(&self, dimension: Dimension, period: Period) -> String {
        match dimension {
            Dimension::Right => self.request_type.clone(),
            Dimension::Outcome => self.outcome.clone(),
            Dimension::Timeliness => self.timeliness.clone(),
            Dimension::Period => period.label(self.day),
            _ => String::new(),
        }
    }
}

impl Labelled for DisclosureRollupRow {
    fn label(&self, dimension: Dimension, period: Period) -> String {
        match dimension {
            Dimension::RecipientKind => self.recipient_kind.clone(),
            Dimension::Period => period.label(self.day),
            _ => String::new(),
        }
    }
}

/// The labels of one dimension, in report order, from the roll-ups read.
fn categories<R: Labelled>(dimension: Dimension, checked: &Checked, rows: &[R]) -> Vec<String> {
    if dimension == Dimension::Period {
        let mut labels = Vec::new();
        let mut day = checked.from;
        while day <= checked.to {
            labels.push(checked.period.label(day));
            day = match checked.period.end(day).checked_add_days(Days::new(1)) {
                Some(next) => next,
                None => break,
            };
        }
        return labels;
    }
    let seen: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|r| r.label(dimension, checked.period))
        .collect();
    match dimension.known() {
        None => seen.into_iter().collect(),
        Some(known) => {
            let mut labels: Vec<String> = known
                .iter()
                .filter(|l| dimension.shows_all() || seen.contains(**l))
                .map(|l| (*l).to_owned())
                .collect();
            // A name stored before a rename still counts, last.
            labels.extend(seen.into_iter().filter(|s| !known.contains(&s.as_str())));
            labels
        }
    }
}

/// The wire form of a label: a contact without a service is `null`.
fn wire_label(dimension: Dimension, label: &str) -> Option<String> {
    (dimension != Dimension::Service || !label.is_empty()).then(|| label.to_owned())
}

/// The shape of a report's table: its rows' and columns' labels.
struct Layout {
    row_dimension: Dimension,
    column_dimension: Option<Dimension>,
    row_labels: Vec<String>,
    column_labels: Vec<String>,
}

impl Layout {
    /// The table of `checked`'s breakdown over `rows`; 422 `too_many_cells`
    /// if it would be too large.
    fn new<R: Labelled>(checked: &Checked, rows: &[R]) -> Result<Self> {
        let row_dimension = checked.by[0];
        let column_dimension = checked.by.get(1).copied();
        let row_labels = categories(row_dimension, checked, rows);
        let column_labels = match column_dimension {
            Some(d) => categories(d, checked, rows),
            None => vec![String::new()],
        };
        if row_labels.len().saturating_mul(column_labels.len()) > MAX_CELLS {
            return Err(Error::Unprocessable {
                code: "too_many_cells",
                message: format!(
                    "the report would have more than {MAX_CELLS} cells; choose a longer period \
                     or a shorter window"
                ),
            });
        }
        Ok(Self {
            row_dimension,
            column_dimension,
            row_labels,
            column_labels,
        })
    }

    fn rows(&self) -> usize {
        self.row_labels.len()
    }

    fn cols(&self) -> usize {
        self.column_labels.len()
    }

    /// The row-major counts of `rows`, each row contributing `value`.
    fn tally<R: Labelled>(
        &self,
        period: Period,
        rows: &[R],
        value: impl Fn(&R) -> u64,
    ) -> Vec<u64> {
        let index = |labels: &[String]| -> BTreeMap<String, usize> {
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.clone(), i))
                .collect()
        };
        let (row_index, column_index) = (index(&self.row_labels), index(&self.column_labels));
        let cols = self.cols();
        let mut counts = vec![0u64; self.rows() * cols];
        for row in rows {
            let r = row.label(self.row_dimension, period);
            let c = self
                .column_dimension
                .map(|d| row.label(d, period))
                .unwrap_or_default();
            if let (Some(&i), Some(&j)) = (row_index.get(&r), column_index.get(&c)) {
                counts[i * cols + j] = counts[i * cols + j].saturating_add(value(row));
            }
        }
        counts
    }

    /// The labels of every entry: the cells row-major, then the row totals
    /// and column totals (two-way only), then the grand total.
    fn entry_labels(&self) -> Entries<BTreeMap<&'static str, Option<String>>> {
        let row_label = |i: usize| {
            (
                self.row_dimension.as_str(),
                wire_label(self.row_dimension, &self.row_labels[i]),
            )
        };
        let cells = (0..self.rows())
            .flat_map(|i| (0..self.cols()).map(move |j| (i, j)))
            .map(|(i, j)| {
                let mut labels = BTreeMap::from([row_label(i)]);
                if let Some(d) = self.column_dimension {
                    labels.insert(d.as_str(), wire_label(d, &self.column_labels[j]));
                }
                labels
            })
            .collect();
        let (rows, columns) = match self.column_dimension {
            Some(d) => (
                (0..self.rows())
                    .map(|i| BTreeMap::from([row_label(i)]))
                    .collect(),
                self.column_labels
                    .iter()
                    .map(|l| BTreeMap::from([(d.as_str(), wire_label(d, l))]))
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        Entries {
            cells,
            rows,
            columns,
            all: BTreeMap::new(),
        }
    }
}

/// Something for every entry of a table: cells, margins, total.
struct Entries<T> {
    cells: Vec<T>,
    rows: Vec<T>,
    columns: Vec<T>,
    all: T,
}

impl<T> Entries<T> {
    /// Every entry, cells first, then row totals, column totals, total.
    fn into_vec(self) -> Vec<T> {
        let mut out = self.cells;
        out.extend(self.rows);
        out.extend(self.columns);
        out.push(self.all);
        out
    }
}

/// A table's exact entries (cells and the margins a two-way table has),
/// in [`Entries::into_vec`] order.
fn exact_entries(layout: &Layout, counts: &[u64]) -> Vec<u64> {
    let (rows, cols) = (layout.rows(), layout.cols());
    let mut out = counts.to_vec();
    if layout.column_dimension.is_some() {
        out.extend((0..rows).map(|i| counts[i * cols..(i + 1) * cols].iter().sum::<u64>()));
        out.extend((0..cols).map(|j| (0..rows).map(|i| counts[i * cols + j]).sum::<u64>()));
    }
    out.push(counts.iter().sum());
    out
}

/// The protected table's entries in [`Entries::into_vec`] order (margins
/// only for a two-way table).
fn protected_entries(layout: &Layout, protected: &Protected) -> Vec<Option<u64>> {
    let mut out = protected.cells.clone();
    if layout.column_dimension.is_some() {
        out.extend(&protected.row_totals);
        out.extend(&protected.column_totals);
    }
    out.push(protected.total);
    out
}

/// `counts` through the disclosure control: the entries that may be
/// published, exact (round them with [`round_to`] to publish).
fn publish(layout: &Layout, counts: &[u64], k: Threshold) -> Vec<Option<u64>> {
    let protected = if layout.column_dimension.is_some() {
        protect(layout.rows(), layout.cols(), counts, k)
    } else {
        protect_one_way(counts, k)
    };
    protected_entries(layout, &protected)
}

/// Puts values in [`Entries::into_vec`] order back into their places;
/// `None` if there are too few (never: every list ends with the total).
fn regroup<T>(layout: &Layout, values: Vec<T>) -> Result<Entries<T>> {
    let n_cells = layout.rows() * layout.cols();
    let mut values = values.into_iter();
    let cells: Vec<T> = values.by_ref().take(n_cells).collect();
    let (rows, columns) = if layout.column_dimension.is_some() {
        (
            values.by_ref().take(layout.rows()).collect(),
            values.by_ref().take(layout.cols()).collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let all = values
        .next()
        .ok_or(Error::Internal("a report's entries lack their grand total"))?;
    Ok(Entries {
        cells,
        rows,
        columns,
        all,
    })
}

impl Kirjuri {
    /// The threshold in force.
    fn statistics_threshold(&self) -> Result<Threshold> {
        self.config.statistics.threshold()
    }

    /// Authorises a report's reader and checks the query, before anything
    /// is read.
    async fn report_query(
        &self,
        actor: &Actor,
        actor_id: UserId,
        report: Report,
        query: &ReportQuery,
    ) -> Result<(Checked, Threshold)> {
        self.authorize_register(actor, actor_id, Action::ReadStatistics, None)
            .await?;
        let checked = query.check(report)?;
        Ok((checked, self.statistics_threshold()?))
    }

    /// Audits a release: what was asked and how many cells were and were
    /// not suppressed, never a count.
    async fn audit_release(
        &self,
        actor_id: UserId,
        checked: &Checked,
        cells: usize,
        suppressed: usize,
    ) -> Result<()> {
        let by: Vec<&str> = checked.by.iter().map(|d| d.as_str()).collect();
        let event = NewAuditEvent {
            at: self.clock.now(),
            actor: Some(actor_id),
            action: "statistics.released".into(),
            object: None,
            purpose: None,
            outcome: "success".into(),
            details: json!({
                "report": checked.report.as_str(),
                "by": by,
                "from": checked.from,
                "to": checked.to,
                "period": checked.period.as_str(),
                "cells": cells,
                "suppressed": suppressed,
            }),
        };
        self.store.append_audit(&event).await?;
        Ok(())
    }

    /// A counting report — contacts, requests or disclosures — after
    /// disclosure control; the release is audited. (Surveys:
    /// [`Kirjuri::survey_statistics`].)
    pub async fn count_statistics(
        &self,
        actor: &Actor,
        actor_id: UserId,
        report: Report,
        query: &ReportQuery,
    ) -> Result<CountReport> {
        let (checked, k) = self.report_query(actor, actor_id, report, query).await?;
        let keeps = |d: Dimension| checked.by.contains(&d);
        let (layout, counts) = match report {
            Report::Surveys => {
                return Err(unprocessable(
                    "invalid_report",
                    "the survey report is not a count table: see survey_statistics",
                ));
            }
            Report::Contacts => {
                let grouping = RollupGrouping {
                    day: keeps(Dimension::Period),
                    channel: keeps(Dimension::Channel),
                    service: keeps(Dimension::Service),
                    handling: keeps(Dimension::HandlingTime),
                };
                let rows = self
                    .store
                    .grouped_contact_rollups(checked.from, checked.to, grouping)
                    .await?;
                let layout = Layout::new(&checked, &rows)?;
                let counts = layout.tally(checked.period, &rows, |r| r.contacts);
                (layout, counts)
            }
            Report::Requests => {
                let rows = self.store.request_rollups(checked.from, checked.to).await?;
                let layout = Layout::new(&checked, &rows)?;
                let counts = layout.tally(checked.period, &rows, |r| r.requests);
                (layout, counts)
            }
            Report::Disclosures => {
                let rows = self
                    .store
                    .disclosure_rollups(checked.from, checked.to)
                    .await?;
                let layout = Layout::new(&checked, &rows)?;
                let counts = layout.tally(checked.period, &rows, |r| r.disclosures);
                (layout, counts)
            }
        };
        let published = publish(&layout, &counts, k);
        let labels = layout.entry_labels().into_vec();
        let entries: Vec<ReportCell> = labels
            .into_iter()
            .zip(published)
            .map(|(labels, value)| ReportCell {
                labels,
                count: value.map(|v| round_to(v, k)),
                suppressed: value.is_none(),
            })
            .collect();
        let entries = regroup(&layout, entries)?;
        let report = CountReport {
            report: report.as_str(),
            k: k.get(),
            rounding: k.get(),
            from: checked.from,
            to: checked.to,
            period: checked.period.as_str(),
            by: checked.by.iter().map(|d| d.as_str()).collect(),
            cells: entries.cells,
            totals: ReportTotals {
                rows: entries.rows,
                columns: entries.columns,
                all: entries.all,
            },
        };
        let suppressed = report.cells.iter().filter(|c| c.suppressed).count();
        self.audit_release(actor_id, &checked, report.cells.len(), suppressed)
            .await?;
        Ok(report)
    }

    /// The contacts report ([`Kirjuri::count_statistics`] of
    /// [`Report::Contacts`]).
    pub async fn contact_statistics(
        &self,
        actor: &Actor,
        actor_id: UserId,
        query: &ReportQuery,
    ) -> Result<CountReport> {
        self.count_statistics(actor, actor_id, Report::Contacts, query)
            .await
    }

    /// The survey report (by service and period: invitations, answers, the
    /// response rate, the mean score and the answers per score) after
    /// disclosure control; the release is audited.
    pub async fn survey_statistics(
        &self,
        actor: &Actor,
        actor_id: UserId,
        query: &ReportQuery,
    ) -> Result<SurveyReport> {
        let (checked, k) = self
            .report_query(actor, actor_id, Report::Surveys, query)
            .await?;
        let rows = self.store.survey_rollups(checked.from, checked.to).await?;
        let layout = Layout::new(&checked, &rows)?;
        let invited = layout.tally(checked.period, &rows, |r| r.invited);
        let answered = layout.tally(checked.period, &rows, |r| r.answered);
        let exact_answered = exact_entries(&layout, &answered);
        let exact_scores: Vec<Vec<u64>> = (0..5)
            .map(|s| {
                exact_entries(
                    &layout,
                    &layout.tally(checked.period, &rows, |r| r.scores[s]),
                )
            })
            .collect();
        let invited = publish(&layout, &invited, k);
        let answered = publish(&layout, &answered, k);
        let threshold = u64::from(k.get());
        let entries: Vec<SurveyCell> = layout
            .entry_labels()
            .into_vec()
            .into_iter()
            .enumerate()
            .map(|(e, labels)| {
                let scores: [u64; 5] = std::array::from_fn(|s| exact_scores[s][e]);
                let n = exact_answered[e];
                // The split and the mean only over k answers or more, the
                // answer count itself published, and no score count small
                // (see the module doc).
                let scores_published = answered[e].is_some()
                    && n >= threshold
                    && scores.iter().all(|&c| c == 0 || c >= threshold);
                let invited_shown = invited[e].map(|v| round_to(v, k));
                let answered_shown = answered[e].map(|v| round_to(v, k));
                let response_rate = match (invited_shown, answered_shown) {
                    (Some(i), Some(a)) if i > 0 => Some((a * 100 + i / 2) / i),
                    _ => None,
                };
                let mean_score = scores_published.then(|| {
                    let sum: u64 = scores
                        .iter()
                        .enumerate()
                        .map(|(s, c)| (s as u64 + 1) * c)
                        .sum();
                    // One decimal: tenths, rounded half up.
                    let tenths = (sum * 10 * 2 + n) / (2 * n);
                    tenths as f64 / 10.0
                });
                SurveyCell {
                    labels,
                    invited: invited_shown,
                    answered: answered_shown,
                    response_rate,
                    mean_score,
                    scores: scores_published.then(|| scores.map(|c| round_to(c, k))),
                    suppressed: invited_shown.is_none()
                        || answered_shown.is_none()
                        || !scores_published,
                }
            })
            .collect();
        let entries = regroup(&layout, entries)?;
        let report = SurveyReport {
            report: Report::Surveys.as_str(),
            k: k.get(),
            rounding: k.get(),
            from: checked.from,
            to: checked.to,
            period: checked.period.as_str(),
            by: checked.by.iter().map(|d| d.as_str()).collect(),
            cells: entries.cells,
            totals: ReportTotals {
                rows: entries.rows,
                columns: entries.columns,
                all: entries.all,
            },
        };
        let suppressed = report.cells.iter().filter(|c| c.suppressed).count();
        self.audit_release(actor_id, &checked, report.cells.len(), suppressed)
            .await?;
        Ok(report)
    }
}

/// Writes CSV records into a buffer.
struct Csv(csv::Writer<Vec<u8>>);

impl Csv {
    fn new() -> Self {
        Self(csv::Writer::from_writer(Vec::new()))
    }

    fn record<I, T>(&mut self, record: I) -> Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        // Writing into a Vec fails only on a broken record shape.
        self.0
            .write_record(record)
            .map_err(|_| Error::Internal("the report's CSV could not be written"))
    }

    fn finish(self) -> Result<Vec<u8>> {
        self.0
            .into_inner()
            .map_err(|_| Error::Internal("the report's CSV could not be finished"))
    }
}

/// Each entry with its CSV `kind`: cells, row and column totals, total.
fn kinds<'a, C>(cells: &'a [C], totals: &'a ReportTotals<C>) -> Vec<(&'static str, &'a C)> {
    cells
        .iter()
        .map(|c| ("cell", c))
        .chain(totals.rows.iter().map(|c| ("row_total", c)))
        .chain(totals.columns.iter().map(|c| ("column_total", c)))
        .chain([("total", &totals.all)])
        .collect()
}

/// An entry's labels in `by` order, empty for `null`.
fn label_fields(
    by: &[&'static str],
    labels: &BTreeMap<&'static str, Option<String>>,
) -> Vec<String> {
    by.iter()
        .map(|d| labels.get(d).cloned().flatten().unwrap_or_default())
        .collect()
}

/// A published number, or empty.
fn field<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

impl CountReport {
    /// The report as CSV: `kind` (`cell`, `row_total`, `column_total`,
    /// `total`), one column per dimension, `count` (empty when
    /// suppressed), `suppressed`.
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut csv = Csv::new();
        let mut header = vec!["kind"];
        header.extend(self.by.iter().copied());
        header.extend(["count", "suppressed"]);
        csv.record(&header)?;
        for (kind, cell) in kinds(&self.cells, &self.totals) {
            let mut record = vec![kind.to_owned()];
            record.extend(label_fields(&self.by, &cell.labels));
            record.push(field(cell.count));
            record.push(cell.suppressed.to_string());
            csv.record(&record)?;
        }
        csv.finish()
    }
}

impl SurveyReport {
    /// The report as CSV: `kind`, one column per dimension, `invited`,
    /// `answered`, `response_rate`, `mean_score`, `score_1` … `score_5`
    /// (each empty when suppressed), `suppressed`.
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut csv = Csv::new();
        let mut header = vec!["kind"];
        header.extend(self.by.iter().copied());
        header.extend([
            "invited",
            "answered",
            "response_rate",
            "mean_score",
            "score_1",
            "score_2",
            "score_3",
            "score_4",
            "score_5",
            "suppressed",
        ]);
        csv.record(&header)?;
        for (kind, cell) in kinds(&self.cells, &self.totals) {
            let mut record = vec![kind.to_owned()];
            record.extend(label_fields(&self.by, &cell.labels));
            record.push(field(cell.invited));
            record.push(field(cell.answered));
            record.push(field(cell.response_rate));
            record.push(field(cell.mean_score.map(|m| format!("{m:.1}"))));
            for s in 0..5 {
                record.push(field(cell.scores.map(|scores| scores[s])));
            }
            record.push(cell.suppressed.to_string());
            csv.record(&record)?;
        }
        csv.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(by: &str, from: &str, to: &str, period: Option<&str>) -> ReportQuery {
        ReportQuery {
            by: Some(by.into()),
            from: Some(from.into()),
            to: Some(to.into()),
            period: period.map(str::to_owned),
        }
    }

    #[test]
    fn hostile_queries_are_refused_with_their_reason() {
        let code = |q: ReportQuery| match q.check(Report::Contacts) {
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
                .check(Report::Contacts)
                .is_ok()
        );
    }

    #[test]
    fn each_report_takes_only_its_own_dimensions() {
        let window = |by: &str| query(by, "2026-01-01", "2026-01-31", None);
        assert!(window("service,period").check(Report::Surveys).is_ok());
        assert!(window("channel").check(Report::Surveys).is_err());
        assert!(window("right,timeliness").check(Report::Requests).is_ok());
        assert!(window("service").check(Report::Requests).is_err());
        assert!(
            window("recipient_kind,period")
                .check(Report::Disclosures)
                .is_ok()
        );
        assert!(window("right").check(Report::Disclosures).is_err());
        assert!(Report::parse("contacts").is_ok());
        assert!(Report::parse("people").is_err());
    }

    #[test]
    fn a_threshold_below_three_refuses_to_start_naming_the_setting() {
        let err = StatisticsConfig { k: 2 }.validate().unwrap_err();
        assert!(err.to_string().contains("statistics.k"), "{err}");
        assert!(StatisticsConfig { k: 3 }.validate().is_ok());
    }
}
