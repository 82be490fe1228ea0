//! bench: a benchmark anyone can rerun (issues 4 and 11).
//!
//! `cargo run --release -p bench -- [--quick] [--peers]` builds the release binaries, starts
//! them, the peers a user would pick instead (Node.js `ws`, Go gorilla/websocket, Python's
//! `websockets`, websocketd, websocat) and the floor (a raw-syscall sweep) as separate processes
//! on 127.0.0.1, runs every workload against each in turn, prints a Markdown table and draws the
//! fan-out chart.
//!
//! # Layout
//! - `main.rs`: the steps, the header, the exit code.
//! - [`plan`]: the command line and the sizes of every workload.
//! - [`binaries`], [`python`], [`peers`]: building ours and the floor, finding or preparing
//!   every peer (sources in `bench/node/`, `bench/go/`, `bench/python/`).
//! - [`processes`], [`subjects`]: the servers under test as child processes, always killed.
//! - [`ws_client`], [`scan`], [`consumers`], [`crowd`]: the bench's own consumers, one or
//!   thousands in this process.
//! - [`workloads`]: throughput, fan-out, memory, idle CPU (and the CPU per message), the
//!   client's own CPU per message.
//! - [`system`], [`stats`], [`table`], [`chart`]: the load and the machine, medians and
//!   percentiles, the table, the chart.
//! - `bin/floor.rs`: the floor, a program of its own.
//!
//! What the tests share with it (building, process guards, `/proc`, limits, Python) is in the
//! `harness` crate.

mod binaries;
mod chart;
mod consumers;
mod crowd;
mod peers;
mod plan;
mod processes;
mod python;
mod scan;
mod stats;
mod subjects;
mod system;
mod table;
mod workloads;
mod ws_client;

use plan::{Options, Plan};
use std::process::ExitCode;
use std::time::Instant;
use structopt::StructOpt;
use subjects::Servers;
use workloads::Bench;

fn main() -> ExitCode {
    let began = Instant::now();
    let options = Options::from_args();
    let plan = Plan::new(&options);
    let fd_limit = match harness::limits::raise_fd_limit() {
        Ok(limit) => limit,
        Err(error) => {
            eprintln!("bench: cannot raise the open-file limit: {error}");
            0
        }
    };
    let binaries = match binaries::build() {
        Ok(mut binaries) => {
            if let Some(server) = &options.server {
                binaries.server = server.clone();
                binaries.server_given = true;
            }
            binaries
        }
        Err(error) => {
            eprintln!("bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    let peers = peers::find(&binaries, &plan, options.no_baseline);
    let chart_path = plan.chart_path(&options, &binaries.workspace, &binaries.target);
    let servers = Servers::new(
        peers,
        binaries.client.clone(),
        binaries.target.join("bench-logs"),
    );
    print_header(&plan, fd_limit, &servers);
    let mut bench = Bench {
        servers: &servers,
        plan: &plan,
        failures: Vec::new(),
    };
    let mut rows = Vec::new();
    let mut costs = Vec::new();
    let mut chart_note = None;
    if plan.runs("throughput") {
        let (done, cost) = workloads::throughput::run(&mut bench);
        rows.extend(done);
        costs.extend(cost);
    }
    if plan.runs("fanout") {
        let fanout = workloads::fanout::run(&mut bench);
        rows.extend(fanout.rows);
        costs.extend(fanout.costs);
        let interval = plan.fanout_interval.as_millis();
        chart_note = Some(match chart::draw(&chart_path, &fanout.curves, interval) {
            Ok(()) => format!("Fan-out chart written to {}", chart_path.display()),
            Err(error) => format!("No fan-out chart: {error}"),
        });
    }
    if plan.runs("memory") {
        rows.extend(workloads::memory::run(&mut bench));
    }
    if plan.runs("redis") {
        let (done, cost) = workloads::redis::run(&mut bench);
        rows.extend(done);
        costs.extend(cost);
    }
    rows.extend(costs);
    if plan.runs("idle-cpu") {
        rows.extend(workloads::idle_cpu::run(&mut bench));
    }
    if plan.runs("client-cost") {
        rows.extend(workloads::client_cost::run(&mut bench));
    }
    println!();
    table::print(&rows);
    println!(
        "\nLoad average at the end (1, 5, 15 min): {}",
        system::load_average()
    );
    println!("Run took {:.0} s.", began.elapsed().as_secs_f64());
    if let Some(note) = chart_note {
        println!("{note}.");
    }
    if bench.failures.is_empty() {
        println!("\nAll checks of counts and order passed.");
        ExitCode::SUCCESS
    } else {
        println!("\nFAILED checks ({}):", bench.failures.len());
        for failure in &bench.failures {
            println!("- {failure}");
        }
        ExitCode::FAILURE
    }
}

/// Says what runs where, so that the table can be read and rerun.
fn print_header(plan: &Plan, fd_limit: u64, servers: &Servers) {
    let threads = std::env::var("ASYNC_STD_THREAD_COUNT").unwrap_or_else(|_| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .to_string()
    });
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!(
        "# prodcon bench{}",
        if plan.quick { " (--quick)" } else { "" }
    );
    println!();
    println!(
        "- command: cargo run --release -p bench -- {}",
        args.join(" ")
    );
    println!("- machine: {}", system::machine());
    println!(
        "- load average at start (1, 5, 15 min): {}",
        system::load_average()
    );
    println!("- open-file limit (soft, raised to hard; servers inherit it): {fd_limit}");
    println!("- servers:");
    for line in servers.peers.describe() {
        println!("  - {line}");
    }
    println!(
        "- cores: not pinned. The server under test and this bench process (all its consumers on one async-std runtime, {threads} threads) share every core under the kernel's scheduler; the pipeline rows add consumer-client, a third process. Server CPU time is read from /proc, so the cost rows count the server alone"
    );
    println!(
        "- servers interleaved: repetition 1 of every server, then repetition 2, ...; {} repetitions",
        plan.reps
    );
    println!(
        "- sizes: throughput {} msgs (other servers {}), stdin {} lines; fan-out {:?} consumers at 10 msg/s for {:?}, {} consumers at --interval 0 for {:?}; {} idle and {} stalled connections; idle CPU {} consumers over {:?}; client cost {} msgs from ours, {} from the others",
        plan.messages,
        plan.peer_messages,
        plan.stdin_lines,
        plan.fanout,
        plan.latency_window,
        plan.rate_consumers,
        plan.rate_window,
        plan.idle,
        plan.stalled,
        plan.idle_cpu_consumers,
        plan.idle_cpu_window,
        plan.messages,
        plan.client_messages
    );
}
