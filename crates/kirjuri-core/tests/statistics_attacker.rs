//! The attacker's test of the statistics' disclosure control (reference
//! §4 L.60; issue 15 §2): generated tables with many small cells go through
//! `statistics::protect`, and the attacker — granted every published cell
//! and margin *exactly*, i.e. without the rounding that also protects them —
//! solves a linear program for each suppressed sensitive entry's largest
//! feasible value. The rule checked is the upper protection level of the
//! threshold rule: no suppressed sensitive entry may be pinned below k (the
//! attacker's maximum must be at least k).
//!
//! Linear, not integer, programming is exact here: a two-way table with its
//! margins is a network-flow problem (cells are arcs from row to column
//! nodes, row totals arcs into the rows, column totals arcs out of the
//! columns, the grand total the arc closing the circuit), whose constraint
//! matrix is totally unimodular, so with integer published values every
//! vertex is integral and the LP's bounds are the integer program's.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test should fail loudly at the line that broke"
)]

use kirjuri_core::statistics::{Threshold, protect};
use minilp::{ComparisonOp, OptimizationDirection, Problem};

/// A bound on every unknown, far above any generated table's grand total,
/// so an attacker's program is never unbounded (reaching it means the
/// entry is unconstrained).
const BOUND: f64 = 1e7;

/// A deterministic generator (SplitMix64), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A table with many small cells: most cells 0 … 6, some large.
fn generate(rng: &mut Rng, rows: usize, cols: usize) -> Vec<u64> {
    (0..rows * cols)
        .map(|_| match rng.below(10) {
            0..=6 => rng.below(7),
            7 | 8 => 5 + rng.below(30),
            _ => 50 + rng.below(500),
        })
        .collect()
}

/// The extended table (cells and margins) as the attacker sees it:
/// `Some(v)` published, `None` unknown; with the true values alongside.
fn extended(rows: usize, cols: usize, counts: &[u64], k: Threshold) -> Vec<(Option<u64>, u64)> {
    let protected = protect(rows, cols, counts, k);
    let width = cols + 1;
    let mut out = vec![(None, 0); width * (rows + 1)];
    let row_total = |i: usize| (0..cols).map(|j| counts[i * cols + j]).sum::<u64>();
    let column_total = |j: usize| (0..rows).map(|i| counts[i * cols + j]).sum::<u64>();
    for i in 0..rows {
        for j in 0..cols {
            out[i * width + j] = (protected.cells[i * cols + j], counts[i * cols + j]);
        }
        out[i * width + cols] = (protected.row_totals[i], row_total(i));
    }
    for j in 0..cols {
        out[rows * width + j] = (protected.column_totals[j], column_total(j));
    }
    out[rows * width + cols] = (protected.total, counts.iter().sum());
    out
}

/// The attacker's largest feasible value of entry `target`, or `None` when
/// it is unbounded.
fn attacker_max(
    rows: usize,
    cols: usize,
    table: &[(Option<u64>, u64)],
    target: usize,
) -> Option<f64> {
    let width = cols + 1;
    let mut problem = Problem::new(OptimizationDirection::Maximize);
    let vars: Vec<Option<minilp::Variable>> = table
        .iter()
        .enumerate()
        .map(|(e, (published, _))| match published {
            Some(_) => None,
            None => Some(problem.add_var(if e == target { 1.0 } else { 0.0 }, (0.0, BOUND))),
        })
        .collect();
    // Each line: its cells add up to its margin (the last entry).
    let mut lines: Vec<Vec<usize>> = Vec::new();
    for i in 0..=rows {
        lines.push((0..width).map(|j| i * width + j).collect());
    }
    for j in 0..width {
        lines.push((0..=rows).map(|i| i * width + j).collect());
    }
    for line in lines {
        let (margin, cells) = line.split_last().unwrap();
        let mut terms = Vec::new();
        let mut constant = 0.0;
        for (e, sign) in cells.iter().map(|&e| (e, 1.0)).chain([(*margin, -1.0)]) {
            match (table[e].0, vars[e]) {
                (Some(v), _) => constant += sign * v as f64,
                (None, Some(var)) => terms.push((var, sign)),
                (None, None) => unreachable!(),
            }
        }
        if terms.is_empty() {
            assert!(constant.abs() < 1e-9, "published values must add up");
            continue;
        }
        problem.add_constraint(&terms, ComparisonOp::Eq, -constant);
    }
    match problem.solve() {
        Ok(solution) => Some(solution.objective()),
        Err(minilp::Error::Unbounded) => None,
        Err(e) => panic!("the published table must be feasible: {e}"),
    }
}

fn play(seed: u64, tables: usize, k: Threshold) -> (usize, usize) {
    let mut rng = Rng(seed);
    let (mut attacked, mut suppressed_sensitive) = (0, 0);
    let (mut safe, mut safe_published) = (0usize, 0usize);
    for _ in 0..tables {
        let rows = 1 + rng.below(7) as usize;
        let cols = 1 + rng.below(6) as usize;
        let counts = generate(&mut rng, rows, cols);
        let table = extended(rows, cols, &counts, k);
        let kf = f64::from(k.get());
        for (e, (published, value)) in table.iter().enumerate() {
            let sensitive = *value > 0 && *value < u64::from(k.get());
            if sensitive {
                assert!(
                    published.is_none(),
                    "a sensitive entry was published: {counts:?} ({rows}×{cols})"
                );
            }
            if !sensitive {
                safe += 1;
                safe_published += usize::from(published.is_some());
            }
            if published.is_none() && sensitive {
                suppressed_sensitive += 1;
                let max = attacker_max(rows, cols, &table, e);
                if let Some(max) = max {
                    assert!(
                        max + 1e-6 >= kf,
                        "entry {e} (true {value}) pinned to at most {max} < k in {counts:?} ({rows}×{cols})"
                    );
                }
            }
        }
        attacked += 1;
    }
    // Protection that suppresses everything would pass the attacker: the
    // tables must stay useful, most of what is safe still published.
    assert!(
        safe_published * 2 > safe,
        "only {safe_published} of {safe} safe entries published"
    );
    (attacked, suppressed_sensitive)
}

#[test]
fn no_suppressed_cell_of_many_small_cells_is_pinned_below_k_from_the_margins() {
    let (tables, attacked_cells) = play(15, 400, Threshold::default());
    assert_eq!(tables, 400);
    // The data really had small cells to protect.
    assert!(
        attacked_cells > 1000,
        "only {attacked_cells} cells were attacked"
    );
}

#[test]
fn the_lowest_threshold_protects_too() {
    let (_, attacked_cells) = play(3, 200, Threshold::new(3).unwrap());
    assert!(attacked_cells > 100);
}

#[test]
fn the_attacker_recovers_a_cell_left_alone_in_its_row() {
    // The attacker's solver is real: with only primary suppression (the
    // small cell alone in its row), the row total gives it away exactly.
    let table = vec![
        (None, 2),
        (Some(10), 10),
        (Some(12), 12),
        (Some(20), 20),
        (Some(30), 30),
        (Some(50), 50),
        (Some(22), 22),
        (Some(40), 40),
        (Some(62), 62),
    ];
    let max = attacker_max(2, 2, &table, 0).unwrap();
    assert!((max - 2.0).abs() < 1e-9);
}
