//! The workloads, each bounded in count and time, each run against every server that applies,
//! servers interleaved: repetition 1 of every server, then repetition 2, and so on, so that a
//! change in the machine's load touches them all alike.
//!
//! - [`throughput`]: one consumer at `--interval 0`, through consumer-client or the bench's own
//!   consumer; one consumer of standard input; and the server CPU per message of each.
//! - [`fanout`]: broadcast to many consumers: latency at 10 msg/s, deliveries at `--interval 0`,
//!   and the server CPU per delivery of each.
//! - [`memory`]: resident memory per idle connection, and per consumer that never reads.
//! - [`idle_cpu`]: what a broadcast server with consumers and nothing to send spends.
//! - [`client_cost`]: what consumer-client itself spends per message from each server at
//!   `--interval 0`.
//! - [`redis`]: the Redis engine: a pipeline through Redis against `redis-benchmark`'s XADD rate,
//!   and fan-out from two nodes against one.

pub mod client_cost;
pub mod fanout;
pub mod idle_cpu;
pub mod memory;
pub mod redis;
pub mod throughput;

use crate::plan::Plan;
use crate::stats::Samples;
use crate::subjects::{Mode, Servers, Subject};
use crate::system;
use crate::table::{Outcome, Row, Unit};
use std::collections::BTreeMap;

/// Server CPU seconds below which a cost is not given: `/proc` counts CPU time in 10 ms ticks,
/// so a run that used less than ten of them would print a cost off by over 10%, or 0.
pub const MIN_CPU_SECONDS: f64 = 0.1;

/// What every workload needs, and where it reports failed checks.
pub struct Bench<'a> {
    /// Starts the servers under test.
    pub servers: &'a Servers,
    /// The sizes.
    pub plan: &'a Plan,
    /// Checks of producer-server, consumer-client or the floor that failed (counts, order, a run
    /// that did not complete): any makes the bench exit non-zero. A peer's failures are notes.
    pub failures: Vec<String>,
}

impl Bench<'_> {
    /// The servers that run `mode` here: those that serve it and are there.
    pub fn subjects(&self, mode: Mode) -> Vec<Subject> {
        serving(mode)
            .into_iter()
            .filter(|subject| self.servers.available(*subject))
            .collect()
    }

    /// Records that a run of `subject` failed: a failure of the bench's own code (ours, the
    /// floor), a note for a peer.
    pub fn failed(&mut self, subject: Subject, what: &str, error: &str, notes: &mut Vec<String>) {
        match subject {
            Subject::Ours | Subject::Floor => self.failures.push(format!("{what}: {error}")),
            peer => {
                eprintln!("bench: {} {what}: {error}", peer.name());
                notes.push(format!("{} failed: {error}", peer.name()));
            }
        }
    }
}

/// One measurement's values for every server, and the load while it ran.
#[derive(Debug, Default, Clone)]
pub struct Measured {
    /// Each server's values.
    by: BTreeMap<Subject, Samples>,
    /// The 1-minute load average after each run.
    pub load: Samples,
}

impl Measured {
    /// The values of `subject`.
    pub fn of(&mut self, subject: Subject) -> &mut Samples {
        self.by.entry(subject).or_default()
    }

    /// Notes the machine's load after a run.
    pub fn note_load(&mut self) {
        if let Some(load) = system::load_one_minute() {
            self.load.push(load);
        }
    }

    /// Adds one run's cost: `cpu_seconds` of server CPU for `messages` deliveries, in CPU µs per
    /// message, or "too short" below [`MIN_CPU_SECONDS`].
    pub fn push_cost(&mut self, subject: Subject, cpu_seconds: f64, messages: u64) {
        let samples = self.of(subject);
        if cpu_seconds < MIN_CPU_SECONDS || messages == 0 {
            samples.push_too_short();
        } else {
            samples.push(cpu_seconds / messages as f64 * 1e6);
        }
    }

    /// The row of these values: a cell for every server in `applies`, "absent" for those that
    /// are not here, "failed" for those that gave nothing.
    pub fn row(
        &self,
        bench: &Bench,
        applies: &[Subject],
        workload: String,
        unit: Unit,
        notes: String,
    ) -> Row {
        let cells = applies
            .iter()
            .map(|&subject| {
                let outcome = if !bench.servers.available(subject) {
                    Outcome::Missing("absent".into())
                } else {
                    let empty = Samples::default();
                    let samples = self.by.get(&subject).unwrap_or(&empty);
                    Outcome::from_samples(samples, "failed (see notes)")
                };
                (subject, outcome)
            })
            .collect();
        Row {
            workload,
            unit,
            cells,
            load: self.load.clone(),
            notes,
        }
    }

    /// The median of `subject`'s values, for the chart.
    pub fn median(&self, subject: Subject) -> Option<f64> {
        self.by.get(&subject)?.median()
    }
}

/// The servers that serve `mode`, here or not: the cells of its rows.
pub fn serving(mode: Mode) -> Vec<Subject> {
    Subject::ALL
        .into_iter()
        .filter(|subject| subject.serves(mode))
        .collect()
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
