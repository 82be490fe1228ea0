//! Workload 2, fan-out: one broadcast stream to many consumers held by this process. At 10
//! messages per second: latency (receipt time minus the envelope's `time`) with every message
//! accounted for; at `--interval 0`: deliveries per second in all. And workload 4 for both,
//! server CPU microseconds per delivery. The floor runs the same crowd: its latency and CPU are
//! the limit column.

use super::{join_notes, serving, Bench, Measured};
use crate::consumers::Clock;
use crate::crowd::{self, Spec, Summary};
use crate::stats::percentile;
use crate::subjects::{Mode, Subject};
use crate::table::{Row, Unit};
use std::collections::BTreeMap;
use std::time::Duration;

/// Read buffer of each subscriber of the rate runs: enough for a burst of envelopes, small
/// enough that ten thousand of them cost the bench little memory.
const RATE_READ_BUFFER: usize = 16 * 1024;

/// Read buffer of each subscriber of the latency runs, where a read finds an envelope or two:
/// tungstenite zeroes the whole buffer before every read (the one that finds nothing included),
/// and at 16 KiB that was a tenth of the bench's CPU at 5,000 consumers, CPU the servers under
/// test then lacked (the bench and the server share the cores).
const LATENCY_READ_BUFFER: usize = 1024;

/// What the runs of one size give.
#[derive(Default)]
struct Results {
    /// Latency percentiles p50, p99 and max, in milliseconds (latency runs).
    latency: [Measured; 3],
    /// Deliveries per second in all (rate runs).
    rate: Measured,
    /// Server CPU microseconds per delivery.
    cpu: Measured,
    /// The counts of each server's runs.
    counts: BTreeMap<Subject, Counts>,
    /// Failures of peers' runs.
    notes: Vec<String>,
}

impl Results {
    /// The counts of every server, and the peers' failures, for the notes cell.
    fn notes(&self, clock: Clock) -> String {
        let mut notes = Vec::new();
        for (subject, counts) in &self.counts {
            if counts.runs > 0 {
                notes.push(format!("{}: {}", subject.name(), counts.describe(clock)));
            }
        }
        notes.extend(self.notes.iter().cloned());
        join_notes(&notes)
    }
}

/// One point of the chart: a server's median p50 and p99 at a number of consumers.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    /// Consumers.
    pub consumers: usize,
    /// Median over the runs of the p50 latency, in milliseconds.
    pub p50: f64,
    /// Median over the runs of the p99 latency, in milliseconds.
    pub p99: f64,
}

/// What the workload gives: its rows, its cost rows, and the chart's points by server.
pub struct Outcome {
    /// Latency and rate rows.
    pub rows: Vec<Row>,
    /// Cost rows.
    pub costs: Vec<Row>,
    /// Latency against consumers, for the chart.
    pub curves: BTreeMap<Subject, Vec<Point>>,
}

/// The counts of one subject's runs, added up.
#[derive(Debug, Default)]
struct Counts {
    /// Runs made.
    runs: usize,
    /// Runs in which every consumer got every message of the window, in order.
    complete_runs: usize,
    /// Consumers per run.
    consumers: usize,
    /// The fewest and the most messages produced in a run's window (latency runs).
    per_window: Option<(u64, u64)>,
    /// Messages received in the windows, in all.
    received: u64,
    /// Sequence numbers skipped, in all.
    missing: u64,
    /// Messages out of order or repeated, in all.
    disorder: u64,
    /// Consumers that were not done when the grace time ran out, in all.
    unfinished: usize,
    /// Connections that failed, in all.
    failed: usize,
    /// Consumers closed by the server, by close code, in all.
    closed: std::collections::BTreeMap<u16, usize>,
}

impl Counts {
    fn add(&mut self, summary: &Summary, clock: Clock) {
        self.runs += 1;
        if problem(summary, clock).is_none() {
            self.complete_runs += 1;
        }
        self.consumers = summary.consumers;
        let each = summary.expected_each;
        self.per_window = Some(
            self.per_window
                .map_or((each, each), |(low, high)| (low.min(each), high.max(each))),
        );
        self.received += summary.in_window;
        self.missing += summary.missing;
        self.disorder += summary.disorder;
        self.unfinished += summary.unfinished;
        self.failed += summary.failed.0;
        for (code, count) in &summary.closed {
            *self.closed.entry(*code).or_default() += count;
        }
    }

    fn describe(&self, clock: Clock) -> String {
        let mut text = match clock {
            Clock::Produced => {
                let (low, high) = self.per_window.unwrap_or_default();
                let span = if low == high {
                    low.to_string()
                } else {
                    format!("{low}..{high}")
                };
                format!(
                    "{}/{} runs where each of {} consumers got all {span} msgs of the window in order",
                    self.complete_runs, self.runs, self.consumers
                )
            }
            Clock::Received => format!(
                "{} runs x {} consumers, {} msgs checked in order",
                self.runs, self.consumers, self.received
            ),
        };
        if self.missing > 0 || self.disorder > 0 {
            text += &format!(", {} missing, {} out of order", self.missing, self.disorder);
        }
        if self.unfinished > 0 {
            text += &format!(", {} consumer-runs not done in time", self.unfinished);
        }
        if self.failed > 0 {
            text += &format!(", {} connections failed", self.failed);
        }
        for (code, count) in &self.closed {
            text += &format!(", {count} consumer-runs closed with {code}");
        }
        text
    }
}

/// Runs the workload.
pub fn run(bench: &mut Bench) -> Outcome {
    let mut rows = Vec::new();
    let mut costs = Vec::new();
    let mut curves: BTreeMap<Subject, Vec<Point>> = BTreeMap::new();
    let interval = bench.plan.fanout_interval;
    let applies = serving(Mode::Broadcast { interval });
    for consumers in bench.plan.fanout.clone() {
        let label = format!(
            "2 fan-out latency, {consumers} consumers, --broadcast --interval {}ms (prodcon.v1)",
            interval.as_millis()
        );
        let results = repeat(bench, &label, consumers, Clock::Produced, interval);
        // A server whose sweep outlasts the interval may send fewer messages than the pace asks
        // for (a timer that waits for a busy loop): its latency is then that of a lighter load.
        let asked = bench.plan.latency_window.as_micros() / interval.as_micros().max(1);
        for (i, name) in ["p50", "p99", "max"].iter().enumerate() {
            let notes = if i == 0 {
                format!(
                    "the pace asks for {asked} msgs in the window; {}",
                    results.notes(Clock::Produced)
                )
            } else {
                String::new()
            };
            rows.push(results.latency[i].row(
                bench,
                &applies,
                format!("{label}: {name}"),
                Unit::Millis,
                notes,
            ));
        }
        for subject in &applies {
            let p50 = results.latency[0].median(*subject);
            let p99 = results.latency[1].median(*subject);
            if let (Some(p50), Some(p99)) = (p50, p99) {
                curves.entry(*subject).or_default().push(Point {
                    consumers,
                    p50,
                    p99,
                });
            }
        }
        costs.push(cost_row(bench, &applies, &label, &results));
    }
    let consumers = bench.plan.rate_consumers;
    let label =
        format!("2 fan-out rate, {consumers} consumers, --broadcast --interval 0 (prodcon.v1)");
    let results = repeat(bench, &label, consumers, Clock::Received, Duration::ZERO);
    let applies = serving(Mode::Broadcast {
        interval: Duration::ZERO,
    });
    rows.push(results.rate.row(
        bench,
        &applies,
        format!("{label}: deliveries in all"),
        Unit::PerSecond,
        results.notes(Clock::Received),
    ));
    costs.push(cost_row(bench, &applies, &label, &results));
    Outcome {
        rows,
        costs,
        curves,
    }
}

fn cost_row(bench: &Bench, applies: &[Subject], label: &str, results: &Results) -> Row {
    results.cpu.row(
        bench,
        applies,
        format!("4 cost: {label}"),
        Unit::CpuPerMessage,
        "utime+stime of the server process over the window, per delivery".into(),
    )
}

/// Runs `reps` repetitions against each server, interleaved.
fn repeat(
    bench: &mut Bench,
    label: &str,
    consumers: usize,
    clock: Clock,
    interval: Duration,
) -> Results {
    let mut results = Results::default();
    for rep in 0..bench.plan.reps {
        for subject in bench.subjects(Mode::Broadcast { interval }) {
            let what = format!("{label} rep {}", rep + 1);
            let summary = match measure(bench, subject, consumers, clock, interval) {
                Ok(summary) => summary,
                Err(error) => {
                    bench.failed(subject, &what, &error, &mut results.notes);
                    continue;
                }
            };
            results
                .counts
                .entry(subject)
                .or_default()
                .add(&summary, clock);
            if let Some(problem) = problem(&summary, clock) {
                bench.failed(subject, &what, &problem, &mut Vec::new());
            }
            record(&mut results, subject, &summary, clock);
        }
    }
    results
}

/// Adds one run's numbers to `results`.
fn record(results: &mut Results, subject: Subject, summary: &Summary, clock: Clock) {
    results
        .cpu
        .push_cost(subject, summary.server_cpu, summary.received_since_start);
    results.cpu.note_load();
    match clock {
        Clock::Produced => {
            for (i, fraction) in [0.5, 0.99, 1.0].into_iter().enumerate() {
                if let Some(micros) = percentile(&summary.latencies, fraction) {
                    results.latency[i].of(subject).push(micros as f64 / 1000.0);
                }
                results.latency[i].note_load();
            }
        }
        Clock::Received => {
            let seconds = summary.measured_for.as_secs_f64();
            if seconds > 0.0 {
                results
                    .rate
                    .of(subject)
                    .push(summary.in_window as f64 / seconds);
            }
            results.rate.note_load();
        }
    }
}

/// Why a run of the server cannot be counted, if it cannot. At 10 msg/s every consumer must get
/// every message in order; at `--interval 0` consumers closed as slow (4000), even all of them, are the documented
/// behaviour, but a gap, a repeat or a failed connection is not.
fn problem(summary: &Summary, clock: Clock) -> Option<String> {
    let lossless = summary.missing == 0 && summary.disorder == 0 && summary.failed.0 == 0;
    let ok = match clock {
        Clock::Produced => summary.all_delivered() && summary.expected_each > 0,
        // A producer that never waits can outrun every consumer: closing them with 4000 is
        // the documented answer, so a run where all were closed before the window still passes.
        Clock::Received => lossless,
    };
    (!ok).then(|| describe(summary, clock))
}

/// The counts of a run, in a few words.
fn describe(summary: &Summary, clock: Clock) -> String {
    let mut text = match clock {
        Clock::Produced => format!(
            "{}/{} consumers got all {} msgs in order",
            summary.complete, summary.consumers, summary.expected_each
        ),
        Clock::Received => format!(
            "{} consumers, {} msgs in {:.1}s",
            summary.consumers,
            summary.in_window,
            summary.measured_for.as_secs_f64()
        ),
    };
    if summary.missing > 0 || summary.disorder > 0 {
        text += &format!(
            ", {} missing, {} out of order",
            summary.missing, summary.disorder
        );
    }
    if summary.unfinished > 0 {
        text += &format!(", {} not done in time", summary.unfinished);
    }
    for (code, count) in &summary.closed {
        text += &format!(", {count} closed with {code}");
    }
    if let (count @ 1.., Some(error)) = &summary.failed {
        text += &format!(", {count} failed ({error})");
    }
    text
}

/// One run: a fresh broadcast server and `consumers` subscribers.
fn measure(
    bench: &Bench,
    subject: Subject,
    consumers: usize,
    clock: Clock,
    interval: Duration,
) -> Result<Summary, String> {
    let server = bench.servers.start(subject, Mode::Broadcast { interval })?;
    let plan = bench.plan;
    let window = match clock {
        Clock::Produced => plan.latency_window,
        Clock::Received => plan.rate_window,
    };
    let spec = Spec {
        url: server.url.clone(),
        consumers,
        clock,
        window,
        settle: Duration::from_millis(500),
        connect_limit: Duration::from_secs(20) + Duration::from_millis(10) * consumers as u32,
        grace: Duration::from_secs(10).max(window * 2),
        read_buffer: match clock {
            Clock::Produced => LATENCY_READ_BUFFER,
            Clock::Received => RATE_READ_BUFFER,
        },
    };
    async_std::task::block_on(crowd::run(&spec, server.pid()))
        .map_err(|e| format!("{e}; server log: {}", server.log_tail()))
}
