//! Workload 1, throughput: one consumer at `--interval 0`, messages per second, through the
//! whole real pipeline (consumer-client printing to a pipe the bench drains), into the bench's
//! own consumer, and from standard input; and the server CPU per message of each.

use super::{join_notes, serving, Bench, Measured};
use crate::consumers;
use crate::processes::ServerProcess;
use crate::subjects::{Mode, Subject};
use crate::table::{Row, Unit};
use crate::ws_client;
use common::Format;
use harness::proc_stats;
use harness::process::Guard;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Longest time one throughput run may take.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Read buffer of the bench's consumer: tungstenite's default, as a consumer meant for speed
/// would have.
const READ_BUFFER: usize = 128 * 1024;

/// Who reads the stream, from what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// consumer-client --count N, its stdout piped to the bench.
    Pipeline,
    /// The bench's own consumer, in `format`.
    InBench(Format),
    /// The bench's own consumer (plain) of a server streaming its standard input.
    Stdin,
    /// The bench's own consumer (plain) of a broadcast counter at `--interval 0`: beside 1b,
    /// what our broadcast path costs next to our per-connection one.
    Broadcast,
}

impl Reader {
    fn label(self, plan: &crate::plan::Plan) -> String {
        match self {
            Reader::Pipeline => format!(
                "1a throughput, whole pipeline: consumer-client --count N piped to the bench (prodcon.v1), N = {} (peers {})",
                plan.messages, plan.peer_messages
            ),
            Reader::InBench(format) => format!(
                "1b throughput, in-bench Rust consumer ({format}), N = {} (peers {})",
                plan.messages, plan.peer_messages
            ),
            Reader::Stdin => format!(
                "1c standard input, {} lines, one in-bench consumer (plain)",
                plan.stdin_lines
            ),
            Reader::Broadcast => format!(
                "1d broadcast counter at --interval 0, one in-bench consumer (plain), N = {} (ours only)",
                plan.messages
            ),
        }
    }

    fn mode(self, plan: &crate::plan::Plan) -> Mode {
        let interval = Duration::ZERO;
        match self {
            // consumer-client always offers prodcon.v1, and every server accepts it.
            Reader::Pipeline => Mode::PerConnection {
                interval,
                format: Format::JsonV1,
            },
            Reader::InBench(format) => Mode::PerConnection { interval, format },
            Reader::Stdin => Mode::Stdin {
                lines: plan.stdin_lines,
            },
            Reader::Broadcast => Mode::Broadcast { interval },
        }
    }

    /// Whether the row measures `subject`. Only ours waits for its consumer at `--interval 0`
    /// in broadcast (the peers' counters run from their start, so a consumer joins them at a
    /// number of its own): row 1d, our broadcast path beside our per-connection one, is ours
    /// alone.
    fn measures(self, subject: Subject) -> bool {
        self != Reader::Broadcast || subject == Subject::Ours
    }

    /// Messages one run of `subject` reads.
    fn messages(self, plan: &crate::plan::Plan, subject: Subject) -> u64 {
        match (self, subject) {
            (Reader::Stdin, _) => plan.stdin_lines,
            (_, Subject::Ours) => plan.messages,
            _ => plan.peer_messages,
        }
    }
}

/// Runs the workload; returns its throughput rows and its cost rows.
pub fn run(bench: &mut Bench) -> (Vec<Row>, Vec<Row>) {
    let mut rows = Vec::new();
    let mut costs = Vec::new();
    let plan = bench.plan;
    for reader in [
        Reader::Pipeline,
        Reader::InBench(Format::Plain),
        Reader::InBench(Format::JsonV1),
        Reader::Stdin,
        Reader::Broadcast,
    ] {
        let mode = reader.mode(plan);
        let label = reader.label(plan);
        let mut rate = Measured::default();
        let mut cpu = Measured::default();
        let mut notes = Vec::new();
        for rep in 0..plan.reps {
            for subject in bench.subjects(mode) {
                if !reader.measures(subject) {
                    continue;
                }
                let messages = reader.messages(plan, subject);
                let what = format!("{label} rep {}", rep + 1);
                match measure(bench, subject, reader, messages) {
                    Ok((elapsed, cpu_seconds)) => {
                        rate.of(subject)
                            .push(messages as f64 / elapsed.as_secs_f64());
                        cpu.push_cost(subject, cpu_seconds, messages);
                    }
                    Err(error) => bench.failed(subject, &what, &error, &mut notes),
                }
                rate.note_load();
                cpu.note_load();
            }
        }
        let mut counts = "each run checked 1..N in order".to_string();
        if reader == Reader::Stdin {
            counts += "; websocketd runs `seq 1 N` for its connection (it has no shared input), the others stream what the bench writes to their stdin once the consumer is in";
        }
        if !notes.is_empty() {
            counts = format!("{counts}; {}", join_notes(&notes));
        }
        let applies: Vec<Subject> = serving(mode)
            .into_iter()
            .filter(|subject| reader.measures(*subject))
            .collect();
        rows.push(rate.row(bench, &applies, label.clone(), Unit::PerSecond, counts));
        costs.push(cpu.row(
            bench,
            &applies,
            format!("4 cost: {label}"),
            Unit::CpuPerMessage,
            "utime+stime of the server process over the run, per message".into(),
        ));
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
    let mut server = bench.servers.start(subject, reader.mode(bench.plan))?;
    let cpu_before = proc_stats::cpu_seconds(server.pid()).map_err(|e| e.to_string())?;
    let elapsed = match reader {
        Reader::Pipeline => pipeline(&bench.servers.client, &server.url, messages),
        Reader::InBench(format) => in_bench(&server.url, format, messages, None),
        Reader::Broadcast => in_bench(&server.url, Format::Plain, messages, None),
        Reader::Stdin => {
            let feed = server.take_stdin();
            in_bench(&server.url, Format::Plain, messages, feed)
        }
    }
    .map_err(|e| format!("{e}; server log: {}", server.log_tail()))?;
    let cpu_after = proc_stats::cpu_seconds(server.pid()).map_err(|e| e.to_string())?;
    drop::<ServerProcess>(server);
    Ok((elapsed, cpu_after - cpu_before))
}

/// Writes the lines `1` to `lines` into `stdin` on a thread of its own, and closes it. Without an
/// allocation per line: the feeder shares the cores with the server it feeds.
fn feed_lines(mut stdin: ChildStdin, lines: u64) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = Vec::with_capacity(64 * 1024);
        let mut digits = itoa::Buffer::new();
        for n in 1..=lines {
            chunk.extend_from_slice(digits.format(n).as_bytes());
            chunk.push(b'\n');
            if chunk.len() >= 60 * 1024 {
                if stdin.write_all(&chunk).is_err() {
                    return;
                }
                chunk.clear();
            }
        }
        let _ = stdin.write_all(&chunk);
    })
}

/// The bench's consumer reads `messages` from `url` and checks they are 1..=messages in order;
/// once it is connected, `feed` (the server's stdin) gets the lines 1..=messages.
fn in_bench(
    url: &str,
    format: Format,
    messages: u64,
    feed: Option<ChildStdin>,
) -> Result<Duration, String> {
    async_std::task::block_on(async_std::future::timeout(RUN_LIMIT, async {
        let began = Instant::now();
        let mut ws = ws_client::connect(url, format, READ_BUFFER).await?;
        let _feeder = feed.map(|stdin| feed_lines(stdin, messages));
        consumers::read_in_order(&mut ws, format, messages).await?;
        Ok(began.elapsed())
    }))
    .map_err(|_| format!("not done within {RUN_LIMIT:?}"))?
}

/// `consumer-client URL --count messages`, its stdout drained and checked by the bench: the
/// time from starting it to the end of its output.
fn pipeline(client: &Path, url: &str, messages: u64) -> Result<Duration, String> {
    let began = Instant::now();
    let (ended, ()) = run_client(client, url, messages, |_| ())?;
    Ok(ended - began)
}

/// Runs `consumer-client URL --count messages` with its stdout checked by the bench, and calls
/// `at_end` with its pid once its output has ended, before it is reaped. Returns when the output
/// ended and what `at_end` gave, once the client exited successfully with the right output.
pub(super) fn run_client<T>(
    client: &Path,
    url: &str,
    messages: u64,
    at_end: impl FnOnce(u32) -> T,
) -> Result<(Instant, T), String> {
    let mut guard = Guard::spawn(
        Command::new(client)
            .arg(url)
            .args(["--count", &messages.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )?;
    let pid = guard.pid();
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
    let at_end = at_end(pid);
    let status = guard.wait(Duration::from_secs(5));
    drop(guard);
    let stderr = errors.join().unwrap_or_default();
    checked.map_err(|e| format!("consumer-client's output: {e}; its stderr: {stderr}"))?;
    match status {
        Some(status) if status.success() => Ok((ended, at_end)),
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
