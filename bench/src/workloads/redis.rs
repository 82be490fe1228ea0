//! Workload R, the Redis engine (issue 12), against a Redis of the bench's own:
//!
//! - R1, pipeline: a node publishing its standard input into Redis, a second node serving the
//!   stream, one in-bench consumer of that node: messages per second from the first line written
//!   to the last one read, against `redis-benchmark`'s XADD rate on the same Redis (the floor;
//!   the target is at least half of it). And its cost: CPU of both nodes and Redis per message.
//! - R2, fan-out through Redis at 10 msg/s: two nodes of K consumers each against one node of 2K:
//!   latency from publication to receipt, and the nodes' CPU per delivery.
//!
//! Skipped with a note in the table when `redis-server` is not installed.

mod server;

use super::{join_notes, Bench};
use crate::consumers::{self, Clock};
use crate::crowd::{self, Spec, Summary};
use crate::processes::{Guard, ServerProcess};
use crate::stats::{percentile, Samples};
use crate::subjects::Servers;
use crate::system;
use crate::table::{Outcome, Row, Unit};
use crate::ws_client;
use common::Format;
use server::RedisServer;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Longest time one pipeline run may take.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// How long a node has to print its `listening on` line.
const START_LIMIT: Duration = Duration::from_secs(15);

/// Read buffer of each fan-out subscriber, as in the fan-out workload.
const FANOUT_READ_BUFFER: usize = 16 * 1024;

/// The sizes of this workload, from the plan's `--quick`.
struct Sizes {
    /// Messages per pipeline run.
    messages: u64,
    /// XADDs per `redis-benchmark` run.
    benchmark_requests: u64,
    /// Consumers of each of the two nodes in the fan-out (the single node has twice as many).
    per_node: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                messages: 5_000,
                benchmark_requests: 20_000,
                per_node: 25,
            }
        } else {
            Sizes {
                messages: 200_000,
                benchmark_requests: 200_000,
                per_node: 2_500,
            }
        }
    }
}

/// Runs the workload; returns its rows and its cost rows.
pub fn run(bench: &mut Bench) -> (Vec<Row>, Vec<Row>) {
    let sizes = Sizes::new(bench.plan.quick);
    let pipeline_label = format!(
        "R1 Redis pipeline: stdin node -> Redis -> serving node -> one in-bench consumer (plain), {} msgs; baseline column: redis-benchmark XADD, 50 clients, no pipelining",
        sizes.messages
    );
    let fanout_label = format!(
        "R2 fan-out through Redis, --interval {}ms (prodcon.v1): 2 nodes x {} consumers; baseline column: 1 node x {}",
        bench.plan.fanout_interval.as_millis(),
        sizes.per_node,
        2 * sizes.per_node
    );
    if !server::installed("redis-server") {
        let why = "not measured: no redis-server (apt-get install redis-server)";
        eprintln!("bench: Redis workload skipped: {why}");
        let skipped = |workload: &str, unit| Row {
            workload: workload.to_string(),
            unit,
            ours: Outcome::Missing(why.into()),
            baseline: Outcome::Missing(why.into()),
            notes: String::new(),
        };
        return (
            vec![
                skipped(&pipeline_label, Unit::PerSecond),
                skipped(&fanout_label, Unit::Millis),
            ],
            Vec::new(),
        );
    }
    let redis = match RedisServer::start() {
        Ok(redis) => redis,
        Err(error) => {
            bench.failures.push(format!("Redis workload: {error}"));
            return (Vec::new(), Vec::new());
        }
    };
    let workload = Workload {
        servers: bench.servers,
        redis: &redis,
        sizes: &sizes,
        runs: AtomicUsize::new(0),
    };
    let (mut rows, mut costs) = pipeline_rows(bench, &workload, &pipeline_label);
    let (fanout, fanout_cost) = fanout_rows(bench, &workload, &fanout_label);
    rows.extend(fanout);
    costs.extend(fanout_cost);
    (rows, costs)
}

/// What every run of the workload shares.
struct Workload<'a> {
    /// Starts nodes; its log folder takes theirs.
    servers: &'a Servers,
    /// The Redis every node of the workload uses.
    redis: &'a RedisServer,
    /// The sizes.
    sizes: &'a Sizes,
    /// Runs so far: each run has a stream key of its own, so that its numbering starts at 1.
    runs: AtomicUsize,
}

impl Workload<'_> {
    /// A stream key no earlier run used.
    fn fresh_key(&self, what: &str) -> String {
        format!("bench-{what}-{}", self.runs.fetch_add(1, Ordering::Relaxed))
    }

    /// A producer-server node of the stream `key`, with `args`, listening.
    fn node(&self, key: &str, args: &[&str]) -> Result<ServerProcess, String> {
        let mut command = Command::new(&self.servers.binaries.server);
        command
            .args(["--addr", "127.0.0.1:0", "--redis", &self.redis.url()])
            .args(["--stream", key])
            .args(args);
        ServerProcess::start(command, self.log(key))
    }

    /// Where a node of `key` logs.
    fn log(&self, key: &str) -> std::path::PathBuf {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        Servers::log_dir(&self.servers.binaries).join(format!("{n:03}-redis-{key}.log"))
    }
}

/// R1's rows: the rate against `redis-benchmark`'s, and the cost.
fn pipeline_rows(bench: &mut Bench, workload: &Workload, label: &str) -> (Vec<Row>, Vec<Row>) {
    let messages = workload.sizes.messages;
    let mut rate = Samples::default();
    let mut floor = Samples::default();
    let mut cost = Samples::default();
    let mut floor_cost = Samples::default();
    let mut notes = Vec::new();
    let benchmark = server::installed("redis-benchmark");
    for rep in 0..bench.plan.reps {
        let what = format!("{label} rep {}", rep + 1);
        match pipeline(workload, messages) {
            Ok((elapsed, cpu)) => {
                rate.push(messages as f64 / elapsed.as_secs_f64());
                cost.push(cpu / messages as f64 * 1e6);
            }
            Err(error) => bench.failures.push(format!("{what}: {error}")),
        }
        if benchmark {
            let requests = workload.sizes.benchmark_requests;
            let key = workload.fresh_key("xadd");
            let before = system::cpu_seconds(workload.redis.pid()).unwrap_or(0.0);
            match workload.redis.xadd_rate(&key, requests) {
                Ok(xadds) => {
                    floor.push(xadds);
                    let after = system::cpu_seconds(workload.redis.pid()).unwrap_or(before);
                    floor_cost.push((after - before) / requests as f64 * 1e6);
                }
                Err(error) => notes.push(error),
            }
        }
    }
    let floor_missing = if benchmark {
        "failed (see notes)"
    } else {
        "not measured: no redis-benchmark"
    };
    let cell = |samples: Samples, missing: &str| {
        if samples.is_empty() {
            Outcome::Missing(missing.into())
        } else {
            Outcome::Measured(samples)
        }
    };
    let mut counts = format!(
        "each run checked 1..{messages} in order; target: ours >= 0.5x redis-benchmark's rate"
    );
    if !notes.is_empty() {
        counts = format!("{counts}; {}", join_notes(&notes));
    }
    let row = Row {
        workload: label.to_string(),
        unit: Unit::PerSecond,
        ours: cell(rate, "failed"),
        baseline: cell(floor, floor_missing),
        notes: counts,
    };
    let cost_row = Row {
        workload: format!("4 cost, CPU of both nodes and Redis: {label}"),
        unit: Unit::CpuPerMillion,
        ours: cell(cost, "failed"),
        baseline: cell(floor_cost, floor_missing),
        notes: "baseline column: Redis's own CPU per XADD under redis-benchmark".into(),
    };
    (vec![row], vec![cost_row])
}

/// One R1 run: `messages` lines into a fresh stream through a publishing node, read from
/// another node. The time from the first line written to the last message read, and the CPU
/// seconds of both nodes and Redis meanwhile.
fn pipeline(workload: &Workload, messages: u64) -> Result<(Duration, f64), String> {
    let key = workload.fresh_key("pipeline");
    // History as long as the run: a consumer that falls behind is then never owed a gap.
    let history = messages.to_string();
    let (publisher, input) = publishing_node(workload, &key, &history)?;
    let serving = workload.node(&key, &[])?;
    let pids = [publisher.pid(), serving.pid(), workload.redis.pid()];
    let cpu = || -> Result<f64, String> {
        pids.iter()
            .map(|&pid| system::cpu_seconds(pid).map_err(|e| e.to_string()))
            .sum()
    };
    let url = format!("{}?from=1", serving.url);
    async_std::task::block_on(async_std::future::timeout(RUN_LIMIT, async {
        let mut ws = ws_client::connect(&url, Format::Plain, 128 * 1024).await?;
        let cpu_before = cpu()?;
        let began = Instant::now();
        let writer = thread::spawn(move || write_lines(input, messages));
        consumers::read_in_order(&mut ws, Format::Plain, messages)
            .await
            .map_err(|e| format!("{e}; serving node's log: {}", serving.log_tail()))?;
        let elapsed = began.elapsed();
        let cpu_after = cpu()?;
        writer
            .join()
            .map_err(|_| "the writer panicked".to_string())??;
        drop(publisher);
        Ok((elapsed, cpu_after - cpu_before))
    }))
    .map_err(|_| format!("not done within {RUN_LIMIT:?}"))?
}

/// A node publishing its standard input into `key`, listening; and that input.
fn publishing_node(
    workload: &Workload,
    key: &str,
    history: &str,
) -> Result<(Guard, ChildStdin), String> {
    let log = workload.log(key);
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut guard = Guard::spawn(
        Command::new(&workload.servers.binaries.server)
            .args(["--addr", "127.0.0.1:0", "--redis", &workload.redis.url()])
            .args(["--stream", key, "--source", "stdin", "--history", history])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file),
    )?;
    let input = guard.child().stdin.take().ok_or("stdin is piped")?;
    let stdout = guard.child().stdout.take().ok_or("stdout is piped")?;
    let (line_tx, line_rx) = mpsc::channel();
    // A thread, so that a node that never prints cannot hang the bench; it keeps the pipe open.
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = line_tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    match line_rx.recv_timeout(START_LIMIT) {
        Ok(line) if line.starts_with("listening on ") => Ok((guard, input)),
        other => Err(format!(
            "the publishing node did not start ({other:?}); its log: {}",
            crate::processes::tail(&log)
        )),
    }
}

/// Writes the lines `1` to `messages` into `input`.
fn write_lines(input: ChildStdin, messages: u64) -> Result<(), String> {
    let mut out = BufWriter::with_capacity(64 * 1024, input);
    for n in 1..=messages {
        writeln!(out, "{n}").map_err(|e| format!("writing line {n}: {e}"))?;
    }
    out.flush().map_err(|e| format!("flushing the input: {e}"))
}

/// R2's rows: latency percentiles of both shapes, and the cost per delivery.
fn fanout_rows(bench: &mut Bench, workload: &Workload, label: &str) -> (Vec<Row>, Vec<Row>) {
    let per_node = workload.sizes.per_node;
    // [two nodes, one node]: p50, p99, max, and CPU per delivery.
    let mut latency: [[Samples; 3]; 2] = Default::default();
    let mut cost: [Samples; 2] = Default::default();
    let mut notes = Vec::new();
    for rep in 0..bench.plan.reps {
        for (shape, nodes) in [(0, 2), (1, 1)] {
            let consumers = 2 * per_node / nodes;
            let what = format!("{label}: {nodes} node(s) x {consumers} rep {}", rep + 1);
            match fanout(bench, workload, nodes, consumers) {
                Ok(run) => {
                    for (i, fraction) in [0.5, 0.99, 1.0].into_iter().enumerate() {
                        if let Some(micros) = percentile(&run.latencies, fraction) {
                            latency[shape][i].push(micros as f64 / 1000.0);
                        }
                    }
                    if run.deliveries > 0 {
                        cost[shape].push(run.cpu / run.deliveries as f64 * 1e6);
                    }
                    if let Some(problem) = run.problem {
                        bench.failures.push(format!("{what}: {problem}"));
                    }
                    notes.push(format!(
                        "{nodes} node(s): {} msgs per consumer in the window",
                        run.expected_each
                    ));
                }
                Err(error) => bench.failures.push(format!("{what}: {error}")),
            }
        }
    }
    let cell = |samples: &Samples| {
        if samples.is_empty() {
            Outcome::Missing("failed (see the failures)".into())
        } else {
            Outcome::Measured(samples.clone())
        }
    };
    let rows = ["p50", "p99", "max"]
        .iter()
        .enumerate()
        .map(|(i, name)| Row {
            workload: format!("{label}: {name}"),
            unit: Unit::Millis,
            ours: cell(&latency[0][i]),
            baseline: cell(&latency[1][i]),
            notes: if i == 0 {
                format!(
                    "latency from the publishing node's time stamp to receipt; every consumer checked complete and in order; {}",
                    join_notes(&notes)
                )
            } else {
                String::new()
            },
        })
        .collect();
    let cost_row = Row {
        workload: format!("4 cost, nodes' CPU per delivery: {label}"),
        unit: Unit::CpuPerMillion,
        ours: cell(&cost[0]),
        baseline: cell(&cost[1]),
        notes: "utime+stime of the serving nodes over the window, per delivery".into(),
    };
    (rows, vec![cost_row])
}

/// What one R2 run gives, over all its nodes.
struct FanoutRun {
    /// Every latency, sorted, in microseconds.
    latencies: Vec<u64>,
    /// The serving nodes' CPU seconds over the window.
    cpu: f64,
    /// Messages delivered from the window's start, over all consumers.
    deliveries: u64,
    /// Messages each consumer had to receive in its window (the fewest over the nodes).
    expected_each: u64,
    /// Why the run cannot be counted, if a consumer missed or reordered anything.
    problem: Option<String>,
}

/// One R2 run: a counter node publishing into a fresh stream at the fan-out interval, `nodes`
/// serving nodes, `consumers` subscribers on each, all measured at once.
fn fanout(
    bench: &Bench,
    workload: &Workload,
    nodes: usize,
    consumers: usize,
) -> Result<FanoutRun, String> {
    let key = workload.fresh_key("fanout");
    let interval = format!("{}ms", bench.plan.fanout_interval.as_millis());
    let _publisher = workload.node(&key, &["--source", "counter", "--interval", &interval])?;
    let serving: Vec<ServerProcess> = (0..nodes)
        .map(|_| workload.node(&key, &[]))
        .collect::<Result<_, _>>()?;
    let window = bench.plan.latency_window;
    let specs: Vec<(Spec, u32)> = serving
        .iter()
        .map(|node| {
            let spec = Spec {
                url: node.url.clone(),
                consumers,
                clock: Clock::Produced,
                window,
                settle: Duration::from_millis(500),
                connect_limit: Duration::from_secs(20)
                    + Duration::from_millis(10) * consumers as u32,
                grace: Duration::from_secs(10).max(window * 2),
                read_buffer: FANOUT_READ_BUFFER,
            };
            (spec, node.pid())
        })
        .collect();
    let summaries: Vec<Summary> = async_std::task::block_on(futures::future::join_all(
        specs.iter().map(|(spec, pid)| crowd::run(spec, *pid)),
    ))
    .into_iter()
    .collect::<Result<_, _>>()?;
    let mut run = FanoutRun {
        latencies: Vec::new(),
        cpu: 0.0,
        deliveries: 0,
        expected_each: u64::MAX,
        problem: None,
    };
    for (summary, node) in summaries.iter().zip(&serving) {
        run.latencies.extend_from_slice(&summary.latencies);
        run.cpu += summary.server_cpu;
        run.deliveries += summary.received_since_start;
        run.expected_each = run.expected_each.min(summary.expected_each);
        if !summary.all_delivered() || summary.expected_each == 0 {
            run.problem.get_or_insert(format!(
                "{}/{} consumers got all {} msgs in order ({} missing, {} out of order, {} failed); node log: {}",
                summary.complete,
                summary.consumers,
                summary.expected_each,
                summary.missing,
                summary.disorder,
                summary.failed.0,
                node.log_tail()
            ));
        }
    }
    run.latencies.sort_unstable();
    Ok(run)
}
