//! Workload 3, memory: the server's resident memory per connection that costs it least (idle:
//! connected, nothing to send, `--interval 1h`) and per connection that costs it most (stalled:
//! `--interval 0`, per-connection mode, a consumer that never reads, issue 9). Both in
//! per-connection mode, the seed's pattern.

use super::{join_notes, serving, Bench, Measured};
use crate::subjects::{Mode, Subject};
use crate::table::{Row, Unit};
use crate::ws_client;
use common::Format;
use harness::proc_stats;
use std::time::{Duration, Instant};

/// Time for a server to finish setting connections up before its memory is read.
const SETTLE: Duration = Duration::from_millis(500);

/// Read buffer of each client: it reads nothing, and thousands of them share this process.
const READ_BUFFER: usize = 4 * 1024;

/// How often the memory of a server with stalled consumers is read while it grows.
const GROWTH_POLL: Duration = Duration::from_millis(250);

/// Reads in a row within [`STEADY_KIB`] of each other that make a stalled server's memory
/// steady: its queues and socket buffers are full.
const STEADY_READS: usize = 4;

/// How far apart steady reads may be, in KiB.
const STEADY_KIB: u64 = 256;

/// Which connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Connected, nothing flows.
    Idle,
    /// The server sends as fast as it can, the client never reads.
    Stalled,
}

impl Kind {
    fn mode(self) -> Mode {
        let interval = match self {
            Kind::Idle => Duration::from_secs(3600),
            Kind::Stalled => Duration::ZERO,
        };
        Mode::PerConnection {
            interval,
            format: Format::Plain,
        }
    }
}

/// Runs the workload.
pub fn run(bench: &mut Bench) -> Vec<Row> {
    let idle = bench.plan.idle;
    let stalled = bench.plan.stalled;
    vec![
        measure_all(
            bench,
            Kind::Idle,
            idle,
            format!("3 memory per idle connection, {idle} connections, --interval 1h (plain)"),
            format!("(VmRSS with {idle} open - before) / {idle}"),
        ),
        measure_all(
            bench,
            Kind::Stalled,
            stalled,
            format!("3 memory per stalled consumer, {stalled} connections that never read, --interval 0 (plain)"),
            format!("(VmRSS once steady - before) / {stalled}; steady: {STEADY_READS} reads {GROWTH_POLL:?} apart within {STEADY_KIB} KiB"),
        ),
    ]
}

fn measure_all(bench: &mut Bench, kind: Kind, n: usize, label: String, how: String) -> Row {
    let mut kib = Measured::default();
    let mut notes = vec![how];
    for rep in 0..bench.plan.reps {
        for subject in bench.subjects(kind.mode()) {
            match measure(bench, subject, kind, n) {
                Ok((value, note)) => {
                    kib.of(subject).push(value);
                    notes.extend(note.map(|note| format!("{}: {note}", subject.name())));
                }
                Err(error) => {
                    let what = format!("{label} rep {}", rep + 1);
                    bench.failed(subject, &what, &error, &mut notes);
                }
            }
            kib.note_load();
        }
    }
    kib.row(
        bench,
        &serving(kind.mode()),
        label,
        Unit::KiB,
        join_notes(&notes),
    )
}

/// One run: a fresh server, its memory before and with `n` connections open, in KiB per
/// connection, and a note when its memory never became steady.
fn measure(
    bench: &Bench,
    subject: Subject,
    kind: Kind,
    n: usize,
) -> Result<(f64, Option<String>), String> {
    let server = bench.servers.start(subject, kind.mode())?;
    std::thread::sleep(SETTLE);
    let pid = server.pid();
    let before = proc_stats::resident_kib(pid).map_err(|e| e.to_string())?;
    let limit = Duration::from_secs(30) + Duration::from_millis(10) * n as u32;
    let opened = async_std::task::block_on(ws_client::open_many(
        &server.url,
        Format::Plain,
        n,
        READ_BUFFER,
        limit,
    ))
    .map_err(|e| format!("{e}; server log: {}", server.log_tail()))?;
    let (with, note) = match kind {
        Kind::Idle => {
            std::thread::sleep(SETTLE);
            (
                proc_stats::resident_kib(pid).map_err(|e| e.to_string())?,
                None,
            )
        }
        Kind::Stalled => steady(pid, limit)?,
    };
    drop(opened);
    Ok((with.saturating_sub(before) as f64 / n as f64, note))
}

/// The resident memory of `pid` once it stops growing, at most `limit` away; past it, the last
/// read and a note saying it was still growing.
fn steady(pid: u32, limit: Duration) -> Result<(u64, Option<String>), String> {
    let deadline = Instant::now() + limit;
    let mut reads = Vec::new();
    loop {
        std::thread::sleep(GROWTH_POLL);
        reads.push(proc_stats::resident_kib(pid).map_err(|e| e.to_string())?);
        let last = &reads[reads.len().saturating_sub(STEADY_READS)..];
        let low = last.iter().min().copied().unwrap_or(0);
        let high = last.iter().max().copied().unwrap_or(0);
        if last.len() == STEADY_READS && high - low <= STEADY_KIB {
            return Ok((high, None));
        }
        if Instant::now() >= deadline {
            return Ok((
                high,
                Some(format!("still growing after {limit:?}, last read taken")),
            ));
        }
    }
}
