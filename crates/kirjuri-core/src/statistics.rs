//! Statistics in which no one can be identified (STAT-1; reference §3.6,
//! §4 L.60–61; issue 15): the classifications a roll-up counts by (the
//! Helsinki day, [`HandlingTime`], [`Period`]), the threshold `k`
//! ([`Threshold`]), and the disclosure control applied to every table before
//! it leaves ([`protect`], [`round_to`]). Pure functions: the store keeps the
//! roll-ups, the application builds the table and calls these.
//!
//! Disclosure control, in three layers:
//! 1. **Primary suppression.** A cell (or margin) counting 1 … k−1 contacts
//!    is published as `null`. Zero is published: an empty cell names no one.
//! 2. **Secondary suppression** ([`protect`]). The table with its margins
//!    is a flow network (a cell is an arc from its row to its column, a
//!    margin an arc from or to a hub; see `Network`), so the values an
//!    attacker may give the suppressed entries are exactly the circulations
//!    over them. For each sensitive suppressed entry of value x, `protect`
//!    computes by maximum flow how far the other suppressed entries let it
//!    rise, and suppresses further entries (cells before margins, the
//!    smallest count that opens the most room) until it can rise to k. The
//!    rule protected is the *upper protection level* of the threshold rule
//!    (as τ-ARGUS's for frequency tables): from the published table, an
//!    attacker solving for a suppressed sensitive entry cannot rule out
//!    that it holds k or more, so a suppressed cell is indistinguishable
//!    from a publishable one. `tests/statistics_attacker.rs` checks exactly
//!    that with an independent linear program.
//! 3. **Differencing** between two overlapping queries — (Jan–Mar) minus
//!    (Jan–Feb) gives March — is countered by fixed period boundaries (a
//!    window is whole [`Period`]s: days, ISO weeks or calendar months,
//!    [`Period::check_window`]) and by rounding every published count, cells
//!    and margins, to a multiple of k ([`round_to`]): the difference of two
//!    rounded counts leaves an interval of 2k−1 values, which for a true
//!    difference of 1 … k−1 always holds either 0 or k. A query audit was
//!    the alternative; it needs every released table kept and compared,
//!    still misses differences spread over three or more queries, and
//!    refuses users for reasons they cannot see.
//!
//! What this module is not: storage, the query's parsing (the application)
//! or rendering.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use chrono_tz::Europe::Helsinki;

use crate::error::{Error, Result};

/// The default threshold: at least five contacts in a published cell.
pub const DEFAULT_K: u32 = 5;

/// The lowest threshold allowed (reference §3.6: "some agencies require at
/// least five respondents in a cell, others require three").
pub const MIN_K: u32 = 3;

/// The smallest count a published cell may hold; smaller non-zero counts
/// are suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold(u32);

impl Threshold {
    /// `k`, if it is at least [`MIN_K`].
    pub fn new(k: u32) -> Result<Self> {
        if k < MIN_K {
            return Err(Error::Refused {
                code: "threshold_too_low",
                reason: "the statistics threshold k must be at least 3",
            });
        }
        Ok(Self(k))
    }

    /// Its value.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Threshold {
    fn default() -> Self {
        Self(DEFAULT_K)
    }
}

/// The Helsinki calendar day a contact that started at `started_at` is
/// counted on.
pub fn rollup_day(started_at: DateTime<Utc>) -> NaiveDate {
    started_at.with_timezone(&Helsinki).date_naive()
}

/// How long a contact was handled (its end minus its start), in the
/// buckets the roll-ups keep: coarse on purpose, so a handling time says
/// nothing about one contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HandlingTime {
    /// Under a minute.
    Under1m,
    /// One to five minutes.
    From1To5m,
    /// Five to fifteen minutes.
    From5To15m,
    /// Fifteen minutes to an hour.
    From15To60m,
    /// An hour or more.
    Over60m,
    /// No end time was delivered.
    Unknown,
}

impl HandlingTime {
    /// Every bucket, shortest first.
    pub const ALL: [HandlingTime; 6] = [
        HandlingTime::Under1m,
        HandlingTime::From1To5m,
        HandlingTime::From5To15m,
        HandlingTime::From15To60m,
        HandlingTime::Over60m,
        HandlingTime::Unknown,
    ];

    /// The bucket of a contact from its start and end.
    pub fn of(started_at: DateTime<Utc>, ended_at: Option<DateTime<Utc>>) -> Self {
        let Some(ended_at) = ended_at else {
            return HandlingTime::Unknown;
        };
        let seconds = (ended_at - started_at).num_seconds();
        match seconds {
            s if s < 0 => HandlingTime::Unknown,
            s if s < 60 => HandlingTime::Under1m,
            s if s < 5 * 60 => HandlingTime::From1To5m,
            s if s < 15 * 60 => HandlingTime::From5To15m,
            s if s < 60 * 60 => HandlingTime::From15To60m,
            _ => HandlingTime::Over60m,
        }
    }

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            HandlingTime::Under1m => "lt1m",
            HandlingTime::From1To5m => "1to5m",
            HandlingTime::From5To15m => "5to15m",
            HandlingTime::From15To60m => "15to60m",
            HandlingTime::Over60m => "ge60m",
            HandlingTime::Unknown => "unknown",
        }
    }
}

/// A reporting period: the unit a window is made of and, as a dimension,
/// what cells are labelled by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A Helsinki calendar day.
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

impl std::str::FromStr for Period {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            other => Err(Error::Unknown {
                kind: "period",
                name: other.chars().take(16).collect(),
            }),
        }
    }
}

impl Period {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The first day of the period `date` is in.
    pub fn start(self, date: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => date,
            Period::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Period::Month => date.with_day(1).unwrap_or(date),
        }
    }

    /// The last day of the period `date` is in.
    pub fn end(self, date: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => date,
            Period::Week => self.start(date) + Days::new(6),
            Period::Month => self
                .start(date)
                .checked_add_months(Months::new(1))
                .and_then(|next| next.pred_opt())
                .unwrap_or(date),
        }
    }

    /// The label of the period `date` is in: `2026-03-01`, `2026-W09`,
    /// `2026-03`.
    pub fn label(self, date: NaiveDate) -> String {
        match self {
            Period::Day => date.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let week = date.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Period::Month => date.format("%Y-%m").to_string(),
        }
    }

    /// Checks that `from ..= to` is whole periods: `from` starts one, `to`
    /// ends one, and `from` is not after `to`. Fixed boundaries are half of
    /// the differencing protection (see the module doc).
    pub fn check_window(self, from: NaiveDate, to: NaiveDate) -> Result<()> {
        if from > to {
            return Err(Error::Refused {
                code: "invalid_window",
                reason: "from must not be after to",
            });
        }
        if self.start(from) != from || self.end(to) != to {
            return Err(Error::Refused {
                code: "unaligned_window",
                reason: match self {
                    Period::Day => "from and to must be whole days",
                    Period::Week => "with period=week, from must be a Monday and to a Sunday",
                    Period::Month => {
                        "with period=month, from must be a month's first day and to a month's last"
                    }
                },
            });
        }
        Ok(())
    }
}

/// A table after disclosure control: each entry `Some(exact count)` if it
/// may be published, `None` if suppressed. Rounding is a separate step
/// ([`round_to`]) so the attacker test can grant the attacker exact values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// Row-major cells, `rows × cols`.
    pub cells: Vec<Option<u64>>,
    /// Each row's total.
    pub row_totals: Vec<Option<u64>>,
    /// Each column's total.
    pub column_totals: Vec<Option<u64>>,
    /// The grand total.
    pub total: Option<u64>,
}

/// Suppresses the cells and margins of a `rows × cols` table of counts
/// (row-major `counts`) so that no sensitive entry (1 … k−1) is published
/// or recoverable below k from what is (see the module doc for the rule).
/// `counts.len()` must be `rows * cols`; a mismatch publishes nothing.
pub fn protect(rows: usize, cols: usize, counts: &[u64], k: Threshold) -> Protected {
    let k = u64::from(k.get());
    if counts.len() != rows * cols {
        return Protected {
            cells: vec![None; counts.len()],
            row_totals: vec![None; rows],
            column_totals: vec![None; cols],
            total: None,
        };
    }
    let table = Network::new(rows, cols, counts);
    let sensitive = |v: u64| v > 0 && v < k;
    let mut suppressed: Vec<bool> = table.value.iter().map(|&v| sensitive(v)).collect();

    // Until every sensitive entry can be pushed to k by what is suppressed:
    // take the first that cannot, and suppress a published entry that
    // opens more room for it — one joining what it can already reach to
    // what can already reach it: the smallest (cells before margins) that
    // opens enough room on its own, so the least is lost, or else the one
    // that opens the most. When no single entry joins the two sides, the
    // largest cell touching either side goes, which widens it.
    // Suppression only grows and the table is finite, so this ends.
    while let Some((weak, need, room)) = (0..table.arcs())
        .filter(|&e| suppressed[e] && sensitive(table.value[e]))
        .map(|e| {
            let need = k - table.value[e];
            (e, need, table.headroom(&suppressed, e, need))
        })
        .find(|(_, need, room)| room.flow < *need)
    {
        let bridges: Vec<usize> = (0..table.arcs())
            .filter(|&a| !suppressed[a] && room.bridges(table.ends(a), table.value[a]))
            .collect();
        let chosen = if bridges.is_empty() {
            (0..table.arcs())
                .filter(|&a| !suppressed[a] && room.touches(table.ends(a), table.value[a]))
                .min_by_key(|&a| (table.is_margin(a), u64::MAX - table.value[a]))
        } else {
            let mut ranked = bridges;
            ranked.sort_by_key(|&a| (table.is_margin(a), table.value[a]));
            ranked.truncate(MAX_CANDIDATES);
            let mut best: Option<(u64, usize)> = None;
            for candidate in ranked {
                suppressed[candidate] = true;
                let gain = table.headroom(&suppressed, weak, need).flow;
                suppressed[candidate] = false;
                if gain >= need {
                    // The smallest entry that is enough on its own.
                    best = Some((gain, candidate));
                    break;
                }
                if best.is_none_or(|(g, _)| gain > g) {
                    best = Some((gain, candidate));
                }
            }
            best.map(|(_, candidate)| candidate)
        };
        match chosen {
            Some(entry) => suppressed[entry] = true,
            // Nothing around it is left to suppress and it still cannot
            // move: suppress everything rather than publish a risk.
            None => suppressed.iter_mut().for_each(|s| *s = true),
        }
    }

    let width = cols + 1;
    let publish = |e: usize| (!suppressed[e]).then_some(table.value[e]);
    Protected {
        cells: (0..rows)
            .flat_map(|i| (0..cols).map(move |j| i * width + j))
            .map(publish)
            .collect(),
        row_totals: (0..rows).map(|i| publish(i * width + cols)).collect(),
        column_totals: (0..cols).map(|j| publish(rows * width + j)).collect(),
        total: publish(rows * width + cols),
    }
}

/// Suppresses the cells and the total of a one-way table (a report by one
/// dimension: cells and their grand total, no other margins), by the same
/// rule as [`protect`]. Here the rule is plain arithmetic: an attacker who
/// knows the total and the published cells knows only the *sum* of the
/// suppressed ones, so a suppressed sensitive cell can be anything up to
/// that sum; it is protected when the sum is at least k. While it is not,
/// the smallest published cell that makes it so is suppressed too (or,
/// if none alone does, the largest), and if the cells run out the total
/// goes. Kept apart from [`protect`] because a one-way report fed to the
/// two-way network as an n × 1 table has row totals equal to its cells,
/// which made no single complement enough and cost the largest cell
/// instead of the smallest. `row_totals` and `column_totals` are empty.
pub fn protect_one_way(counts: &[u64], k: Threshold) -> Protected {
    let k = u64::from(k.get());
    let sensitive = |v: u64| v > 0 && v < k;
    let total: u64 = counts.iter().sum();
    let mut suppressed: Vec<bool> = counts.iter().map(|&v| sensitive(v)).collect();
    let mut total_suppressed = sensitive(total);
    while !total_suppressed {
        let weak = suppressed
            .iter()
            .zip(counts)
            .any(|(&s, &v)| s && sensitive(v));
        let room: u64 = suppressed
            .iter()
            .zip(counts)
            .filter(|(s, _)| **s)
            .map(|(_, &v)| v)
            .sum();
        if !weak || room >= k {
            break;
        }
        let need = k - room;
        let published = || {
            counts
                .iter()
                .enumerate()
                .filter(|&(i, &v)| v > 0 && !suppressed.get(i).copied().unwrap_or(true))
        };
        let enough = published()
            .filter(|&(_, &v)| v >= need)
            .min_by_key(|&(_, &v)| v);
        let chosen = enough.or_else(|| published().max_by_key(|&(_, &v)| v));
        match chosen.and_then(|(i, _)| suppressed.get_mut(i)) {
            Some(entry) => *entry = true,
            // Every cell is suppressed and still too little: without the
            // total there is no sum to solve for.
            None => total_suppressed = true,
        }
    }
    Protected {
        cells: counts
            .iter()
            .zip(&suppressed)
            .map(|(&v, &s)| (!s).then_some(v))
            .collect(),
        row_totals: Vec::new(),
        column_totals: Vec::new(),
        total: (!total_suppressed).then_some(total),
    }
}

/// Complements tried for one weak entry, at most (the smallest first), so
/// a table with thousands of rows stays quick.
const MAX_CANDIDATES: usize = 48;

/// A two-way table with its margins as a flow network: node `i` for row
/// `i`, `rows + j` for column `j`, and two more (`source`, `sink`). Entry
/// `(i, j)` of the extended array (row-major, width `cols + 1`; row `rows`
/// the column totals, column `cols` the row totals) is an arc: a cell from
/// its row to its column, a row total from `source` to the row, a column
/// total from the column to `sink`, the grand total from `sink` to
/// `source`. Every node conserves flow exactly when the table adds up, so
/// the values an attacker may give the suppressed entries are the
/// circulations on them that leave the published ones fixed.
struct Network {
    rows: usize,
    cols: usize,
    /// Each entry's true count.
    value: Vec<u64>,
}

impl Network {
    fn new(rows: usize, cols: usize, counts: &[u64]) -> Self {
        let width = cols + 1;
        let mut value = vec![0u64; width * (rows + 1)];
        for i in 0..rows {
            for j in 0..cols {
                let v = counts[i * cols + j];
                value[i * width + j] = v;
                value[i * width + cols] += v;
                value[rows * width + j] += v;
                value[rows * width + cols] += v;
            }
        }
        Self { rows, cols, value }
    }

    fn arcs(&self) -> usize {
        self.value.len()
    }

    fn is_margin(&self, e: usize) -> bool {
        let width = self.cols + 1;
        e / width == self.rows || e % width == self.cols
    }

    /// The arc's (from, to) nodes.
    fn ends(&self, e: usize) -> (usize, usize) {
        let width = self.cols + 1;
        let (i, j) = (e / width, e % width);
        let source = self.rows + self.cols;
        let sink = source + 1;
        match (i == self.rows, j == self.cols) {
            (false, false) => (i, self.rows + j),
            (false, true) => (source, i),
            (true, false) => (self.rows + j, sink),
            (true, true) => (sink, source),
        }
    }

    /// How far the attacker can raise entry `e` above its true value, given
    /// which entries are suppressed, counted up to `cap` ([`Room::flow`]):
    /// the maximum flow from `e`'s head back to its tail through the other
    /// suppressed arcs, each usable forwards without limit (raised) or
    /// backwards up to its value (lowered to zero). Augmenting paths by
    /// breadth-first search; each adds at least one, so at most `cap`
    /// searches.
    fn headroom(&self, suppressed: &[bool], e: usize, cap: u64) -> Room {
        let nodes = self.rows + self.cols + 2;
        // Residual edges as (to, capacity), paired: edge ^ 1 is its reverse.
        let mut to: Vec<usize> = Vec::new();
        let mut capacity: Vec<u64> = Vec::new();
        let mut adjacent: Vec<Vec<usize>> = vec![Vec::new(); nodes];
        for arc in (0..self.arcs()).filter(|&a| a != e && suppressed[a]) {
            let (from, target) = self.ends(arc);
            // Raising it pushes flow forwards; lowering it, backwards.
            adjacent[from].push(to.len());
            to.push(target);
            capacity.push(u64::MAX);
            adjacent[target].push(to.len());
            to.push(from);
            capacity.push(self.value[arc]);
        }
        let (tail, head) = self.ends(e);
        // Breadth-first over edges with room left, from `start`, following
        // edges forwards (`forwards`) or backwards.
        let search = |capacity: &[u64], start: usize, forwards: bool| {
            let mut via: Vec<Option<usize>> = vec![None; nodes];
            let mut seen = vec![false; nodes];
            seen[start] = true;
            let mut queue = std::collections::VecDeque::from([start]);
            while let Some(node) = queue.pop_front() {
                for &edge in &adjacent[node] {
                    // Backwards: the edge into `node` is `edge ^ 1`.
                    let (next, usable) = if forwards {
                        (to[edge], capacity[edge])
                    } else {
                        (to[edge], capacity[edge ^ 1])
                    };
                    if usable > 0 && !seen[next] {
                        seen[next] = true;
                        via[next] = Some(edge);
                        queue.push_back(next);
                    }
                }
            }
            (seen, via)
        };
        let mut flow = 0u64;
        while flow < cap {
            let (seen, via) = search(&capacity, head, true);
            if !seen[tail] {
                break;
            }
            let mut path = Vec::new();
            let mut node = tail;
            while let Some(edge) = via[node] {
                path.push(edge);
                node = to[edge ^ 1];
            }
            let bottleneck = path
                .iter()
                .map(|&edge| capacity[edge])
                .min()
                .unwrap_or(0)
                .min(cap - flow);
            if bottleneck == 0 {
                break;
            }
            for edge in path {
                capacity[edge] -= bottleneck;
                capacity[edge ^ 1] = capacity[edge ^ 1].saturating_add(bottleneck);
            }
            flow += bottleneck;
        }
        let (reach, _) = search(&capacity, head, true);
        let (reaching, _) = search(&capacity, tail, false);
        Room {
            flow,
            reach,
            reaching,
        }
    }
}

/// What [`Network::headroom`] found for one entry.
struct Room {
    /// How far it can be raised (up to the cap asked for).
    flow: u64,
    /// The nodes the remaining room reaches from the entry's head.
    reach: Vec<bool>,
    /// The nodes from which the remaining room reaches its tail.
    reaching: Vec<bool>,
}

impl Room {
    /// Whether suppressing the arc `(from, to)` of count `value` would
    /// open a new path: raised, from a reached node to a reaching one; or
    /// lowered (if it has anything to lower), the other way.
    fn bridges(&self, (from, to): (usize, usize), value: u64) -> bool {
        (self.reach[from] && self.reaching[to])
            || (value > 0 && self.reach[to] && self.reaching[from])
    }

    /// Whether suppressing the arc would widen either side.
    fn touches(&self, (from, to): (usize, usize), value: u64) -> bool {
        self.reach[from]
            || self.reaching[to]
            || (value > 0 && (self.reach[to] || self.reaching[from]))
    }
}

/// `value` rounded to the nearest multiple of `base` (halves up): the
/// rounding every published count gets (see the module doc).
pub fn round_to(value: u64, base: Threshold) -> u64 {
    let base = u64::from(base.get());
    value.saturating_add(base / 2) / base * base
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn k5() -> Threshold {
        Threshold::default()
    }

    #[test]
    fn a_threshold_below_three_is_refused() {
        assert!(Threshold::new(2).is_err());
        assert_eq!(Threshold::new(3).map(Threshold::get), Ok(3));
    }

    #[test]
    fn the_day_is_helsinkis_across_midnight_utc() {
        let late = Utc.with_ymd_and_hms(2026, 3, 31, 21, 30, 0).unwrap();
        assert_eq!(
            rollup_day(late),
            NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()
        );
    }

    #[test]
    fn handling_time_buckets_have_their_edges() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
        let after = |s: i64| Some(start + chrono::Duration::seconds(s));
        assert_eq!(HandlingTime::of(start, after(59)), HandlingTime::Under1m);
        assert_eq!(HandlingTime::of(start, after(60)), HandlingTime::From1To5m);
        assert_eq!(HandlingTime::of(start, after(3600)), HandlingTime::Over60m);
        assert_eq!(HandlingTime::of(start, None), HandlingTime::Unknown);
        assert_eq!(HandlingTime::of(start, after(-1)), HandlingTime::Unknown);
    }

    #[test]
    fn windows_must_be_whole_periods() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert!(Period::Month.check_window(d(2, 1), d(3, 31)).is_ok());
        assert!(Period::Month.check_window(d(2, 2), d(3, 31)).is_err());
        assert!(Period::Month.check_window(d(2, 1), d(2, 27)).is_err());
        // 2026-03-02 is a Monday.
        assert!(Period::Week.check_window(d(3, 2), d(3, 15)).is_ok());
        assert!(Period::Week.check_window(d(3, 3), d(3, 15)).is_err());
        assert!(Period::Day.check_window(d(3, 3), d(3, 2)).is_err());
        assert_eq!(Period::Week.label(d(3, 2)), "2026-W10");
    }

    #[test]
    fn a_small_cell_is_suppressed_with_its_complements() {
        // 2 × 2 with one small cell: every cell of the rectangle goes, the
        // margins stay.
        let protected = protect(2, 2, &[2, 10, 20, 30], k5());
        assert_eq!(protected.cells, vec![None, None, None, None]);
        assert_eq!(protected.row_totals, vec![Some(12), Some(50)]);
        assert_eq!(protected.total, Some(62));
    }

    #[test]
    fn a_table_without_small_cells_is_published_whole() {
        let protected = protect(2, 2, &[5, 10, 0, 30], k5());
        assert_eq!(protected.cells, vec![Some(5), Some(10), Some(0), Some(30)]);
    }

    #[test]
    fn a_one_way_table_loses_its_smallest_sufficient_complement() {
        // Two small cells whose sum reaches k cover each other.
        let protected = protect_one_way(&[3, 12, 40, 4], k5());
        assert_eq!(protected.cells, vec![None, Some(12), Some(40), None]);
        assert_eq!(protected.total, Some(59));
        // One small cell next to large ones: the smallest that is enough
        // goes (the 12, not the 40).
        let protected = protect_one_way(&[3, 12, 40], k5());
        assert_eq!(protected.cells, vec![None, None, Some(40)]);
        // The smallest that is enough, even when a smaller one exists.
        let protected = protect_one_way(&[3, 1, 6, 9], k5());
        assert_eq!(protected.cells, vec![None, None, None, Some(9)]);
        // A small total: the total goes, and the cells are all small.
        let protected = protect_one_way(&[1, 2, 0], k5());
        assert_eq!(protected.cells, vec![None, None, Some(0)]);
        assert_eq!(protected.total, None);
        // One small cell alone, nothing else to hide behind.
        let protected = protect_one_way(&[4, 0], k5());
        assert_eq!(protected.cells, vec![None, Some(0)]);
        assert_eq!(protected.total, None);
        // Nothing small: everything published.
        let protected = protect_one_way(&[5, 0, 9], k5());
        assert_eq!(protected.cells, vec![Some(5), Some(0), Some(9)]);
        assert_eq!(protected.total, Some(14));
    }

    #[test]
    fn rounding_goes_to_the_nearest_multiple_of_k() {
        assert_eq!(round_to(0, k5()), 0);
        assert_eq!(round_to(7, k5()), 5);
        assert_eq!(round_to(8, k5()), 10);
    }
}
