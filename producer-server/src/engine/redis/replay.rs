//! Replays: what a subscriber asked for before the live edge, read with `XRANGE` a page at a time
//! as its session takes it, so that a subscriber holds at most one page however far back it asks.

use super::entry::{self, Entry};
use super::link::Link;
use super::retry::Backoff;
use crate::engine::Backlog;
use crate::queue::Outgoing;
use common::LostRange;
use futures::stream::{self, StreamExt};
use std::collections::VecDeque;
use std::sync::Arc;

/// Entries read per `XRANGE`.
const PAGE: usize = 256;

/// Where a replay stands.
struct Replay {
    /// The way to Redis.
    link: Arc<Link>,
    /// The stream's key.
    key: String,
    /// The next sequence number to account for: delivered, or announced lost.
    next: u64,
    /// Where the next page starts: past every entry read, skipped ones included.
    cursor: u64,
    /// The live edge: the replay covers `[from, until)`.
    until: u64,
    /// Items read and not yet taken.
    ready: VecDeque<Outgoing>,
}

/// `[from, until)` of the stream in `key`: a lost notice for each run of numbers the stream no
/// longer holds (trimmed or deleted), and the messages it holds; entries it holds that cannot be
/// served are left out, and consumers see their numbers missing.
pub fn replay(link: Arc<Link>, key: String, from: u64, until: u64) -> Backlog {
    let replay = Replay {
        link,
        key,
        next: from,
        cursor: from,
        until,
        ready: VecDeque::new(),
    };
    stream::unfold(replay, |mut replay| async move {
        loop {
            if let Some(item) = replay.ready.pop_front() {
                return Some((item, replay));
            }
            if replay.next >= replay.until {
                // Everything is accounted for: delivered or announced lost.
                return None;
            }
            replay.read_page().await;
        }
    })
    .boxed()
}

impl Replay {
    /// Reads the next page into `ready`, waiting for Redis as long as it is away: live
    /// messages wait for it too, so the subscriber loses nothing by waiting.
    async fn read_page(&mut self) {
        let mut backoff = Backoff::default();
        let entries = loop {
            match self.range().await {
                Ok(entries) => break entries,
                Err(()) => backoff.pause().await,
            }
        };
        let full_page = entries.len() == PAGE;
        for entry in entries {
            // Ids not 0-N cannot fall in a range of 0-N.
            let message = match entry {
                Entry::Message { message, .. } => message,
                Entry::Skipped { seq, .. } => {
                    // Missing from the sequence, as it is for live subscribers: a lost notice
                    // would tell the consumer that its history is too short, which it is not.
                    self.lost_until(seq);
                    self.next = seq + 1;
                    self.cursor = seq + 1;
                    continue;
                }
                Entry::ForeignId { .. } => continue,
            };
            self.cursor = message.seq() + 1;
            if message.seq() > self.next {
                self.lost_until(message.seq());
            }
            self.next = message.seq() + 1;
            self.ready.push_back(Outgoing::Message(message));
        }
        if !full_page {
            // The range holds nothing more: the rest of it is gone.
            self.lost_until(self.until);
        }
    }

    /// One `XRANGE` from `next` to the live edge.
    async fn range(&self) -> Result<Vec<Entry>, ()> {
        let mut connection = self
            .link
            .shared()
            .await
            .map_err(|error| self.link.failed("connecting", &error))?;
        let reply = redis::cmd("XRANGE")
            .arg(&self.key)
            .arg(format!("0-{}", self.cursor))
            .arg(format!("0-{}", self.until - 1))
            .arg("COUNT")
            .arg(PAGE)
            .query_async::<redis::Value>(&mut connection)
            .await
            .map_err(|error| self.link.failed("XRANGE", &error))?;
        self.link.served();
        entry::range_entries(reply).map_err(|error| {
            log::error!("stream {}: {error}; retrying", self.key);
        })
    }

    /// Announces `[next, end)` as lost, if it is not empty, and moves past it.
    fn lost_until(&mut self, end: u64) {
        if end > self.next {
            self.ready.push_back(Outgoing::Lost(LostRange {
                first: self.next,
                last: end - 1,
            }));
            self.next = end;
        }
    }
}
