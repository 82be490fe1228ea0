//! Many subscribers in this one process: connecting them a few at a time, opening the
//! measurement window once all are in, stopping them, and adding up what they received.

use crate::consumers::{self, Clock, Tally, Window};
use crate::ws_client;
use async_std::task;
use common::frame::now_micros;
use common::Format;
use futures::channel::{mpsc, oneshot};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Handshakes in flight at once: the server's accept backlog is small (128 on Linux for a
/// std listener), and a full backlog makes the kernel drop SYNs, which costs a second each.
const CONNECTING_AT_ONCE: usize = 64;

/// Fires when the subscribers must stop, whatever they are doing.
type Stop = Shared<BoxFuture<'static, ()>>;

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The server's URL.
    pub url: String,
    /// How many subscribers.
    pub consumers: usize,
    /// Which clock places messages in the window.
    pub clock: Clock,
    /// How long the window lasts.
    pub window: Duration,
    /// Pause between the last connection and the window's start, so that the window holds
    /// none of the connecting.
    pub settle: Duration,
    /// Longest time for all connections to open.
    pub connect_limit: Duration,
    /// Longest time after the window's end for the last messages of the window to arrive.
    pub grace: Duration,
    /// Read buffer of each connection, in bytes.
    pub read_buffer: usize,
}

/// What a crowd received, added up.
#[derive(Debug, Default)]
pub struct Summary {
    /// Subscribers started.
    pub consumers: usize,
    /// Distinct sequence numbers in the window, over all subscribers: what each must receive
    /// (with [`Clock::Produced`]).
    pub expected_each: u64,
    /// Subscribers that received every message of the window, in order, with no gap anywhere.
    pub complete: usize,
    /// Messages received in the window, in all.
    pub in_window: u64,
    /// Messages received from the window's start to the end, in all.
    pub received_since_start: u64,
    /// Sequence numbers skipped, in all.
    pub missing: u64,
    /// Messages out of order or repeated, in all.
    pub disorder: u64,
    /// Subscribers that did not see the window end before the grace time ran out.
    pub unfinished: usize,
    /// How many subscribers the server closed, by close code.
    pub closed: BTreeMap<u16, usize>,
    /// Connections that failed, with the first reason.
    pub failed: (usize, Option<String>),
    /// Every latency of the window, sorted, in microseconds.
    pub latencies: Vec<u64>,
    /// Server CPU seconds from the window's start until the last subscriber stopped.
    pub server_cpu: f64,
    /// Time from the window's start until the last subscriber stopped.
    pub measured_for: Duration,
    /// Time it took to open every connection.
    pub connect_time: Duration,
}

impl Summary {
    /// Whether every subscriber received every message, in order, and none failed.
    pub fn all_delivered(&self) -> bool {
        self.complete == self.consumers && self.consumers > 0
    }
}

/// Runs `spec` against the server whose process is `server_pid`.
pub async fn run(spec: &Spec, server_pid: u32) -> Result<Summary, String> {
    let window = Arc::new(Window::default());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let stop: Stop = stop_rx.map(|_| ()).boxed().shared();
    let (ready_tx, mut ready_rx) = mpsc::unbounded::<Result<(), String>>();
    let url: Arc<str> = spec.url.as_str().into();
    let began = Instant::now();
    let mut handles = Vec::with_capacity(spec.consumers);
    let mut in_flight = 0;
    let mut first_failure = None;
    for i in 0..spec.consumers + CONNECTING_AT_ONCE {
        // Keep at most CONNECTING_AT_ONCE handshakes going; the extra turns drain the last ones.
        while in_flight >= CONNECTING_AT_ONCE || (i >= spec.consumers && in_flight > 0) {
            let left = spec.connect_limit.saturating_sub(began.elapsed());
            match async_std::future::timeout(left, ready_rx.next()).await {
                Ok(Some(Ok(()))) => {}
                Ok(Some(Err(error))) => {
                    first_failure.get_or_insert(error);
                }
                _ => {
                    let _ = stop_tx.send(());
                    for handle in handles {
                        let _: Tally = handle.await;
                    }
                    return Err(format!(
                        "{} connections did not open within {:?}",
                        spec.consumers, spec.connect_limit
                    ));
                }
            }
            in_flight -= 1;
        }
        if i < spec.consumers {
            let subscriber = subscriber(
                Arc::clone(&url),
                Arc::clone(&window),
                spec.clock,
                spec.read_buffer,
                stop.clone(),
                ready_tx.clone(),
            );
            handles.push(task::spawn(subscriber));
            in_flight += 1;
        }
    }
    let connect_time = began.elapsed();
    task::sleep(spec.settle).await;
    let cpu_before = harness::proc_stats::cpu_seconds(server_pid).map_err(|e| e.to_string())?;
    let start = now_micros();
    let started = Instant::now();
    window.set(start, start + spec.window.as_micros() as u64);
    // The subscribers stop by themselves when the first message past the window arrives; this
    // is the bound for those that never see one.
    let stopper = task::spawn({
        let limit = spec.window + spec.grace;
        async move {
            task::sleep(limit).await;
            let _ = stop_tx.send(());
        }
    });
    let mut tallies = Vec::with_capacity(handles.len());
    for handle in handles {
        tallies.push(handle.await);
    }
    let measured_for = started.elapsed();
    let cpu_after = harness::proc_stats::cpu_seconds(server_pid).map_err(|e| e.to_string())?;
    stopper.cancel().await;
    let mut summary = add_up(tallies, spec.clock);
    summary.server_cpu = cpu_after - cpu_before;
    summary.measured_for = measured_for;
    summary.connect_time = connect_time;
    if summary.failed.1.is_none() {
        summary.failed.1 = first_failure;
    }
    Ok(summary)
}

/// One subscriber: connects, says so on `ready`, and reads until done.
async fn subscriber(
    url: Arc<str>,
    window: Arc<Window>,
    clock: Clock,
    read_buffer: usize,
    stop: Stop,
    ready: mpsc::UnboundedSender<Result<(), String>>,
) -> Tally {
    let mut tally = Tally::default();
    let connected = futures::select_biased! {
        ws = ws_client::connect(&url, Format::JsonV1, read_buffer).fuse() => ws,
        () = stop.clone() => Err("stopped before connecting".into()),
    };
    let _ = ready.unbounded_send(connected.as_ref().map(|_| ()).map_err(Clone::clone));
    drop(ready);
    match connected {
        Ok(ws) => consumers::subscribe(ws, &window, clock, &mut tally, stop).await,
        Err(error) => tally.error = Some(error),
    }
    tally
}

/// Adds the tallies up and checks each against what all of them saw.
fn add_up(tallies: Vec<Tally>, clock: Clock) -> Summary {
    let first = tallies.iter().filter_map(|t| t.first_in_window).min();
    let last = tallies.iter().filter_map(|t| t.last_in_window).max();
    let expected_each = match (first, last) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    };
    let mut summary = Summary {
        consumers: tallies.len(),
        expected_each,
        ..Summary::default()
    };
    for tally in tallies {
        let whole_window = match clock {
            // Every subscriber must have every message produced in the window.
            Clock::Produced => {
                tally.in_window == expected_each
                    && tally.first_in_window == first
                    && tally.last_in_window == last
            }
            // Each counts what arrived while it was open: order is all there is to check.
            Clock::Received => tally.in_window > 0,
        };
        let clean = tally.missing == 0 && tally.disorder == 0 && tally.error.is_none();
        let ended_well = tally.finished && tally.closed.is_none();
        if whole_window && clean && ended_well {
            summary.complete += 1;
        }
        summary.in_window += tally.in_window;
        summary.received_since_start += tally.received_since_start;
        summary.missing += tally.missing;
        summary.disorder += tally.disorder;
        if !tally.finished && tally.closed.is_none() && tally.error.is_none() {
            summary.unfinished += 1;
        }
        if let Some(code) = tally.closed {
            *summary.closed.entry(code).or_default() += 1;
        }
        if let Some(error) = tally.error {
            summary.failed.0 += 1;
            summary.failed.1.get_or_insert(error);
        }
        summary.latencies.extend(tally.latencies);
    }
    summary.latencies.sort_unstable();
    summary
}
