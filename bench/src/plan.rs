//! The command line, and the sizes of every workload it leads to.

use std::time::Duration;
use structopt::clap::AppSettings;
use structopt::StructOpt;

/// Measures producer-server and consumer-client against the seed's pattern written with
/// Python's websockets: throughput, fan-out latency, memory per idle connection, CPU per message.
///
/// Prints a Markdown table of medians over several repetitions, with their spread and the
/// ratio to the baseline. Exits non-zero when a check of counts or order fails, never because of
/// a timing.
#[derive(Debug, Clone, StructOpt)]
#[structopt(name = "bench", global_settings = &[AppSettings::ColorNever, AppSettings::UnifiedHelpMessage])]
pub struct Options {
    /// A few seconds in all: small counts, one repetition, for CI (checks counts and order)
    #[structopt(long)]
    pub quick: bool,

    /// Repetitions of every measurement [default: 5, 1 with --quick]
    #[structopt(long)]
    pub reps: Option<usize>,

    /// Messages per throughput run of producer-server [default: 1000000, 20000 with --quick]
    #[structopt(long)]
    pub messages: Option<u64>,

    /// Messages per throughput run of the Python baseline, which is far slower; rates are
    /// compared [default: 200000, 20000 with --quick]
    #[structopt(long)]
    pub baseline_messages: Option<u64>,

    /// Consumer counts of the fan-out latency runs, comma-separated [default: 1000,10000; 50
    /// with --quick]
    #[structopt(long, use_delimiter = true)]
    pub fanout: Option<Vec<usize>>,

    /// Consumers of the broadcast run at --interval 0 [default: 1000, 50 with --quick]
    #[structopt(long)]
    pub rate_consumers: Option<usize>,

    /// Idle connections of the memory run [default: 10000, 200 with --quick]
    #[structopt(long)]
    pub idle: Option<usize>,

    /// Only these workloads, comma-separated: throughput, fanout, memory, redis [default: all]
    #[structopt(long, use_delimiter = true, possible_values = &["throughput", "fanout", "memory", "redis"])]
    pub only: Vec<String>,

    /// Measure producer-server alone, without the Python baseline
    #[structopt(long)]
    pub no_baseline: bool,
}

/// The sizes of every workload.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `--quick`: small and fast, for CI.
    pub quick: bool,
    /// Repetitions of every measurement.
    pub reps: usize,
    /// Messages per throughput run of producer-server.
    pub messages: u64,
    /// Messages per throughput run of the baseline.
    pub baseline_messages: u64,
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
        let pick = |full, small| choose(quick, full, small);
        Plan {
            quick,
            reps: options.reps.unwrap_or(pick(5, 1)).max(1),
            messages: options
                .messages
                .unwrap_or(choose(quick, 1_000_000, 20_000))
                .max(1),
            baseline_messages: options
                .baseline_messages
                .unwrap_or(choose(quick, 200_000, 20_000))
                .max(1),
            fanout: options
                .fanout
                .clone()
                .unwrap_or_else(|| choose(quick, vec![1_000, 10_000], vec![50])),
            fanout_interval: Duration::from_millis(100),
            latency_window: choose(quick, Duration::from_secs(5), Duration::from_secs(1)),
            rate_consumers: options.rate_consumers.unwrap_or(pick(1_000, 50)),
            rate_window: choose(quick, Duration::from_secs(3), Duration::from_millis(500)),
            idle: options.idle.unwrap_or(pick(10_000, 200)),
            only: options.only.clone(),
        }
    }

    /// Whether workload `name` is to run.
    pub fn runs(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|n| n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_is_small_and_full_matches_the_issue() {
        let quick = Plan::new(&Options::from_iter(["bench", "--quick"]));
        assert_eq!((quick.reps, quick.messages, quick.idle), (1, 20_000, 200));
        let full = Plan::new(&Options::from_iter(["bench"]));
        assert_eq!(full.fanout, [1_000, 10_000]);
        assert_eq!(
            (full.reps, full.messages, full.idle),
            (5, 1_000_000, 10_000)
        );
        let some = Plan::new(&Options::from_iter(["bench", "--only", "memory"]));
        assert!(some.runs("memory") && !some.runs("fanout"));
    }
}
