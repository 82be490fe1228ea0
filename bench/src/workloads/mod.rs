//! The workloads of issue 4, each bounded in count and time, each run against producer-server
//! and the Python baseline in turn, repetition after repetition.
//!
//! - [`throughput`]: one consumer at `--interval 0` (1), and its cost per message (4).
//! - [`fanout`]: broadcast to many consumers: latency at 10 msg/s, deliveries at `--interval 0`
//!   (2), and their cost per message (4).
//! - [`memory`]: resident memory per idle connection (3).
//! - [`redis`]: the Redis engine of issue 12: pipeline rate against `redis-benchmark`, fan-out
//!   from two nodes against one.

pub mod fanout;
pub mod memory;
pub mod redis;
pub mod throughput;

use crate::plan::Plan;
use crate::stats::Samples;
use crate::subjects::{Servers, Subject};
use crate::table::Outcome;

/// What every workload needs, and where it reports failed checks.
pub struct Bench<'a> {
    /// Starts the servers under test.
    pub servers: &'a Servers,
    /// The sizes.
    pub plan: &'a Plan,
    /// Checks of producer-server or consumer-client that failed (counts, order, a run that did
    /// not complete): any makes the bench exit non-zero.
    pub failures: Vec<String>,
}

impl Bench<'_> {
    /// The subjects to measure: producer-server, and the baseline when there is a Python.
    pub fn subjects(&self) -> Vec<Subject> {
        let mut subjects = vec![Subject::Ours];
        if self.servers.python.is_some() {
            subjects.push(Subject::Baseline);
        }
        subjects
    }

    /// Why a baseline cell holds no value.
    pub fn baseline_missing(&self) -> &'static str {
        if self.servers.python.is_some() {
            "failed (see notes)"
        } else {
            "not measured: no Python with websockets"
        }
    }

    /// Records that a run of `subject` failed: a failure of ours, a note for the baseline
    /// (it is not the code under test).
    pub fn failed(&mut self, subject: Subject, what: &str, error: &str, notes: &mut Vec<String>) {
        match subject {
            Subject::Ours => self.failures.push(format!("{what}: {error}")),
            Subject::Baseline => {
                eprintln!("bench: baseline {what}: {error}");
                notes.push(format!("baseline failed: {error}"));
            }
        }
    }
}

/// One measurement's values for both subjects.
#[derive(Debug, Default, Clone)]
pub struct Pair {
    /// producer-server's values.
    pub ours: Samples,
    /// The baseline's values.
    pub baseline: Samples,
}

impl Pair {
    /// The values of `subject`.
    pub fn of(&mut self, subject: Subject) -> &mut Samples {
        match subject {
            Subject::Ours => &mut self.ours,
            Subject::Baseline => &mut self.baseline,
        }
    }

    /// The two cells of a row; `baseline_missing` says why the baseline has no value.
    pub fn outcomes(&self, ours_missing: &str, baseline_missing: &str) -> (Outcome, Outcome) {
        let cell = |samples: &Samples, why: &str| {
            if samples.is_empty() {
                Outcome::Missing(why.to_string())
            } else {
                Outcome::Measured(samples.clone())
            }
        };
        (
            cell(&self.ours, ours_missing),
            cell(&self.baseline, baseline_missing),
        )
    }
}

/// Notes without repeats, in the order first seen, joined for a table cell.
pub fn join_notes(notes: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for note in notes {
        if !seen.contains(&note.as_str()) {
            seen.push(note);
        }
    }
    seen.join("; ")
}
