//! Workload R, the Redis engine (issue 12), against a Redis of the bench's own. Only ours runs
//! it: no peer has a Redis engine.
//!
//! - R1, pipeline: a node publishing its standard input into Redis, a second node serving the
//!   stream, one in-bench consumer of that node: messages per second from the first line written
//!   to the last one read. Its limit column is `redis-benchmark`'s XADD rate on the same Redis
//!   (the floor; the target is at least half of it). And its cost: CPU of both nodes and Redis
//!   per message.
//! - R2, fan-out through Redis at the fan-out interval: two nodes of K consumers each, then one
//!   node of 2K: latency from publication to receipt, and the serving nodes' CPU per delivery.
//!
//! Skipped with a note in the table when `redis-server` is not installed.

mod server;

use super::{join_notes, Bench};
use crate::consumers::{self, Clock};
use crate::crowd::{self, Spec, Summary};
use crate::processes::{Ready, ServerProcess};
use crate::stats::{percentile, Samples};
use crate::subjects::Subject;
use crate::system;
use crate::table::{Outcome, Row, Unit};
use crate::ws_client;
use common::Format;
use harness::proc_stats::cpu_seconds;
use server::RedisServer;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Longest time one pipeline run may take.
const RUN_LIMIT: Duration = Duration::from_secs(180);

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
        "R1 Redis pipeline: stdin node -> Redis -> serving node -> one in-bench consumer (plain), {} msgs",
        sizes.messages
    );
    if !server::installed("redis-server") {
        let why = "not measured: no redis-server (apt-get install redis-server)";
        eprintln!("bench: Redis workload skipped: {why}");
        let skipped = row(pipeline_label, Unit::PerSecond, Samples::default(), why, "");
        return (vec![skipped], Vec::new());
    }
    let redis = match RedisServer::start() {
        Ok(redis) => redis,
        Err(error) => {
            bench.failures.push(format!("Redis workload: {error}"));
            return (Vec::new(), Vec::new());
        }
    };
    let program = match bench.servers.peers.launcher(Subject::Ours) {
        Ok(launcher) => launcher.program.clone(),
        Err(error) => {
            bench.failures.push(format!("Redis workload: {error}"));
            return (Vec::new(), Vec::new());
        }
    };
    let workload = Workload {
        program,
        log_dir: bench.servers.log_dir.clone(),
        redis: &redis,
        sizes: &sizes,
        runs: AtomicUsize::new(0),
    };
    let (mut rows, mut costs) = pipeline_rows(bench, &workload, pipeline_label);
    let (fanout, fanout_cost) = fanout_rows(bench, &workload);
    rows.extend(fanout);
    costs.extend(fanout_cost);
    (rows, costs)
}

/// A row with ours alone, `missing` saying why when `samples` is empty.
fn row(workload: String, unit: Unit, samples: Samples, missing: &str, notes: &str) -> Row {
    let mut cells = BTreeMap::new();
    cells.insert(Subject::Ours, Outcome::from_samples(&samples, missing));
    Row {
        workload,
        unit,
        cells,
        load: Samples::default(),
        notes: notes.to_string(),
    }
}

/// Adds one run's cost to `samples`: `cpu` seconds for `messages`, in µs per message, or "too
/// short" when `/proc`'s 10 ms ticks cannot measure it.
fn push_cost(samples: &mut Samples, cpu: f64, messages: u64) {
    if cpu < super::MIN_CPU_SECONDS || messages == 0 {
        samples.push_too_short();
    } else {
        samples.push(cpu / messages as f64 * 1e6);
    }
}

/// What every run of the workload shares.
struct Workload<'a> {
    /// producer-server, as the bench starts ours.
    program: PathBuf,
    /// Where nodes log.
    log_dir: PathBuf,
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

    /// A producer-server node of the stream `key`, with `args` and `stdin`, listening.
    fn node(&self, key: &str, args: &[&str], stdin: Stdio) -> Result<ServerProcess, String> {
        let mut command = Command::new(&self.program);
        command
            .args(["--addr", "127.0.0.1:0", "--redis", &self.redis.url()])
            .args(["--stream", key])
            .args(args);
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let log = self.log_dir.join(format!("{n:03}-redis-node-{key}.log"));
        ServerProcess::start(command, stdin, Ready::Line, log)
    }
}

/// R1's rows: the rate (with `redis-benchmark`'s in the limit column), and the cost.
fn pipeline_rows(bench: &mut Bench, workload: &Workload, label: String) -> (Vec<Row>, Vec<Row>) {
    let messages = workload.sizes.messages;
    let mut rate = Samples::default();
    let mut floor = Samples::default();
    let mut cost = Samples::default();
    let mut floor_cost = Samples::default();
    let mut load = Samples::default();
    let mut notes = Vec::new();
    let benchmark = server::installed("redis-benchmark");
    for rep in 0..bench.plan.reps {
        let what = format!("{label} rep {}", rep + 1);
        match pipeline(workload, messages) {
            Ok((elapsed, cpu)) => {
                rate.push(messages as f64 / elapsed.as_secs_f64());
                push_cost(&mut cost, cpu, messages);
            }
            Err(error) => bench.failures.push(format!("{what}: {error}")),
        }
        if benchmark {
            let requests = workload.sizes.benchmark_requests;
            let key = workload.fresh_key("xadd");
            let before = cpu_seconds(workload.redis.pid()).unwrap_or(0.0);
            match workload.redis.xadd_rate(&key, requests) {
                Ok(xadds) => {
                    floor.push(xadds);
                    let after = cpu_seconds(workload.redis.pid()).unwrap_or(before);
                    push_cost(&mut floor_cost, after - before, requests);
                }
                Err(error) => notes.push(error),
            }
        }
        if let Some(now) = system::load_one_minute() {
            load.push(now);
        }
    }
    let floor_missing = if benchmark {
        "failed (see notes)"
    } else {
        "not measured: no redis-benchmark"
    };
    let mut counts = format!(
        "each run checked 1..{messages} in order; limit column: redis-benchmark XADD on the same Redis (50 clients, no pipelining), the floor; target: ours >= 0.5x of it"
    );
    if !notes.is_empty() {
        counts = format!("{counts}; {}", join_notes(&notes));
    }
    let mut rate_row = row(label.clone(), Unit::PerSecond, rate, "failed", &counts);
    rate_row
        .cells
        .insert(Subject::Floor, Outcome::from_samples(&floor, floor_missing));
    rate_row.load = load.clone();
    let mut cost_row = row(
        format!("4 cost, CPU of both nodes and Redis: {label}"),
        Unit::CpuPerMessage,
        cost,
        "failed",
        "limit column: Redis's own CPU per XADD under redis-benchmark",
    );
    cost_row.cells.insert(
        Subject::Floor,
        Outcome::from_samples(&floor_cost, floor_missing),
    );
    cost_row.load = load;
    (vec![rate_row], vec![cost_row])
}

/// One R1 run: `messages` lines into a fresh stream through a publishing node, read from
/// another node. The time from the first line written to the last message read, and the CPU
/// seconds of both nodes and Redis meanwhile.
fn pipeline(workload: &Workload, messages: u64) -> Result<(Duration, f64), String> {
    let key = workload.fresh_key("pipeline");
    // History as long as the run: a consumer that falls behind is then never owed a gap.
    let history = messages.to_string();
    let publishing = ["--source", "stdin", "--history", &history];
    let mut publisher = workload.node(&key, &publishing, Stdio::piped())?;
    let input = publisher
        .take_stdin()
        .ok_or("the publisher's stdin is piped")?;
    let serving = workload.node(&key, &[], Stdio::null())?;
    let pids = [publisher.pid(), serving.pid(), workload.redis.pid()];
    let cpu = || -> Result<f64, String> {
        pids.iter()
            .map(|&pid| cpu_seconds(pid).map_err(|e| e.to_string()))
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
        Ok((elapsed, cpu_after - cpu_before))
    }))
    .map_err(|_| format!("not done within {RUN_LIMIT:?}"))?
}

/// Writes the lines `1` to `messages` into `input`.
fn write_lines(input: ChildStdin, messages: u64) -> Result<(), String> {
    let mut out = BufWriter::with_capacity(64 * 1024, input);
    for n in 1..=messages {
        writeln!(out, "{n}").map_err(|e| format!("writing line {n}: {e}"))?;
    }
    out.flush().map_err(|e| format!("flushing the input: {e}"))
}

/// R2's rows, for each shape: latency percentiles, and the cost per delivery.
fn fanout_rows(bench: &mut Bench, workload: &Workload) -> (Vec<Row>, Vec<Row>) {
    let per_node = workload.sizes.per_node;
    let interval = bench.plan.fanout_interval.as_millis();
    let mut rows = Vec::new();
    let mut costs = Vec::new();
    for nodes in [2, 1] {
        let consumers = 2 * per_node / nodes;
        let label = format!(
            "R2 fan-out through Redis, --interval {interval}ms (prodcon.v1), {nodes} serving node(s) x {consumers} consumers"
        );
        let mut latency: [Samples; 3] = Default::default();
        let mut cost = Samples::default();
        let mut load = Samples::default();
        let mut notes = Vec::new();
        for rep in 0..bench.plan.reps {
            let what = format!("{label} rep {}", rep + 1);
            match fanout(bench, workload, nodes, consumers) {
                Ok(run) => {
                    for (i, fraction) in [0.5, 0.99, 1.0].into_iter().enumerate() {
                        if let Some(micros) = percentile(&run.latencies, fraction) {
                            latency[i].push(micros as f64 / 1000.0);
                        }
                    }
                    push_cost(&mut cost, run.cpu, run.deliveries);
                    if let Some(problem) = run.problem {
                        bench.failures.push(format!("{what}: {problem}"));
                    }
                    notes.push(format!(
                        "each consumer checked complete and in order, {} msgs in the window",
                        run.expected_each
                    ));
                }
                Err(error) => bench.failures.push(format!("{what}: {error}")),
            }
            if let Some(now) = system::load_one_minute() {
                load.push(now);
            }
        }
        for (i, name) in ["p50", "p99", "max"].iter().enumerate() {
            let note = if i == 0 {
                format!(
                    "latency from the publishing node's time stamp to receipt; {}",
                    join_notes(&notes)
                )
            } else {
                String::new()
            };
            let mut latency_row = row(
                format!("{label}: {name}"),
                Unit::Millis,
                latency[i].clone(),
                "failed",
                &note,
            );
            latency_row.load = load.clone();
            rows.push(latency_row);
        }
        let mut cost_row = row(
            format!("4 cost, serving nodes' CPU per delivery: {label}"),
            Unit::CpuPerMessage,
            cost,
            "failed",
            "utime+stime of the serving nodes over the window, per delivery",
        );
        cost_row.load = load;
        costs.push(cost_row);
    }
    (rows, costs)
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
    let publishing = ["--source", "counter", "--interval", &interval];
    let _publisher = workload.node(&key, &publishing, Stdio::null())?;
    let serving: Vec<ServerProcess> = (0..nodes)
        .map(|_| workload.node(&key, &[], Stdio::null()))
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
