//! bench: a benchmark anyone can rerun (issue 4).
//!
//! `cargo run --release -p bench -- [--quick]` builds the release binaries, starts them (and the
//! seed's pattern written with Python's websockets, the baseline) as separate processes on
//! 127.0.0.1 port 0, runs every workload against both, and prints a Markdown table.
//!
//! # Layout
//! - `main.rs`: the steps, the header, the exit code.
//! - [`plan`]: the command line and the sizes of every workload.
//! - [`binaries`]: builds and finds producer-server and consumer-client.
//! - [`python`]: finds or makes a Python with websockets for the baseline.
//! - [`processes`], [`subjects`]: child processes, always killed; the two servers under test.
//! - [`ws_client`], [`scan`], [`consumers`], [`crowd`]: the bench's own consumers, one or
//!   thousands in this process.
//! - [`workloads`]: throughput, fan-out, memory (and the cost per message of the first two).
//! - [`system`], [`stats`], [`table`]: /proc and limits, medians and percentiles, the output.

mod binaries;
mod consumers;
mod crowd;
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
use structopt::StructOpt;
use subjects::Servers;
use workloads::Bench;

fn main() -> ExitCode {
    let options = Options::from_args();
    let plan = Plan::new(&options);
    let fd_limit = match system::raise_fd_limit() {
        Ok(limit) => limit,
        Err(error) => {
            eprintln!("bench: cannot raise the open-file limit: {error}");
            0
        }
    };
    let binaries = match binaries::build() {
        Ok(binaries) => binaries,
        Err(error) => {
            eprintln!("bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    let python = if options.no_baseline {
        Err("--no-baseline".to_string())
    } else {
        // The full bench makes its own venv; --quick (CI) uses one if there is one.
        python::find(&binaries.workspace, &binaries.target, !plan.quick)
    };
    let baseline = match &python {
        Ok(python) => python::describe(python),
        Err(why) => format!("none, producer-server alone ({why})"),
    };
    let servers = Servers::new(binaries, python.ok());
    print_header(&plan, fd_limit, &baseline);
    let mut bench = Bench {
        servers: &servers,
        plan: &plan,
        failures: Vec::new(),
    };
    let mut rows = Vec::new();
    let mut costs = Vec::new();
    if plan.runs("throughput") {
        let (done, cost) = workloads::throughput::run(&mut bench);
        rows.extend(done);
        costs.extend(cost);
    }
    if plan.runs("fanout") {
        let (done, cost) = workloads::fanout::run(&mut bench);
        rows.extend(done);
        costs.extend(cost);
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
    println!();
    table::print(&rows);
    println!(
        "\nLoad average at the end (1, 5, 15 min): {}",
        system::load_average()
    );
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
fn print_header(plan: &Plan, fd_limit: u64, baseline: &str) {
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
    println!("- baseline: {baseline}; the seed's pattern (tests/python/seed_producer.py, bench/python/baseline_producer.py)");
    println!(
        "- cores: not pinned. The server under test and this bench process (all its consumers on one async-std runtime, {threads} threads) share every core under the kernel's scheduler; the pipeline rows add consumer-client, a third process. Server CPU time is read from /proc, so the cost rows count the server alone"
    );
    println!(
        "- repetitions: {}; throughput {} msgs (baseline {}); fan-out {:?} consumers at 10 msg/s for {:?}, {} consumers at --interval 0 for {:?}; {} idle connections",
        plan.reps,
        plan.messages,
        plan.baseline_messages,
        plan.fanout,
        plan.latency_window,
        plan.rate_consumers,
        plan.rate_window,
        plan.idle
    );
}
