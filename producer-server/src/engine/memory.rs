//! The in-process engine: a source of this process, numbered here, its history in a ring.

use super::{Backlog, Engine};
use crate::message::Published;
use crate::queue::Outgoing;
use crate::source::Source;
use async_tungstenite::tungstenite::Utf8Bytes;
use common::frame::now_micros;
use common::LostRange;
use futures::future::{self, BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// Messages a replay takes from history at a time.
const PAGE: usize = 256;

/// Whether the source runs while nobody listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unattended {
    /// Always: a clock (the counter at an `--interval`) goes on, and history keeps it.
    Runs,
    /// Not before the first subscriber, then always: standard input is read once someone came,
    /// so that a short input reaches someone; after that its lines go to history.
    RunsOnceAttended,
    /// Never: a source with no pace of its own (the counter at `--interval 0`) would race on.
    Waits,
}

/// The default engine: one process, nothing to install.
pub struct MemoryEngine {
    /// Where the data comes from.
    source: Source,
    /// The rest of the source's last batch, not numbered yet.
    ready: std::vec::IntoIter<Utf8Bytes>,
    /// Whether the source runs while nobody listens.
    unattended: Unattended,
    /// Whether anyone has listened yet.
    attended: bool,
    /// The last `capacity` messages, oldest first; shared with the replays, which page through it
    /// as their connections send, rather than each copying all they are owed at once.
    history: Arc<Mutex<VecDeque<Arc<Published>>>>,
    /// Messages kept at most.
    capacity: usize,
    /// The sequence number the next message gets.
    next_seq: u64,
    /// Whether the source has ended.
    over: bool,
}

impl MemoryEngine {
    /// Numbers what `source` gives from 1, keeping the last `history` messages.
    pub fn new(source: Source, unattended: Unattended, history: usize) -> Self {
        MemoryEngine {
            source,
            ready: Vec::new().into_iter(),
            unattended,
            attended: false,
            history: Arc::new(Mutex::new(VecDeque::with_capacity(history.min(4096)))),
            capacity: history,
            next_seq: 1,
            over: false,
        }
    }

    /// Whether the source may run now, with `listeners` listening.
    fn may_run(&mut self, listeners: usize) -> bool {
        self.attended |= listeners > 0;
        match self.unattended {
            Unattended::Runs => true,
            Unattended::RunsOnceAttended => self.attended,
            Unattended::Waits => listeners > 0,
        }
    }

    /// The next data the source has without waiting: the rest of its last batch, else its next
    /// batch if one is ready. At the source's end it marks the engine over: `next` gives the
    /// end, once the burst being taken is.
    fn data_ready_now(&mut self) -> Option<Utf8Bytes> {
        loop {
            if let Some(data) = self.ready.next() {
                return Some(data);
            }
            match self.source.next().now_or_never() {
                Some(Some(batch)) => self.ready = batch.into_iter(),
                Some(None) => {
                    self.over = true;
                    return None;
                }
                None => return None,
            }
        }
    }

    /// Numbers `data`, produced at `time`.
    fn number(&mut self, time: u64, data: Utf8Bytes) -> Arc<Published> {
        let message = Published::new(self.next_seq, time, data);
        self.next_seq += 1;
        message
    }
}

/// Keeps `message` in `history`, which holds at most `capacity`.
fn keep(history: &mut VecDeque<Arc<Published>>, capacity: usize, message: &Arc<Published>) {
    if capacity == 0 {
        return;
    }
    if history.len() == capacity {
        history.pop_front();
    }
    history.push_back(Arc::clone(message));
}

impl Engine for MemoryEngine {
    fn next(&mut self, listeners: usize) -> BoxFuture<'_, Option<Arc<Published>>> {
        if self.over {
            return future::ready(None).boxed();
        }
        if !self.may_run(listeners) {
            return future::pending().boxed();
        }
        async move {
            // Cancel-safe: the stream keeps its place, a batch is kept as soon as it comes, and a
            // message is numbered only once taken.
            let data = loop {
                if let Some(data) = self.ready.next() {
                    break data;
                }
                let Some(batch) = self.source.next().await else {
                    self.over = true;
                    return None;
                };
                self.ready = batch.into_iter();
            };
            let message = self.number(now_micros(), data);
            keep(&mut lock(&self.history), self.capacity, &message);
            Some(message)
        }
        .boxed()
    }

    fn take_ready(&mut self, listeners: usize, most: usize, burst: &mut Vec<Arc<Published>>) {
        // The same as `next`, without a boxed future per message, with one look at the clock and
        // one lock of history for the whole burst, which is taken at once: its messages share
        // the time its first was taken.
        if self.over || !self.may_run(listeners) {
            return;
        }
        let time = burst.first().map_or_else(now_micros, |first| first.time());
        let taken = burst.len();
        while burst.len() < most {
            let Some(data) = self.data_ready_now() else {
                break;
            };
            let message = self.number(time, data);
            burst.push(message);
        }
        let mut history = lock(&self.history);
        for message in &burst[taken..] {
            keep(&mut history, self.capacity, message);
        }
    }

    fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn replay(&self, from: u64, until: u64) -> Backlog {
        let history = Arc::clone(&self.history);
        // Each step takes one page, or announces what history no longer holds (at the start, or
        // further on if the stream outran a slow replay).
        stream::unfold(from, move |next| {
            let page = page(&history, next, until);
            async move {
                let (items, after) = page?;
                Some((stream::iter(items), after))
            }
        })
        .flatten()
        .boxed()
    }

    fn history_len(&self) -> usize {
        // Only this engine adds to history, each message it numbers, and the ring keeps the
        // last `capacity`: counted without a lock the hub would take after every burst.
        let numbered = self.next_seq - 1;
        usize::try_from(numbered).map_or(self.capacity, |numbered| numbered.min(self.capacity))
    }
}

/// What a replay at `next` is owed from `history` before `until`: a lost notice for what history
/// no longer holds, or the next page of messages, with the sequence number after them; `None`
/// once it has everything.
fn page(
    history: &Mutex<VecDeque<Arc<Published>>>,
    next: u64,
    until: u64,
) -> Option<(Vec<Outgoing>, u64)> {
    if next >= until {
        return None;
    }
    let history = lock(history);
    let oldest = history.front().map_or(until, |m| m.seq()).min(until);
    if next < oldest {
        let lost = LostRange {
            first: next,
            last: oldest - 1,
        };
        return Some((vec![Outgoing::Lost(lost)], oldest));
    }
    let skip = (next - oldest) as usize;
    let messages: Vec<Outgoing> = history
        .iter()
        .skip(skip)
        .take_while(|m| m.seq() < until)
        .take(PAGE)
        .map(|m| Outgoing::Message(Arc::clone(m)))
        .collect();
    let after = next + messages.len() as u64;
    (!messages.is_empty()).then_some((messages, after))
}

/// The ring, locked: nothing holding it can panic, so a poisoned lock still holds a sound ring.
fn lock(history: &Mutex<VecDeque<Arc<Published>>>) -> MutexGuard<'_, VecDeque<Arc<Published>>> {
    history
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_tungstenite::tungstenite::Utf8Bytes;
    use futures::executor::block_on;

    /// `lines` as a source that, like standard input's, must not be polled after its end: an
    /// `unfold` panics then. Its batches are of one, two, three lines, and so on.
    fn source(lines: &[&'static str]) -> Source {
        let mut lines: Vec<Utf8Bytes> = lines.iter().map(|l| Utf8Bytes::from_static(l)).collect();
        let mut batches = Vec::new();
        while !lines.is_empty() {
            let rest = lines.split_off(lines.len().min(batches.len() + 1));
            batches.push(std::mem::replace(&mut lines, rest));
        }
        stream::unfold(batches.into_iter(), |mut batches| async move {
            Some((batches.next()?, batches))
        })
        .boxed()
    }

    fn engine(lines: &[&'static str], history: usize) -> MemoryEngine {
        MemoryEngine::new(source(lines), Unattended::Runs, history)
    }

    fn seqs(backlog: Backlog) -> Vec<String> {
        block_on(backlog.collect::<Vec<_>>())
            .into_iter()
            .map(|item| match item {
                Outgoing::Message(m) => m.seq().to_string(),
                Outgoing::Lost(range) => format!("lost {}-{}", range.first, range.last),
                Outgoing::Frame(text) => panic!("a replay gives messages, not the frame {text}"),
            })
            .collect()
    }

    #[test]
    fn numbers_from_one_and_ends() {
        let mut engine = engine(&["a", "b"], 10);
        let first = block_on(engine.next(1)).unwrap();
        assert_eq!((first.seq(), first.data()), (1, "a"));
        assert_eq!(block_on(engine.next(1)).unwrap().seq(), 2);
        assert!(block_on(engine.next(1)).is_none());
        assert_eq!(engine.next_seq(), 3);
    }

    #[test]
    fn a_burst_is_numbered_kept_and_stamped_at_once_and_the_end_comes_after_it() {
        let mut engine = engine(&["a", "b", "c", "d"], 3);
        let first = block_on(engine.next(1)).unwrap();
        // The clock moves on before the rest is taken: the rest still gets the first's time.
        while now_micros() <= first.time() {}
        let mut burst = vec![first];
        engine.take_ready(1, 3, &mut burst);
        let taken: Vec<(u64, &str)> = burst.iter().map(|m| (m.seq(), m.data())).collect();
        assert_eq!(taken, [(1, "a"), (2, "b"), (3, "c")], "at most 3");
        assert!(burst.iter().all(|m| m.time() == burst[0].time()));
        assert!(burst[0].time() > 0);
        assert_eq!(seqs(engine.replay(1, 4)), ["1", "2", "3"]);
        engine.take_ready(1, 10, &mut burst);
        assert_eq!(burst.last().unwrap().seq(), 4);
        assert_eq!(seqs(engine.replay(1, 5)), ["lost 1-1", "2", "3", "4"]);
        assert!(
            block_on(engine.next(1)).is_none(),
            "the end, after the burst"
        );
        assert!(
            block_on(engine.next(1)).is_none(),
            "and again, from the engine"
        );
        engine.take_ready(1, 10, &mut burst);
        assert_eq!(engine.next_seq(), 5);
    }

    #[test]
    fn what_a_burst_has_no_room_for_comes_next_in_order() {
        // Batches [a] [b c] [d e f]: each burst below ends within a batch.
        let mut engine = engine(&["a", "b", "c", "d", "e", "f"], 10);
        let mut burst = vec![block_on(engine.next(1)).unwrap()];
        engine.take_ready(1, 2, &mut burst);
        assert_eq!(burst.len(), 2);
        assert_eq!(block_on(engine.next(1)).unwrap().data(), "c");
        let mut burst = vec![block_on(engine.next(1)).unwrap()];
        engine.take_ready(1, 2, &mut burst);
        let mut taken: Vec<&str> = burst.iter().map(|m| m.data()).collect();
        let last = block_on(engine.next(1)).unwrap();
        taken.push(last.data());
        assert_eq!(taken, ["d", "e", "f"]);
        assert_eq!(last.seq(), 6);
        assert!(block_on(engine.next(1)).is_none());
    }

    #[test]
    fn replay_announces_what_history_lost_then_gives_the_rest() {
        let mut engine = engine(&["a", "b", "c", "d"], 2);
        while block_on(engine.next(1)).is_some() {}
        assert_eq!(seqs(engine.replay(1, 5)), ["lost 1-2", "3", "4"]);
        assert_eq!(seqs(engine.replay(4, 5)), ["4"]);
        assert_eq!(seqs(engine.replay(3, 4)), ["3"]);
        assert!(seqs(engine.replay(5, 5)).is_empty());
    }

    #[test]
    fn a_replay_pages_through_history_and_announces_what_was_trimmed_meanwhile() {
        let lines: Vec<Utf8Bytes> = (0..4 * PAGE).map(|n| n.to_string().into()).collect();
        let source = stream::iter(lines).chunks(7).boxed();
        let mut engine = MemoryEngine::new(source, Unattended::Runs, 2 * PAGE);
        for _ in 0..2 * PAGE {
            block_on(engine.next(1));
        }
        let until = engine.next_seq();
        let mut replay = engine.replay(1, until);
        // The first page is taken; then the stream moves on and history lets go of the second.
        let first: Vec<Outgoing> = block_on((&mut replay).take(PAGE).collect());
        assert_eq!(first.len(), PAGE);
        for _ in 0..2 * PAGE {
            block_on(engine.next(1));
        }
        let rest = seqs(replay);
        let lost_to = 2 * PAGE as u64;
        assert_eq!(rest[0], format!("lost {}-{lost_to}", PAGE + 1));
        assert!(rest.len() == 1, "nothing held is before until: {rest:?}");
    }

    #[test]
    fn the_history_length_is_what_the_ring_holds() {
        for capacity in [0, 2, 5] {
            // One message at a time...
            let mut singly = engine(&["a", "b", "c"], capacity);
            assert_eq!(singly.history_len(), 0);
            while block_on(singly.next(1)).is_some() {
                assert_eq!(singly.history_len(), lock(&singly.history).len());
            }
            assert_eq!(singly.history_len(), capacity.min(3), "capacity {capacity}");
            // ...or in a burst.
            let mut at_once = engine(&["a", "b", "c", "d"], capacity);
            let mut burst = vec![block_on(at_once.next(1)).unwrap()];
            at_once.take_ready(1, 10, &mut burst);
            assert_eq!(at_once.history_len(), lock(&at_once.history).len());
            assert_eq!(
                at_once.history_len(),
                capacity.min(4),
                "capacity {capacity}"
            );
        }
    }

    #[test]
    fn no_history_means_everything_past_is_lost() {
        let mut engine = engine(&["a", "b"], 0);
        while block_on(engine.next(1)).is_some() {}
        assert_eq!(seqs(engine.replay(1, 3)), ["lost 1-2"]);
    }

    #[test]
    fn a_source_that_waits_for_listeners_does_not_run_alone() {
        // Batches [a] [b c]: c is left over once b is taken.
        let mut engine = MemoryEngine::new(source(&["a", "b", "c"]), Unattended::Waits, 10);
        assert!(engine.next(0).now_or_never().is_none());
        let mut burst = Vec::new();
        engine.take_ready(0, 10, &mut burst);
        assert!(burst.is_empty(), "nor a burst");
        assert!(engine.next(1).now_or_never().is_some());
        assert_eq!(engine.next(1).now_or_never().unwrap().unwrap().data(), "b");
        engine.take_ready(0, 10, &mut burst);
        assert!(
            burst.is_empty(),
            "nobody listens any more, not even for what is left over"
        );
        assert!(engine.next(0).now_or_never().is_none());
        assert_eq!(engine.next(1).now_or_never().unwrap().unwrap().data(), "c");
    }

    #[test]
    fn a_wait_given_up_loses_nothing_and_an_empty_batch_is_not_the_end() {
        let (batches, source) = futures::channel::mpsc::unbounded::<Vec<Utf8Bytes>>();
        let mut engine = MemoryEngine::new(source.boxed(), Unattended::Runs, 10);
        // The hub drops `next` whenever a join or a departure comes first.
        assert!(engine.next(1).now_or_never().is_none());
        batches.unbounded_send(Vec::new()).unwrap();
        assert!(engine.next(1).now_or_never().is_none(), "nothing yet");
        batches
            .unbounded_send(vec!["a".into(), "b".into()])
            .unwrap();
        let data =
            |engine: &mut MemoryEngine| block_on(engine.next(1)).map(|m| m.data().to_owned());
        assert_eq!(data(&mut engine).as_deref(), Some("a"));
        assert_eq!(data(&mut engine).as_deref(), Some("b"));
        drop(batches);
        assert_eq!(data(&mut engine), None);
        assert_eq!(data(&mut engine), None, "and again");
    }

    #[test]
    fn standard_input_waits_for_its_first_listener_only() {
        let mut engine =
            MemoryEngine::new(source(&["a", "b", "c"]), Unattended::RunsOnceAttended, 10);
        assert!(engine.next(0).now_or_never().is_none());
        let mut burst = Vec::new();
        engine.take_ready(0, 10, &mut burst);
        assert!(burst.is_empty(), "nor a burst");
        assert!(engine.next(1).now_or_never().is_some());
        assert!(engine.next(0).now_or_never().is_some());
        engine.take_ready(0, 10, &mut burst);
        assert_eq!(burst.len(), 1, "alone again, it runs");
    }
}
