//! Workload 5, idle CPU (issue 10): a broadcast server with consumers connected and nothing to
//! send (`--interval 1h`) should spend nothing; this reads what it spends over a window, from
//! `/proc`. Reported, not asserted: a timer or a polling loop shows here.

use super::{join_notes, Bench, Measured};
use crate::subjects::{Mode, Subject};
use crate::table::{Row, Unit};
use crate::ws_client;
use common::Format;
use harness::proc_stats;
use std::time::Duration;

/// Read buffer of each consumer: nothing comes.
const READ_BUFFER: usize = 4 * 1024;

/// Time for a server to finish setting connections up before the window opens.
const SETTLE: Duration = Duration::from_millis(500);

/// Runs the workload: one repetition per server (the window is long, and the value is a
/// count of clock ticks that is 0 when all is well).
pub fn run(bench: &mut Bench) -> Vec<Row> {
    let consumers = bench.plan.idle_cpu_consumers;
    let window = bench.plan.idle_cpu_window;
    let mode = Mode::Broadcast {
        interval: Duration::from_secs(3600),
    };
    let label = format!(
        "5 idle CPU of a broadcast server, {consumers} consumers, --interval 1h, over {window:?}"
    );
    let mut cpu = Measured::default();
    let mut notes = vec![format!(
        "utime+stime over the window, in {:.0} ms clock ticks; one run each",
        proc_stats::tick_seconds() * 1000.0
    )];
    let subjects: Vec<Subject> = bench
        .subjects(mode)
        .into_iter()
        .filter(|subject| *subject != Subject::Floor)
        .collect();
    for subject in subjects {
        match measure(bench, subject, mode, consumers, window) {
            Ok(seconds) => cpu.of(subject).push(seconds * 1000.0),
            Err(error) => bench.failed(subject, &label, &error, &mut notes),
        }
        cpu.note_load();
    }
    let applies: Vec<Subject> = super::serving(mode)
        .into_iter()
        .filter(|subject| *subject != Subject::Floor)
        .collect();
    vec![cpu.row(bench, &applies, label, Unit::CpuMillis, join_notes(&notes))]
}

/// One run: server CPU seconds over `window` with `consumers` connected.
fn measure(
    bench: &Bench,
    subject: Subject,
    mode: Mode,
    consumers: usize,
    window: Duration,
) -> Result<f64, String> {
    let server = bench.servers.start(subject, mode)?;
    let limit = Duration::from_secs(30) + Duration::from_millis(10) * consumers as u32;
    let opened = async_std::task::block_on(ws_client::open_many(
        &server.url,
        Format::JsonV1,
        consumers,
        READ_BUFFER,
        limit,
    ))
    .map_err(|e| format!("{e}; server log: {}", server.log_tail()))?;
    std::thread::sleep(SETTLE);
    let before = proc_stats::cpu_seconds(server.pid()).map_err(|e| e.to_string())?;
    std::thread::sleep(window);
    let after = proc_stats::cpu_seconds(server.pid()).map_err(|e| e.to_string())?;
    drop(opened);
    Ok(after - before)
}
