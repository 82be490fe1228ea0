//! The command line, and the sizes of every workload it leads to.

use std::path::PathBuf;
use std::time::Duration;
use structopt::clap::AppSettings;
use structopt::StructOpt;

/// Measures producer-server and consumer-client next to the servers a user would pick instead
/// (Node.js ws, Go gorilla/websocket, Python websockets; websocketd and websocat for standard
/// input) and the floor, a raw-syscall sweep: throughput, fan-out latency, memory per idle and
/// per stalled connection, idle CPU, CPU per message.
///
/// Prints a Markdown table of medians over several repetitions, with their spread, the ratio to
/// the best peer and to the floor, and the load average; draws the fan-out chart. Exits non-zero
/// when a check of counts or order of ours or the floor fails, never because of a timing.
#[derive(Debug, Clone, StructOpt)]
#[structopt(name = "bench", global_settings = &[AppSettings::ColorNever, AppSettings::UnifiedHelpMessage])]
pub struct Options {
    /// About a minute in all: small counts, one repetition, ours, Python and the floor only (add
    /// --peers for the others); for CI, which checks counts and order
    #[structopt(long)]
    pub quick: bool,

    /// Prepare every peer, installing websocat with cargo if it is missing (several minutes);
    /// with --quick, also measure the peers
    #[structopt(long)]
    pub peers: bool,

    /// Repetitions of every measurement [default: 3, 1 with --quick]
    #[structopt(long)]
    pub reps: Option<usize>,

    /// Messages per throughput run of producer-server [default: 1000000, 20000 with --quick]
    #[structopt(long)]
    pub messages: Option<u64>,

    /// Messages per throughput run of every other server, most of them far slower; rates are
    /// compared [default: 200000, 20000 with --quick]
    #[structopt(long, alias = "baseline-messages")]
    pub peer_messages: Option<u64>,

    /// Messages per run of the client-cost row from every server but producer-server, which
    /// sends --messages [default: 500000, 20000 with --quick]
    #[structopt(long)]
    pub client_messages: Option<u64>,

    /// Lines of standard input per stdin run [default: 1000000, 20000 with --quick]
    #[structopt(long)]
    pub stdin_lines: Option<u64>,

    /// Consumer counts of the fan-out latency runs, comma-separated [default: 1000,5000,10000;
    /// 50 with --quick]
    #[structopt(long, use_delimiter = true)]
    pub fanout: Option<Vec<usize>>,

    /// Consumers of the broadcast run at --interval 0 [default: 1000, 50 with --quick]
    #[structopt(long)]
    pub rate_consumers: Option<usize>,

    /// Idle connections of the memory run [default: 5000, 200 with --quick]
    #[structopt(long)]
    pub idle: Option<usize>,

    /// Stalled consumers of the memory run [default: 1000, 20 with --quick]
    #[structopt(long)]
    pub stalled: Option<usize>,

    /// Only these workloads, comma-separated [default: all]
    #[structopt(long, use_delimiter = true, possible_values = &["throughput", "fanout", "memory", "idle-cpu", "redis", "client-cost"])]
    pub only: Vec<String>,

    /// Leave the Python baseline out
    #[structopt(long)]
    pub no_baseline: bool,

    /// Measure this producer-server binary as ours instead of the release build of the
    /// workspace: to compare two builds, copy one aside and run the bench with each
    #[structopt(long, parse(from_os_str), value_name = "PATH")]
    pub server: Option<PathBuf>,

    /// Where to write the fan-out chart (SVG) [default: docs/fanout.svg, or
    /// target/bench-logs/fanout.svg with --quick or a size other than the default]
    #[structopt(long, parse(from_os_str))]
    pub chart: Option<PathBuf>,
}

/// The sizes of every workload.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `--quick`: small and fast, for CI.
    pub quick: bool,
    /// `--peers`: prepare every peer; with `--quick`, measure them too.
    pub peers: bool,
    /// Whether every size is the default of a full run, the one BENCHMARKS.md reports.
    pub full_defaults: bool,
    /// Repetitions of every measurement.
    pub reps: usize,
    /// Messages per throughput run of producer-server.
    pub messages: u64,
    /// Messages per throughput run of the other servers.
    pub peer_messages: u64,
    /// Lines per standard-input run.
    pub stdin_lines: u64,
    /// Messages per run of the client-cost row from the other servers: enough for the client to
    /// spend over the 0.1 CPU-s that `/proc`'s 10 ms clock measures to within 10%.
    pub client_messages: u64,
    /// Consumer counts of the fan-out latency runs.
    pub fanout: Vec<usize>,
    /// Time between two messages of the fan-out latency runs.
    pub fanout_interval: Duration,
    /// How long each fan-out latency run measures.
    pub latency_window: Duration,
    /// Consumers of the broadcast run at `--interval 0`.
    pub rate_consumers: usize,
    /// How long the broadcast run at `--interval 0` measures.
    pub rate_window: Duration,
    /// Idle connections of the memory run.
    pub idle: usize,
    /// Stalled consumers of the memory run.
    pub stalled: usize,
    /// Consumers of the idle-CPU run (issue 10 says 100).
    pub idle_cpu_consumers: usize,
    /// How long the idle-CPU run measures (issue 10 says 10 s).
    pub idle_cpu_window: Duration,
    /// Workloads to run.
    pub only: Vec<String>,
}

impl Plan {
    /// The plan `options` ask for.
    pub fn new(options: &Options) -> Plan {
        let quick = options.quick;
        fn choose<T>(quick: bool, full: T, small: T) -> T {
            if quick {
                small
            } else {
                full
            }
        }
        let full_defaults = !quick
            && options.reps.is_none()
            && options.messages.is_none()
            && options.peer_messages.is_none()
            && options.stdin_lines.is_none()
            && options.client_messages.is_none()
            && options.fanout.is_none()
            && options.rate_consumers.is_none()
            && options.idle.is_none()
            && options.stalled.is_none();
        Plan {
            quick,
            peers: options.peers,
            full_defaults,
            reps: options.reps.unwrap_or(choose(quick, 3, 1)).max(1),
            messages: options
                .messages
                .unwrap_or(choose(quick, 1_000_000, 20_000))
                .max(1),
            peer_messages: options
                .peer_messages
                .unwrap_or(choose(quick, 200_000, 20_000))
                .max(1),
            stdin_lines: options
                .stdin_lines
                .unwrap_or(choose(quick, 1_000_000, 20_000))
                .max(1),
            client_messages: options
                .client_messages
                .unwrap_or(choose(quick, 500_000, 20_000))
                .max(1),
            fanout: options
                .fanout
                .clone()
                .unwrap_or_else(|| choose(quick, vec![1_000, 5_000, 10_000], vec![50])),
            fanout_interval: Duration::from_millis(100),
            latency_window: choose(quick, Duration::from_secs(2), Duration::from_secs(1)),
            rate_consumers: options.rate_consumers.unwrap_or(choose(quick, 1_000, 50)),
            rate_window: choose(quick, Duration::from_secs(3), Duration::from_millis(500)),
            idle: options.idle.unwrap_or(choose(quick, 5_000, 200)),
            stalled: options.stalled.unwrap_or(choose(quick, 1_000, 20)),
            idle_cpu_consumers: choose(quick, 100, 10),
            idle_cpu_window: choose(quick, Duration::from_secs(10), Duration::from_secs(1)),
            only: options.only.clone(),
        }
    }

    /// Whether workload `name` is to run.
    pub fn runs(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|n| n == name)
    }

    /// Where the fan-out chart goes: `docs/` only for a full run at the default sizes, so that a
    /// quick or partial run never replaces the chart BENCHMARKS.md shows.
    pub fn chart_path(
        &self,
        options: &Options,
        workspace: &std::path::Path,
        target: &std::path::Path,
    ) -> PathBuf {
        match &options.chart {
            Some(path) => path.clone(),
            None if self.full_defaults => workspace.join("docs/fanout.svg"),
            None => target.join("bench-logs/fanout.svg"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_is_small_and_full_matches_the_issues() {
        let quick = Plan::new(&Options::from_iter(["bench", "--quick"]));
        assert_eq!((quick.reps, quick.messages, quick.idle), (1, 20_000, 200));
        assert!(!quick.full_defaults && !quick.peers);
        let full = Plan::new(&Options::from_iter(["bench"]));
        assert_eq!(full.fanout, [1_000, 5_000, 10_000]);
        assert_eq!((full.reps, full.messages, full.idle), (3, 1_000_000, 5_000));
        assert_eq!(
            (full.idle_cpu_consumers, full.idle_cpu_window),
            (100, Duration::from_secs(10))
        );
        assert!(full.full_defaults);
        assert_eq!(
            (quick.client_messages, full.client_messages),
            (20_000, 500_000)
        );
        let client = Plan::new(&Options::from_iter(["bench", "--only", "client-cost"]));
        assert!(client.runs("client-cost") && !client.runs("throughput"));
        let some = Plan::new(&Options::from_iter([
            "bench", "--only", "memory", "--idle", "9",
        ]));
        assert!(some.runs("memory") && !some.runs("fanout") && !some.full_defaults);
        let old_name = Plan::new(&Options::from_iter(["bench", "--baseline-messages", "7"]));
        assert_eq!(old_name.peer_messages, 7);
    }

    #[test]
    fn only_a_full_default_run_writes_the_docs_chart() {
        let (workspace, target) = (
            std::path::Path::new("/w"),
            std::path::Path::new("/w/target"),
        );
        let options = Options::from_iter(["bench"]);
        let path = Plan::new(&options).chart_path(&options, workspace, target);
        assert_eq!(path, workspace.join("docs/fanout.svg"));
        let options = Options::from_iter(["bench", "--quick"]);
        let path = Plan::new(&options).chart_path(&options, workspace, target);
        assert_eq!(path, target.join("bench-logs/fanout.svg"));
    }
}
