//! The statistics page (`/statistics`, STAT-1; issue 15): a form choosing
//! the report (contacts, surveys, data-subject requests, disclosures), its
//! breakdown, window and period (a GET form — it changes nothing), the
//! report as a bar chart drawn on the server as SVG (no JavaScript; a
//! `<title>` and `<desc>` name it for screen readers) and, as its text
//! alternative, the whole table with its margins, plus a CSV link. Labels
//! in fi/sv/en.
//!
//! The page calls the same `Kirjuri::count_statistics` and
//! `Kirjuri::survey_statistics` as the API, which
//! decides access (supervisors, registrars, the responsible person), checks
//! the query and applies the disclosure control; so the page only ever
//! shows aggregates already fit to leave. A refused query is shown with its
//! code and the application's explanation (which quotes no value).
//!
//! Not here: the report's rules (`kirjuri_app::statistics`).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Datelike, NaiveDate};
use chrono_tz::Europe::Helsinki;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::statistics::{
    CountReport, Report, ReportCell, ReportQuery, SurveyCell, SurveyReport,
};
use serde::Deserialize;

use super::context::{Frame, Staff, encode_query};
use super::html;
use super::i18n::Tr;

/// The periods offered.
const PERIODS: [&str; 3] = ["day", "week", "month"];

/// The chart's geometry, in SVG user units (the template draws a 640-wide
/// picture: labels end at 182, bars start at 190 and are 20 high).
const LABEL_WIDTH: u32 = 190;
/// The longest bar.
const BAR_SPACE: u32 = 360;
/// From one bar's top to the next's.
const BAR_STEP: u32 = 28;

/// The form, as typed (every field optional; empty means the default).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatisticsForm {
    #[serde(default)]
    report: String,
    #[serde(default)]
    rows: String,
    #[serde(default)]
    columns: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    period: String,
}

/// One option of a select: value, label, selected.
pub struct Choice {
    /// The submitted value.
    pub value: String,
    /// Its label.
    pub label: String,
    /// Whether it is chosen.
    pub selected: bool,
}

/// One bar of the chart.
pub struct Bar {
    /// The label at its left.
    pub label: String,
    /// Its top.
    pub y: u32,
    /// The text baseline.
    pub text_y: u32,
    /// Its length (0 when suppressed).
    pub width: u32,
    /// Where its count is written.
    pub count_x: u32,
    /// The count, or the word for suppressed.
    pub count: String,
}

/// A row of the table alternative.
pub struct TableRow {
    /// The row's label (a row header).
    pub label: String,
    /// Its cells, then its total (two-way) — text.
    pub cells: Vec<String>,
}

/// The report, ready for the template.
pub struct ReportView {
    /// The chart's caption (also its `<title>`).
    pub caption: String,
    /// The chart's description (`<desc>`).
    pub description: String,
    /// The chart's height.
    pub height: u32,
    /// The bars.
    pub bars: Vec<Bar>,
    /// The table's column heads after the row header's.
    pub heads: Vec<String>,
    /// The row dimension's name (the corner head).
    pub corner: String,
    /// The table's rows, the totals row last.
    pub rows: Vec<TableRow>,
    /// The CSV's address.
    pub csv: String,
    /// `k`, for the explanation.
    pub k: u32,
    /// Whether it is the survey report (its scores' rule is explained).
    pub survey: bool,
}

/// The statistics page.
#[derive(Template)]
#[template(path = "statistics.html")]
pub struct StatisticsPage {
    frame: Frame,
    t: Tr,
    reports: Vec<Choice>,
    rows: Vec<Choice>,
    columns: Vec<Choice>,
    periods: Vec<Choice>,
    from: String,
    to: String,
    report: Option<ReportView>,
    /// A refused query: its code and the catalogue key explaining it.
    refusal: Option<(String, String)>,
}

/// A dimension's label.
fn dimension_label(t: Tr, name: &str) -> String {
    t.label("statistics_by", name)
}

/// A cell label, translated where it is a fixed classification.
fn value_label(t: Tr, dimension: &str, value: Option<&str>) -> String {
    match (dimension, value) {
        ("service", None) => t.t("statistics.no_service").to_owned(),
        ("channel", Some(v)) => t.label("channel", v),
        ("handling_time", Some(v)) => t.label("handling_time", v),
        ("right", Some(v)) => t.label("request_type", v),
        ("outcome", Some(v)) => t.label("request_state", v),
        ("timeliness", Some(v)) => t.label("statistics_timeliness", v),
        ("recipient_kind", Some(v)) => t.label("recipient_kind", v),
        (_, Some(v)) => v.to_owned(),
        (_, None) => String::new(),
    }
}

/// A count as shown: the number, or the word for suppressed.
fn count_text(t: Tr, cell: &ReportCell) -> String {
    cell.count
        .map(|c| c.to_string())
        .unwrap_or_else(|| t.t("statistics.suppressed").to_owned())
}

/// A chart of `bars` (label, value, text) scaled to the largest value.
fn chart(bars: Vec<(String, Option<u64>, String)>) -> (u32, Vec<Bar>) {
    let max = bars
        .iter()
        .filter_map(|(_, v, _)| *v)
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = bars
        .into_iter()
        .enumerate()
        .map(|(n, (label, value, count))| {
            let y = u32::try_from(n)
                .unwrap_or(u32::MAX / 2)
                .saturating_mul(BAR_STEP)
                + 8;
            let width = value
                .map(|c| {
                    u32::try_from(c.saturating_mul(u64::from(BAR_SPACE)) / max).unwrap_or(BAR_SPACE)
                })
                .unwrap_or(0);
            Bar {
                label,
                y,
                text_y: y + 15,
                width,
                count_x: LABEL_WIDTH + width + 6,
                count,
            }
        })
        .collect::<Vec<_>>();
    let height = u32::try_from(bars.len())
        .unwrap_or(0)
        .saturating_mul(BAR_STEP)
        .saturating_add(16);
    (height, bars)
}

/// A report's caption: "Contacts by channel" and the like.
fn caption(t: Tr, report: &str, row_dimension: &str) -> String {
    t.t(&format!("statistics.caption_{report}"))
        .replace("{n}", &dimension_label(t, row_dimension))
}

/// The chart's description: its caption and window.
fn description(caption: &str, from: NaiveDate, to: NaiveDate) -> String {
    format!(
        "{} {} – {}",
        caption,
        from.format("%-d.%-m.%Y"),
        to.format("%-d.%-m.%Y")
    )
}

/// The chart and table of the survey report: bars for the mean score of
/// each row (in tenths, so 4.2 is drawn as 42 of 50), and a table with a
/// line per cell and margin.
fn survey_view(t: Tr, report: &SurveyReport, csv: String) -> ReportView {
    let row_dimension = report.by[0];
    let column_dimension = report.by.get(1).copied();
    let two_way = column_dimension.is_some();
    let label_of = |cell: &SurveyCell, dimension: &str| {
        value_label(
            t,
            dimension,
            cell.labels.get(dimension).cloned().flatten().as_deref(),
        )
    };
    let suppressed = || t.t("statistics.suppressed").to_owned();
    let mean_text = |cell: &SurveyCell| {
        cell.mean_score
            .map(|m| format!("{m:.1}"))
            .unwrap_or_else(suppressed)
    };
    let bar_cells: &[SurveyCell] = if two_way {
        &report.totals.rows
    } else {
        &report.cells
    };
    let (height, bars) = chart(
        bar_cells
            .iter()
            .map(|c| {
                (
                    label_of(c, row_dimension),
                    // Tenths of a point, so the bars keep one decimal.
                    c.mean_score.map(|m| (m * 10.0).round() as u64),
                    mean_text(c),
                )
            })
            .collect(),
    );
    // A line per entry: cells, then the margins, then the total.
    let total = t.t("statistics.total").to_owned();
    let line_label = |cell: &SurveyCell| {
        let row = cell
            .labels
            .contains_key(row_dimension)
            .then(|| label_of(cell, row_dimension));
        let column = column_dimension
            .filter(|d| cell.labels.contains_key(d))
            .map(|d| label_of(cell, d));
        match (row, column) {
            (Some(r), Some(c)) => format!("{r} – {c}"),
            (Some(r), None) if two_way => format!("{r} – {total}"),
            (Some(r), None) => r,
            (None, Some(c)) => format!("{total} – {c}"),
            (None, None) => total.clone(),
        }
    };
    let number = |value: Option<u64>| value.map(|v| v.to_string()).unwrap_or_else(suppressed);
    let rows = report
        .cells
        .iter()
        .chain(&report.totals.rows)
        .chain(&report.totals.columns)
        .chain([&report.totals.all])
        .map(|cell| {
            let mut cells = vec![
                number(cell.invited),
                number(cell.answered),
                cell.response_rate
                    .map(|r| format!("{r} %"))
                    .unwrap_or_else(suppressed),
                mean_text(cell),
            ];
            cells.extend((0..5).map(|s| number(cell.scores.map(|scores| scores[s]))));
            TableRow {
                label: line_label(cell),
                cells,
            }
        })
        .collect();
    let mut heads: Vec<String> = ["invited", "answered", "response_rate", "mean_score"]
        .iter()
        .map(|k| t.t(&format!("statistics.{k}")).to_owned())
        .collect();
    heads.extend((1..=5).map(|s| t.t("statistics.score_n").replace("{n}", &s.to_string())));
    let caption = caption(t, "surveys", row_dimension);
    ReportView {
        description: description(&caption, report.from, report.to),
        caption,
        height,
        bars,
        heads,
        corner: match column_dimension {
            Some(d) => format!(
                "{} – {}",
                dimension_label(t, row_dimension),
                dimension_label(t, d)
            ),
            None => dimension_label(t, row_dimension),
        },
        rows,
        csv,
        k: report.k,
        survey: true,
    }
}

/// The chart and table of a counting report.
fn view(t: Tr, report: &CountReport, csv: String) -> ReportView {
    let row_dimension = report.by[0];
    let two_way = report.by.len() == 2;
    // The bars: each row's total (two-way) or each cell (one-way).
    let bar_cells: &[ReportCell] = if two_way {
        &report.totals.rows
    } else {
        &report.cells
    };
    let label_of = |cell: &ReportCell, dimension: &str| {
        value_label(
            t,
            dimension,
            cell.labels.get(dimension).cloned().flatten().as_deref(),
        )
    };
    let (height, bars) = chart(
        bar_cells
            .iter()
            .map(|c| (label_of(c, row_dimension), c.count, count_text(t, c)))
            .collect(),
    );

    let (heads, mut rows) = if two_way {
        let column_dimension = report.by[1];
        let cols = report.totals.columns.len().max(1);
        let mut heads: Vec<String> = report
            .totals
            .columns
            .iter()
            .map(|c| label_of(c, column_dimension))
            .collect();
        heads.push(t.t("statistics.total").to_owned());
        let rows = report
            .totals
            .rows
            .iter()
            .enumerate()
            .map(|(i, total)| {
                let mut cells: Vec<String> = report.cells[i * cols..(i + 1) * cols]
                    .iter()
                    .map(|c| count_text(t, c))
                    .collect();
                cells.push(count_text(t, total));
                TableRow {
                    label: label_of(total, row_dimension),
                    cells,
                }
            })
            .collect::<Vec<_>>();
        (heads, rows)
    } else {
        let rows = report
            .cells
            .iter()
            .map(|c| TableRow {
                label: label_of(c, row_dimension),
                cells: vec![count_text(t, c)],
            })
            .collect();
        (
            vec![
                t.t(&format!("statistics.count_{}", report.report))
                    .to_owned(),
            ],
            rows,
        )
    };
    let mut total_cells: Vec<String> = report
        .totals
        .columns
        .iter()
        .map(|c| count_text(t, c))
        .collect();
    total_cells.push(count_text(t, &report.totals.all));
    rows.push(TableRow {
        label: t.t("statistics.total").to_owned(),
        cells: total_cells,
    });

    let caption = caption(t, report.report, row_dimension);
    ReportView {
        description: description(&caption, report.from, report.to),
        caption,
        height,
        bars,
        heads,
        corner: dimension_label(t, row_dimension),
        rows,
        csv,
        k: report.k,
        survey: false,
    }
}

/// The current Helsinki month's first and last day.
fn this_month(app: &Kirjuri) -> (NaiveDate, NaiveDate) {
    let today = app.clock.now().with_timezone(&Helsinki).date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let last = first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(today);
    (first, last)
}

fn choices(t: Tr, values: &[&str], chosen: &str, prefix: &str, none: bool) -> Vec<Choice> {
    let mut out = Vec::new();
    if none {
        out.push(Choice {
            value: String::new(),
            label: t.t("statistics.no_columns").to_owned(),
            selected: chosen.is_empty(),
        });
    }
    out.extend(values.iter().map(|v| Choice {
        value: (*v).to_owned(),
        label: t.label(prefix, v),
        selected: *v == chosen,
    }));
    out
}

/// A refused query as the page shows it: its code and the catalogue key
/// explaining it.
fn refusal(t: Tr, e: &Error) -> (String, String) {
    let code = e.code();
    let key = format!("statistics_error.{code}");
    let key = if t.has(&key) {
        key
    } else {
        "error.generic".to_owned()
    };
    (code.to_owned(), key)
}

/// `GET /statistics`.
pub async fn page(
    State(app): State<Kirjuri>,
    staff: Staff,
    Query(form): Query<StatisticsForm>,
) -> Response {
    let t = staff.tr();
    let (first, last) = this_month(&app);
    let (report, unknown_report) = if form.report.is_empty() {
        (Report::Contacts, None)
    } else {
        match Report::parse(&form.report) {
            Ok(report) => (report, None),
            Err(e) => (Report::Contacts, Some(e)),
        }
    };
    let offered: Vec<&str> = report.dimensions().iter().map(|d| d.as_str()).collect();
    let defaults: Vec<&str> = report.default_by().iter().map(|d| d.as_str()).collect();
    // Dimensions of another report (the report was changed and the
    // breakdown left as it was) give way to this report's defaults.
    let (rows_dim, columns_dim) = if form.rows.is_empty() || !offered.contains(&form.rows.as_str())
    {
        (
            defaults[0].to_owned(),
            defaults.get(1).copied().unwrap_or_default().to_owned(),
        )
    } else if offered.contains(&form.columns.as_str()) {
        (form.rows.clone(), form.columns.clone())
    } else {
        (form.rows.clone(), String::new())
    };
    let from = if form.from.is_empty() {
        first.format("%Y-%m-%d").to_string()
    } else {
        form.from.clone()
    };
    let to = if form.to.is_empty() {
        last.format("%Y-%m-%d").to_string()
    } else {
        form.to.clone()
    };
    let period = if form.period.is_empty() {
        "day".to_owned()
    } else {
        form.period.clone()
    };
    let by = if columns_dim.is_empty() {
        rows_dim.clone()
    } else {
        format!("{rows_dim},{columns_dim}")
    };
    let query = ReportQuery {
        by: Some(by.clone()),
        from: Some(from.clone()),
        to: Some(to.clone()),
        period: Some(period.clone()),
    };
    let csv = format!(
        "/api/v1/statistics/{}?by={}&from={}&to={}&period={}&format=csv",
        report.as_str(),
        encode_query(&by),
        encode_query(&from),
        encode_query(&to),
        encode_query(&period)
    );
    let shown = match (unknown_report, report) {
        (Some(e), _) => Err(e),
        (None, Report::Surveys) => app
            .survey_statistics(&staff.actor, staff.id, &query)
            .await
            .map(|r| survey_view(t, &r, csv)),
        (None, _) => app
            .count_statistics(&staff.actor, staff.id, report, &query)
            .await
            .map(|r| view(t, &r, csv)),
    };
    let (view, refused) = match shown {
        Ok(view) => (Some(view), None),
        Err(e @ Error::Unprocessable { .. }) => (None, Some(refusal(t, &e))),
        Err(e) => return staff.error(e),
    };
    let report_names: Vec<&str> = Report::ALL.iter().map(|r| r.as_str()).collect();
    html(&StatisticsPage {
        frame: staff.frame(),
        t,
        reports: choices(
            t,
            &report_names,
            report.as_str(),
            "statistics_report",
            false,
        ),
        rows: choices(t, &offered, &rows_dim, "statistics_by", false),
        columns: choices(t, &offered, &columns_dim, "statistics_by", true),
        periods: choices(t, &PERIODS, &period, "statistics_period", false),
        from,
        to,
        report: view,
        refusal: refused,
    })
}
