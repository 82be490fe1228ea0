//! Workload 1, throughput: one consumer at `--interval 0`, messages per second, through the
//! whole real pipeline (consumer-client printing to a pipe the bench drains) and into the bench's
//! own consumer; and workload 4 for it, server CPU seconds per million messages.

use super::{join_notes, Bench, Pair};
use crate::consumers;
use crate::processes::Guard;
use crate::subjects::{Mode, Subject};
use crate::system;
use crate::table::{Row, Unit};
use crate::ws_client;
use common::Format;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Longest time one throughput run may take.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Read buffer of the bench's consumer: tungstenite's default, as a consumer meant for speed
/// would have.
const READ_BUFFER: usize = 128 * 1024;

/// Who reads the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// consumer-client --count N, its stdout piped to the bench.
    Pipeline,
    /// The bench's own consumer, in `format`.
    InBench(Format),
}

impl Reader {
    fn label(self, messages: u64) -> String {
        match self {
            Reader::Pipeline => format!(
                "1a throughput, whole pipeline: consumer-client --count {messages} piped to the bench (prodcon.v1)"
            ),
            Reader::InBench(format) => {
                format!("1b throughput, in-bench Rust consumer ({format})")
            }
        }
    }

    fn format(self) -> Format {
        match self {
            // consumer-client always offers prodcon.v1, and both servers accept it.
            Reader::Pipeline => Format::JsonV1,
            Reader::InBench(format) => format,
        }
    }
}

/// Runs the workload; returns its throughput rows and its cost rows.
pub fn run(bench: &mut Bench) -> (Vec<Row>, Vec<Row>) {
    let mut rows = Vec::new();
    let mut costs = Vec::new();
    for reader in [
        Reader::Pipeline,
        Reader::InBench(Format::Plain),
        Reader::InBench(Format::JsonV1),
    ] {
        let mut rate = Pair::default();
        let mut cpu = Pair::default();
        let mut notes = Vec::new();
        for rep in 0..bench.plan.reps {
            for subject in bench.subjects() {
                let messages = match subject {
                    Subject::Ours => bench.plan.messages,
                    Subject::Baseline => bench.plan.baseline_messages,
                };
                let what = format!("{} rep {}", reader.label(messages), rep + 1);
                match measure(bench, subject, reader, messages) {
                    Ok((elapsed, cpu_seconds)) => {
                        rate.of(subject)
                            .push(messages as f64 / elapsed.as_secs_f64());
                        cpu.of(subject).push(cpu_seconds / messages as f64 * 1e6);
                    }
                    Err(error) => bench.failed(subject, &what, &error, &mut notes),
                }
            }
        }
        let mut counts = format!(
            "ours {} msgs, baseline {} msgs per run; each checked 1..N in order",
            bench.plan.messages, bench.plan.baseline_messages
        );
        if !notes.is_empty() {
            counts = format!("{counts}; {}", join_notes(&notes));
        }
        let (ours, baseline) = rate.outcomes("failed", bench.baseline_missing());
        rows.push(Row {
            workload: reader.label(bench.plan.messages),
            unit: Unit::PerSecond,
            ours,
            baseline,
            notes: counts.clone(),
        });
        let (ours, baseline) = cpu.outcomes("failed", bench.baseline_missing());
        costs.push(Row {
            workload: format!("4 cost, server CPU: {}", reader.label(bench.plan.messages)),
            unit: Unit::CpuPerMillion,
            ours,
            baseline,
            notes: "utime+stime of the server process over the run".into(),
        });
    }
    (rows, costs)
}

/// One run: a fresh server, `messages` read by `reader`. Returns the time from starting the
/// reader to its last message, and the server's CPU seconds meanwhile.
fn measure(
    bench: &Bench,
    subject: Subject,
    reader: Reader,
    messages: u64,
) -> Result<(Duration, f64), String> {
    let mode = Mode::PerConnection {
        interval: Duration::ZERO,
        format: reader.format(),
    };
    let server = bench.servers.start(subject, mode)?;
    let cpu_before = system::cpu_seconds(server.pid()).map_err(|e| e.to_string())?;
    let elapsed = match reader {
        Reader::Pipeline => pipeline(&bench.servers.binaries.client, &server.url, messages),
        Reader::InBench(format) => in_bench(&server.url, format, messages),
    }
    .map_err(|e| format!("{e}; server log: {}", server.log_tail()))?;
    let cpu_after = system::cpu_seconds(server.pid()).map_err(|e| e.to_string())?;
    Ok((elapsed, cpu_after - cpu_before))
}

/// The bench's consumer reads `messages` from `url` and checks they are 1..=messages in order.
fn in_bench(url: &str, format: Format, messages: u64) -> Result<Duration, String> {
    async_std::task::block_on(async_std::future::timeout(RUN_LIMIT, async {
        let began = Instant::now();
        let mut ws = ws_client::connect(url, format, READ_BUFFER).await?;
        consumers::read_in_order(&mut ws, format, messages).await?;
        Ok(began.elapsed())
    }))
    .map_err(|_| format!("not done within {RUN_LIMIT:?}"))?
}

/// `consumer-client URL --count messages`, its stdout drained and checked by the bench: the
/// time from starting it to the end of its output.
fn pipeline(client: &Path, url: &str, messages: u64) -> Result<Duration, String> {
    let began = Instant::now();
    let mut guard = Guard::spawn(
        Command::new(client)
            .arg(url)
            .args(["--count", &messages.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )?;
    let stdout = guard.child().stdout.take().ok_or("stdout is piped")?;
    let mut stderr = guard.child().stderr.take().ok_or("stderr is piped")?;
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let checked = check_lines(stdout, messages);
        let _ = done_tx.send((checked, Instant::now()));
    });
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let Ok((checked, ended)) = done_rx.recv_timeout(RUN_LIMIT) else {
        drop(guard);
        return Err(format!("consumer-client not done within {RUN_LIMIT:?}"));
    };
    let status = guard.wait(Duration::from_secs(5));
    drop(guard);
    let stderr = errors.join().unwrap_or_default();
    checked.map_err(|e| format!("consumer-client's output: {e}; its stderr: {stderr}"))?;
    match status {
        Some(status) if status.success() => Ok(ended - began),
        other => Err(format!(
            "consumer-client exited with {other:?}; its stderr: {stderr}"
        )),
    }
}

/// Reads `out` to its end, checking that it is the lines `1` to `messages`, in order.
fn check_lines(mut out: impl Read, messages: u64) -> Result<(), String> {
    let mut buffer = vec![0u8; 256 * 1024];
    let mut expected = 1u64;
    let mut value = 0u64;
    let mut digits = 0;
    loop {
        let read = out.read(&mut buffer).map_err(|e| e.to_string())?;
        if read == 0 {
            break;
        }
        for &byte in &buffer[..read] {
            match byte {
                b'0'..=b'9' if digits < 19 => {
                    value = value * 10 + u64::from(byte - b'0');
                    digits += 1;
                }
                b'\n' if digits > 0 && value == expected => {
                    expected += 1;
                    value = 0;
                    digits = 0;
                }
                _ => return Err(format!("line {expected} is not {expected}")),
            }
        }
    }
    if digits != 0 || expected != messages + 1 {
        return Err(format!("{} lines instead of {messages}", expected - 1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_must_count_up_from_one() {
        assert_eq!(check_lines(&b"1\n2\n3\n"[..], 3), Ok(()));
        assert!(check_lines(&b"1\n3\n"[..], 2).is_err());
        assert!(check_lines(&b"1\n2\n"[..], 3).is_err());
        assert!(check_lines(&b"1\n2"[..], 2).is_err());
        assert!(check_lines(&b"1\n\n"[..], 2).is_err());
    }
}
