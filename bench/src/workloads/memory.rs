//! Workload 3, memory: the server's resident memory per idle connection. Idle means connected
//! and receiving nothing: the server runs `--interval 1h` (per-connection mode), so no message
//! flows while the bench holds the connections open.

use super::{join_notes, Bench, Pair};
use crate::subjects::{Mode, Subject};
use crate::system;
use crate::table::{Row, Unit};
use crate::ws_client;
use common::Format;
use futures::StreamExt;
use std::time::Duration;

/// Handshakes in flight at once, below the servers' accept backlogs (see `crowd`).
const CONNECTING_AT_ONCE: usize = 64;

/// Time for a server to finish setting connections up before its memory is read.
const SETTLE: Duration = Duration::from_millis(500);

/// Read buffer of each idle client: it reads nothing, and ten thousand of them share this
/// process.
const READ_BUFFER: usize = 4 * 1024;

/// Runs the workload.
pub fn run(bench: &mut Bench) -> Vec<Row> {
    let idle = bench.plan.idle;
    let label = format!("3 memory per idle connection, {idle} connections, --interval 1h (plain)");
    let mut kib = Pair::default();
    let mut notes = Vec::new();
    for rep in 0..bench.plan.reps {
        for subject in bench.subjects() {
            match measure(bench, subject, idle) {
                Ok(value) => kib.of(subject).push(value),
                Err(error) => {
                    let what = format!("{label} rep {}", rep + 1);
                    bench.failed(subject, &what, &error, &mut notes);
                }
            }
        }
    }
    notes.insert(
        0,
        format!("(VmRSS with {idle} open - before) / {idle}; all {idle} connected each run"),
    );
    let (ours, baseline) = kib.outcomes("failed", bench.baseline_missing());
    vec![Row {
        workload: label,
        unit: Unit::KiB,
        ours,
        baseline,
        notes: join_notes(&notes),
    }]
}

/// One run: a fresh server, its memory before and with `idle` connections open, in KiB per
/// connection.
fn measure(bench: &Bench, subject: Subject, idle: usize) -> Result<f64, String> {
    let mode = Mode::PerConnection {
        interval: Duration::from_secs(3600),
        format: Format::Plain,
    };
    let server = bench.servers.start(subject, mode)?;
    std::thread::sleep(SETTLE);
    let before = system::rss_kib(server.pid()).map_err(|e| e.to_string())?;
    let limit = Duration::from_secs(30) + Duration::from_millis(10) * idle as u32;
    let url = server.url.clone();
    let opened = async_std::task::block_on(async_std::future::timeout(limit, async {
        futures::stream::iter(0..idle)
            .map(|_| ws_client::connect(&url, Format::Plain, READ_BUFFER))
            .buffer_unordered(CONNECTING_AT_ONCE)
            .collect::<Vec<_>>()
            .await
    }))
    .map_err(|_| format!("{idle} connections did not open within {limit:?}"))?;
    let failed = opened.iter().filter(|ws| ws.is_err()).count();
    if let Some(Err(error)) = opened.iter().find(|ws| ws.is_err()) {
        return Err(format!(
            "{failed} of {idle} connections failed, the first: {error}; server log: {}",
            server.log_tail()
        ));
    }
    std::thread::sleep(SETTLE);
    let with = system::rss_kib(server.pid()).map_err(|e| e.to_string())?;
    drop(opened);
    Ok(with.saturating_sub(before) as f64 / idle as f64)
}
