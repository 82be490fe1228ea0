//! The results table, printed as Markdown so that it reads in a terminal and pastes into
//! BENCHMARKS.md as it is: one column per server, the ratios the targets are written in, and
//! the load the machine had while each row was measured.

use crate::stats::Samples;
use crate::subjects::Subject;
use std::collections::BTreeMap;

/// How a metric's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Messages per second, higher is better.
    PerSecond,
    /// Milliseconds of latency, lower is better.
    Millis,
    /// KiB of memory, lower is better.
    KiB,
    /// CPU microseconds per message delivered (CPU seconds per million), lower is better.
    CpuPerMessage,
    /// CPU milliseconds over a window, lower is better.
    CpuMillis,
    /// consumer-client's CPU microseconds per message it printed (CPU seconds per million), lower
    /// is better: the client's cost, where the other units count the server's.
    ClientCpuPerMessage,
}

impl Unit {
    fn label(self) -> &'static str {
        match self {
            Unit::PerSecond => "msg/s (higher is better)",
            Unit::Millis => "ms (lower is better)",
            Unit::KiB => "KiB (lower is better)",
            Unit::CpuPerMessage => "server CPU µs per msg (lower is better)",
            Unit::CpuMillis => "server CPU ms (lower is better)",
            Unit::ClientCpuPerMessage => "consumer-client CPU µs per msg (lower is better)",
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        self == Unit::PerSecond
    }

    fn format(self, value: f64) -> String {
        match self {
            Unit::PerSecond => thousands(value.round() as u64),
            Unit::Millis | Unit::CpuPerMessage | Unit::ClientCpuPerMessage => {
                format!("{value:.2}")
            }
            Unit::KiB => format!("{value:.1}"),
            Unit::CpuMillis => format!("{value:.0}"),
        }
    }
}

/// What one server measured in one row.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// One value per repetition.
    Measured(Samples),
    /// Not measured, and why, in a word or two (absent, failed).
    Missing(String),
}

impl Outcome {
    /// The values when there are any, else why not.
    pub fn from_samples(samples: &Samples, missing: &str) -> Outcome {
        if samples.is_empty() && !samples.only_too_short() {
            Outcome::Missing(missing.to_string())
        } else {
            Outcome::Measured(samples.clone())
        }
    }

    fn median(&self) -> Option<f64> {
        match self {
            Outcome::Measured(samples) => samples.median(),
            Outcome::Missing(_) => None,
        }
    }

    fn cell(&self, unit: Unit) -> String {
        match self {
            Outcome::Measured(samples) if samples.only_too_short() => "too short to measure".into(),
            Outcome::Measured(samples) => match (samples.median(), samples.spread()) {
                (Some(median), Some((min, max))) if samples.len() > 1 => format!(
                    "{} ({}..{})",
                    unit.format(median),
                    unit.format(min),
                    unit.format(max)
                ),
                (Some(median), _) => unit.format(median),
                _ => "no value".into(),
            },
            Outcome::Missing(why) => why.clone(),
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Which workload and variant, such as `1b throughput, in-bench Rust consumer (plain)`.
    pub workload: String,
    /// What is measured and how its values read.
    pub unit: Unit,
    /// Each server that applies to this workload, and what it gave; a server not here does not
    /// apply (its cell stays empty).
    pub cells: BTreeMap<Subject, Outcome>,
    /// The 1-minute load average after each run of this row, so that a noisy row shows.
    pub load: Samples,
    /// Counts checked and anything a reader should know about this row.
    pub notes: String,
}

impl Row {
    /// ours / the best peer's median, and which peer that is.
    fn against_best_peer(&self) -> Option<(f64, Subject)> {
        let ours = self.cells.get(&Subject::Ours)?.median()?;
        let better = |a: f64, b: f64| {
            if self.unit.higher_is_better() {
                a > b
            } else {
                a < b
            }
        };
        let (best, peer) = self
            .cells
            .iter()
            .filter(|(subject, _)| subject.is_peer())
            .filter_map(|(subject, outcome)| Some((outcome.median()?, *subject)))
            .reduce(|a, b| if better(b.0, a.0) { b } else { a })?;
        (best > 0.0).then(|| (ours / best, peer))
    }

    /// ours / the floor's median.
    fn against_limit(&self) -> Option<f64> {
        let ours = self.cells.get(&Subject::Ours)?.median()?;
        let limit = self.cells.get(&Subject::Floor)?.median()?;
        (limit > 0.0).then(|| ours / limit)
    }
}

/// Prints `rows` as a Markdown table.
pub fn print(rows: &[Row]) {
    let names: Vec<&str> = Subject::ALL.iter().map(|s| s.name()).collect();
    println!(
        "| workload | metric | {} | ours / best peer | ours / limit | load (1 min) | counts, notes |",
        names.join(" | ")
    );
    println!("|---|---|{}---|---|---|---|", "---|".repeat(names.len()));
    for row in rows {
        let cells: Vec<String> = Subject::ALL
            .iter()
            .map(|subject| {
                row.cells
                    .get(subject)
                    .map_or(String::new(), |outcome| outcome.cell(row.unit))
            })
            .collect();
        let best = row.against_best_peer().map_or("-".into(), |(r, peer)| {
            format!("{} ({})", ratio(r), peer.name())
        });
        let limit = row.against_limit().map_or("-".into(), ratio);
        let load = match row.load.spread() {
            Some((low, high)) if high - low >= 0.005 => format!("{low:.2}..{high:.2}"),
            Some((low, _)) => format!("{low:.2}"),
            None => "-".into(),
        };
        println!(
            "| {} | {} | {} | {best} | {limit} | {load} | {} |",
            row.workload,
            row.unit.label(),
            cells.join(" | "),
            row.notes
        );
    }
}

/// A ratio with two significant digits at least, so that a small one never reads `0.00x`.
fn ratio(value: f64) -> String {
    let decimals = if value >= 0.1 || value <= 0.0 {
        2
    } else {
        (-value.log10().floor()) as usize + 1
    };
    format!("{value:.decimals$}x")
}

/// `1234567` as `1,234,567`.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(values: &[f64]) -> Samples {
        let mut samples = Samples::default();
        for v in values {
            samples.push(*v);
        }
        samples
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(Unit::Millis.format(1.234), "1.23");
        assert_eq!(ratio(0.734), "0.73x");
        assert_eq!(ratio(0.0234), "0.023x");
        assert_eq!(ratio(0.00412), "0.0041x");
        assert_eq!(ratio(12.0), "12.00x");
    }

    #[test]
    fn cells_show_median_and_spread_or_why_not() {
        assert_eq!(
            Outcome::Measured(samples(&[3.0, 1.0, 2.0])).cell(Unit::KiB),
            "2.0 (1.0..3.0)"
        );
        assert_eq!(Outcome::Missing("absent".into()).cell(Unit::KiB), "absent");
        let mut short = Samples::default();
        short.push_too_short();
        let outcome = Outcome::from_samples(&short, "failed");
        assert_eq!(outcome.cell(Unit::CpuPerMessage), "too short to measure");
        assert_eq!(outcome.median(), None, "no ratio from a run too short");
    }

    #[test]
    fn ratios_pick_the_best_peer_in_the_unit_direction() {
        let mut row = Row {
            workload: "w".into(),
            unit: Unit::Millis,
            cells: BTreeMap::new(),
            load: Samples::default(),
            notes: String::new(),
        };
        row.cells
            .insert(Subject::Ours, Outcome::Measured(samples(&[8.0])));
        row.cells
            .insert(Subject::Node, Outcome::Measured(samples(&[10.0])));
        row.cells
            .insert(Subject::Python, Outcome::Measured(samples(&[20.0])));
        row.cells
            .insert(Subject::Floor, Outcome::Measured(samples(&[4.0])));
        let (r, peer) = row.against_best_peer().unwrap();
        assert_eq!((r, peer), (0.8, Subject::Node));
        assert_eq!(row.against_limit(), Some(2.0));
        row.unit = Unit::PerSecond;
        assert_eq!(row.against_best_peer().unwrap().1, Subject::Python);
    }
}
