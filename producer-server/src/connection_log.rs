//! The log's connection lines (connected, disconnected, answered, refused, dropped, and what the
//! stream made of a consumer: ahead of it, beyond its history, let go as slow), with a budget, so
//! that a peer opening connections in a loop cannot turn the log into a flood.
//!
//! Lines are counted in windows of [`WINDOW`]. In each, a peer (an IP address) may write
//! [`PER_PEER`] lines and all peers together [`IN_ALL`]: the budget per peer keeps one noisy
//! peer from silencing the others' lines, the budget in all bounds the log whatever the number
//! of addresses a flood comes from (an IPv6 host has many). A line over budget is not written but
//! counted, by peer and by kind, and when the window ends one summary line per peer says how many
//! lines of each kind were left out, so that every refusal is still counted. The summary is written
//! by the next line after the window, or, when none comes, by a timer armed only while something
//! is left out: nothing runs while the log is quiet.

use crate::runtime;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a budget lasts, and how often at most a peer's summary line comes.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Lines a peer may write in a window.
pub const PER_PEER: u32 = 50;

/// Lines all peers together may write in a window.
pub const IN_ALL: u32 = 500;

/// Peers whose left-out lines are counted one by one; beyond, they are counted together, so that
/// a flood from many addresses cannot grow this table without bound.
const MAX_PEERS: usize = 1024;

/// Peers named in the summary of a window, those with most lines left out; the others share
/// one line.
const NAMED_IN_SUMMARY: usize = 5;

/// What a connection line says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A WebSocket opened.
    Connected,
    /// A WebSocket closed.
    Disconnected,
    /// A plain HTTP request was served (the page).
    Answered,
    /// A request was refused with an HTTP error, or turned away.
    Refused,
    /// A connection was dropped before its handshake completed.
    Dropped,
    /// A consumer asked to start after the last message published.
    Ahead,
    /// A consumer asked for messages the history no longer holds.
    BeyondHistory,
    /// A consumer's queue stayed full too long: it was let go.
    Slow,
}

impl Event {
    /// Every kind, in the order of the summary.
    const ALL: [Event; 8] = [
        Event::Connected,
        Event::Disconnected,
        Event::Answered,
        Event::Refused,
        Event::Dropped,
        Event::Ahead,
        Event::BeyondHistory,
        Event::Slow,
    ];

    /// The word for this kind in a summary line.
    fn word(self) -> &'static str {
        match self {
            Event::Connected => "connected",
            Event::Disconnected => "disconnected",
            Event::Answered => "answered",
            Event::Refused => "refused",
            Event::Dropped => "dropped",
            Event::Ahead => "ahead of the stream",
            Event::BeyondHistory => "beyond history",
            Event::Slow => "let go as slow",
        }
    }
}

/// The connection lines of one server: see the module's documentation.
#[derive(Clone, Default)]
pub struct ConnectionLog {
    /// The budgets and counts, shared with the timer that writes a summary nobody else wrote.
    state: Arc<Mutex<State>>,
}

/// The current window's budgets and counts.
#[derive(Default)]
struct State {
    /// When the current window began; `None` before the first line.
    window_start: Option<Instant>,
    /// Lines written in the window, all peers together.
    written: u32,
    /// Each peer's lines in the window.
    peers: HashMap<IpAddr, PeerCount>,
    /// Lines left out of peers beyond [`MAX_PEERS`].
    others: Tally,
    /// Whether a timer will write this window's summary.
    timer_armed: bool,
}

/// One peer's lines in a window.
#[derive(Default)]
struct PeerCount {
    /// Lines written.
    written: u32,
    /// Lines left out, by kind.
    left_out: Tally,
}

/// Lines left out, by kind (in the order of [`Event::ALL`]).
#[derive(Default, Clone, Copy)]
struct Tally([u64; Event::ALL.len()]);

impl Tally {
    fn add(&mut self, event: Event) {
        self.0[event as usize] += 1;
    }

    fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl fmt::Display for Tally {
    /// `1200 connected, 3 refused`: the kinds that occurred.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for event in Event::ALL {
            let count = self.0[event as usize];
            if count > 0 {
                let separator = if first { "" } else { ", " };
                write!(f, "{separator}{count} {}", event.word())?;
                first = false;
            }
        }
        Ok(())
    }
}

impl ConnectionLog {
    /// A log with every budget whole.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `line`, about an `event` of a connection from `peer`, if the budgets allow it;
    /// otherwise counts it for the window's summary.
    pub fn write(&self, peer: IpAddr, event: Event, line: fmt::Arguments<'_>) {
        let now = Instant::now();
        let mut state = self.lock();
        state.end_window_if_over(now);
        let written = state.admit(peer, event, now);
        let arm = !written && !state.timer_armed;
        if arm {
            state.timer_armed = true;
        }
        let window_end = state.window_start.unwrap_or(now) + WINDOW;
        drop(state);
        if written {
            log::info!("{line}");
        }
        if arm {
            let log = self.clone();
            runtime::spawn(async move {
                runtime::sleep(window_end.saturating_duration_since(Instant::now())).await;
                log.lock().end_window_if_over(Instant::now());
            });
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent line by line: a panic elsewhere leaves nothing half done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// Counts a line of `peer` against the budgets; whether it may be written.
    fn admit(&mut self, peer: IpAddr, event: Event, now: Instant) -> bool {
        self.window_start.get_or_insert(now);
        let in_budget = self.written < IN_ALL;
        let tracked = self.peers.len() < MAX_PEERS || self.peers.contains_key(&peer);
        if !tracked {
            // Too many peers to count one by one: counted together, never written.
            self.others.add(event);
            return false;
        }
        let count = self.peers.entry(peer).or_default();
        if in_budget && count.written < PER_PEER {
            count.written += 1;
            self.written += 1;
            true
        } else {
            count.left_out.add(event);
            false
        }
    }

    /// Writes the summary of the current window and starts a new one, if the window is over.
    fn end_window_if_over(&mut self, now: Instant) {
        let Some(start) = self.window_start else {
            return;
        };
        if now.duration_since(start) < WINDOW {
            return;
        }
        let mut left_out: Vec<(IpAddr, Tally)> = self
            .peers
            .drain()
            .filter(|(_, count)| count.left_out.total() > 0)
            .map(|(peer, count)| (peer, count.left_out))
            .collect();
        left_out.sort_by_key(|(_, tally)| std::cmp::Reverse(tally.total()));
        let window = WINDOW.as_secs();
        for (peer, tally) in left_out.iter().take(NAMED_IN_SUMMARY) {
            log::info!(
                "{peer}: {} more connection lines left out of the log in the last {window} s ({tally})",
                tally.total()
            );
        }
        let mut rest = self.others;
        for (_, tally) in left_out.iter().skip(NAMED_IN_SUMMARY) {
            for event in Event::ALL {
                rest.0[event as usize] += tally.0[event as usize];
            }
        }
        if rest.total() > 0 {
            log::info!(
                "{} more connection lines of other peers left out of the log in the last {window} s ({rest})",
                rest.total()
            );
        }
        *self = State {
            window_start: Some(now),
            ..State::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn a_peer_over_its_budget_is_counted_not_written() {
        let mut state = State::default();
        let now = Instant::now();
        let written = (0..PER_PEER + 30)
            .filter(|_| state.admit(peer(1), Event::Refused, now))
            .count();
        assert_eq!(written as u32, PER_PEER);
        assert_eq!(state.peers[&peer(1)].left_out.total(), 30);
        // Another peer still has its own budget.
        assert!(state.admit(peer(2), Event::Connected, now));
    }

    #[test]
    fn all_peers_together_are_bounded() {
        let mut state = State::default();
        let now = Instant::now();
        let written = (0..=255u8)
            .flat_map(|n| (0..PER_PEER).map(move |_| peer(n)))
            .filter(|&p| state.admit(p, Event::Connected, now))
            .count();
        assert_eq!(written as u32, IN_ALL);
    }

    #[test]
    fn a_new_window_gives_the_budgets_back() {
        let mut state = State::default();
        let start = Instant::now();
        for _ in 0..PER_PEER + 1 {
            state.admit(peer(1), Event::Dropped, start);
        }
        assert!(!state.admit(peer(1), Event::Dropped, start));
        state.end_window_if_over(start + WINDOW);
        assert!(state.peers.is_empty());
        assert!(state.admit(peer(1), Event::Dropped, start + WINDOW));
    }

    #[test]
    fn the_summary_names_each_kind_that_occurred() {
        let mut tally = Tally::default();
        tally.add(Event::Connected);
        tally.add(Event::Connected);
        tally.add(Event::Refused);
        tally.add(Event::BeyondHistory);
        assert_eq!(
            tally.to_string(),
            "2 connected, 1 refused, 1 beyond history"
        );
    }
}
