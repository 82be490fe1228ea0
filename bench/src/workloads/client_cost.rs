//! Workload 6, client cost (issue 11): what consumer-client itself spends per message, reading
//! as fast as each server writes (`--interval 0`, prodcon.v1) and printing to a pipe the bench
//! drains and checks. A server that writes one frame per system call (Python's `websockets`,
//! Node's `ws`, Go's gorilla) wakes the client far more often than producer-server, which
//! writes its messages in bursts: this row shows what that costs the client, and what its
//! pacing saves.
//!
//! The client's utime+stime is read from `/proc` once it has exited and before it is reaped,
//! so that every thread it ran is counted.

use super::{join_notes, serving, Bench, Measured};
use crate::subjects::{Mode, Subject};
use crate::table::{Row, Unit};
use common::Format;
use harness::{exit_watch, proc_stats};
use std::path::Path;
use std::time::Duration;

/// How long a client whose output has ended may take to exit.
const EXIT_LIMIT: Duration = Duration::from_secs(5);

/// Runs the workload: one row, a cell per server.
pub fn run(bench: &mut Bench) -> Vec<Row> {
    let plan = bench.plan;
    let mode = Mode::PerConnection {
        interval: Duration::ZERO,
        format: Format::JsonV1,
    };
    let label = format!(
        "6 client cost: consumer-client --count N reading a server at --interval 0 (prodcon.v1) into a pipe, N = {} (peers {})",
        plan.messages, plan.client_messages
    );
    let mut cpu = Measured::default();
    let mut notes = Vec::new();
    for rep in 0..plan.reps {
        for subject in bench.subjects(mode) {
            // The client spends a fraction of a µs per message of ours: a run of ours needs
            // more of them to count 0.1 CPU-s, and takes far less time.
            let messages = match subject {
                Subject::Ours => plan.messages,
                _ => plan.client_messages,
            };
            let what = format!("{label} rep {}", rep + 1);
            match measure(bench, subject, mode, messages) {
                Ok(seconds) => cpu.push_cost(subject, seconds, messages),
                Err(error) => bench.failed(subject, &what, &error, &mut notes),
            }
            cpu.note_load();
        }
    }
    let mut counts = "utime+stime of consumer-client over its whole run (connecting included), per message; each run checked 1..N in order".to_string();
    if !notes.is_empty() {
        counts = format!("{counts}; {}", join_notes(&notes));
    }
    vec![cpu.row(
        bench,
        &serving(mode),
        label,
        Unit::ClientCpuPerMessage,
        counts,
    )]
}

/// One run: a fresh server, consumer-client reading `messages` from it. Returns the client's CPU
/// seconds.
fn measure(bench: &Bench, subject: Subject, mode: Mode, messages: u64) -> Result<f64, String> {
    let server = bench.servers.start(subject, mode)?;
    client_cpu(&bench.servers.client, &server.url, messages)
        .map_err(|e| format!("{e}; server log: {}", server.log_tail()))
}

/// `consumer-client URL --count messages`, its stdout checked by the bench; its CPU seconds.
fn client_cpu(client: &Path, url: &str, messages: u64) -> Result<f64, String> {
    // Once its output has ended it is exiting: its CPU time is read while it is a zombie, all
    // its threads accounted and not yet reaped.
    let (_, cpu) = super::throughput::run_client(client, url, messages, |pid| {
        exited(pid, EXIT_LIMIT).and_then(|()| {
            proc_stats::cpu_seconds(pid).map_err(|e| format!("consumer-client's CPU time: {e}"))
        })
    })?;
    cpu
}

/// Waits, at most `limit`, until process `pid` has exited, without reaping it.
fn exited(pid: u32, limit: Duration) -> Result<(), String> {
    match exit_watch::exited_within(pid, limit) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "consumer-client still running {limit:?} after its output ended"
        )),
        Err(e) => Err(format!("waiting for consumer-client to exit: {e}")),
    }
}
