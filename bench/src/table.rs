//! The results table, printed as Markdown so that it reads in a terminal and pastes into
//! BENCHMARKS.md as it is.

use crate::stats::Samples;

/// How a metric's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Messages per second, higher is better.
    PerSecond,
    /// Milliseconds of latency, lower is better.
    Millis,
    /// KiB of memory, lower is better.
    KiB,
    /// CPU seconds per million messages, lower is better.
    CpuPerMillion,
}

impl Unit {
    fn label(self) -> &'static str {
        match self {
            Unit::PerSecond => "msg/s (higher is better)",
            Unit::Millis => "ms (lower is better)",
            Unit::KiB => "KiB (lower is better)",
            Unit::CpuPerMillion => "CPU s per 1M msgs (lower is better)",
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Unit::PerSecond => thousands(value.round() as u64),
            Unit::Millis => format!("{value:.2}"),
            Unit::KiB => format!("{value:.1}"),
            Unit::CpuPerMillion => format!("{value:.3}"),
        }
    }
}

/// What one side of a row measured.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// One value per repetition.
    Measured(Samples),
    /// Not measured, and why (no Python, broadcast not available, a run failed).
    Missing(String),
}

impl Outcome {
    fn median(&self) -> Option<f64> {
        match self {
            Outcome::Measured(samples) => samples.median(),
            Outcome::Missing(_) => None,
        }
    }

    fn cell(&self, unit: Unit) -> String {
        match self {
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
    /// Which workload and variant, such as `1a throughput, plain, consumer-client | pipe`.
    pub workload: String,
    /// What is measured and how its values read.
    pub unit: Unit,
    /// producer-server's values.
    pub ours: Outcome,
    /// The Python baseline's values.
    pub baseline: Outcome,
    /// Counts checked and anything a reader should know about this row.
    pub notes: String,
}

/// Prints `rows` as a Markdown table.
pub fn print(rows: &[Row]) {
    println!("| workload | metric | ours: median (min..max) | baseline: median (min..max) | ours/baseline | counts, notes |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        let ratio = match (row.ours.median(), row.baseline.median()) {
            (Some(ours), Some(base)) if base > 0.0 => format!("{:.2}x", ours / base),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.workload,
            row.unit.label(),
            row.ours.cell(row.unit),
            row.baseline.cell(row.unit),
            ratio,
            row.notes
        );
    }
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

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(Unit::Millis.format(1.234), "1.23");
    }

    #[test]
    fn cells_show_median_and_spread() {
        let mut samples = Samples::default();
        for v in [3.0, 1.0, 2.0] {
            samples.push(v);
        }
        assert_eq!(Outcome::Measured(samples).cell(Unit::KiB), "2.0 (1.0..3.0)");
        assert_eq!(
            Outcome::Missing("not available".into()).cell(Unit::KiB),
            "not available"
        );
    }
}
