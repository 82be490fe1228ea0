//! A broadcast subscriber's mailbox: the frames the hub queues for its session, and the
//! session's sending half, which it lends the hub while it has nothing to send.
//!
//! With a queue alone, every live message cost every subscriber a wake-up of its session, a
//! task on another thread, to write one frame: at 10,000 consumers of a slow stream, a sweep of
//! 10,000 wake-ups and task switches beside the 10,000 writes, and with one fast consumer a
//! meeting of two threads at every burst. A session that runs dry instead lends its sending half
//! to the mailbox, and the hub writes the frames itself, in a row, as Node's loop does, waking
//! nobody. The hub hands the half back (wakes the session) when the socket does not take
//! everything at once, and queues the rest as before: a slow consumer is paced and let go by
//! its queue, as ever.
//!
//! One lock guards the queue and the lent half, which keeps the order: the hub writes only into
//! a lent half, and only while nothing is queued and it has not handed the half back; the
//! session lends its half only when its queue is empty and nothing it took is left, and takes
//! it back before it takes anything more. Either the hub or the session writes, never both.
//!
//! The queue is taken from in bulk, as the hub's queue was (a lock per item, contended by the
//! hub's thread and the session's, was a quarter of the broadcast server's time): the queue
//! proper holds half the capacity, what the session took ahead the other half. While the hub
//! waits for room, the session lets it in at every item it takes, so that a consumer that is
//! slow but steady paces the stream rather than being let go.

use crate::message::Published;
use crate::metrics::Metrics;
use crate::queue::{End, Refused, Verdict};
use async_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use common::Format;
use futures::channel::oneshot;
use futures::future::{self, FutureExt};
use futures::{Sink, SinkExt};
use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A connection's sending half, as its session and the hub both use it (one at a time).
pub type FrameSink = Box<dyn Sink<Message, Error = WsError> + Send + Unpin>;

/// A mailbox of `capacity` frames besides the one its session is sending.
pub fn mailbox(capacity: NonZeroUsize) -> (MailboxSender, MailboxReceiver) {
    // Half for the queue proper, half for what the session took ahead (an odd capacity leaves
    // one place unused rather than hold one too many; one place has no half to spare, and is
    // then taken one at a time).
    let bound = (capacity.get() / 2).max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            lent: None,
            handed_back: false,
            session: None,
            producer: None,
            sender_gone: false,
            receiver_gone: false,
            written: 0,
        }),
        bound,
        producer_waits: AtomicBool::new(false),
    });
    let (verdict_in, verdict_out) = oneshot::channel();
    (
        MailboxSender {
            shared: Arc::clone(&shared),
            verdict: Some(verdict_in),
        },
        MailboxReceiver {
            shared,
            taken: VecDeque::new(),
            verdict: verdict_out.shared(),
        },
    )
}

/// What both ends share.
struct Shared {
    /// Everything the lock guards.
    state: Mutex<State>,
    /// Frames the queue proper holds at most.
    bound: usize,
    /// Set while the hub waits for room ([`MailboxSender::send_all`]): read without the lock by
    /// the session at every item it takes.
    producer_waits: AtomicBool,
}

/// The mailbox under its lock.
struct State {
    /// Frames for the session, oldest first.
    queue: VecDeque<Utf8Bytes>,
    /// The session's sending half, while it waits with nothing to send.
    lent: Option<FrameSink>,
    /// The hub could not write everything into the lent half (or queued behind it): the session
    /// is to take it back, flush what it holds and send what is queued. Until then, the hub
    /// writes nothing into it.
    handed_back: bool,
    /// The session's task, while it waits.
    session: Option<Waker>,
    /// The hub's task, while it waits for room.
    producer: Option<Waker>,
    /// The hub let go: what is queued is all there will be.
    sender_gone: bool,
    /// The session let go: nothing more is wanted.
    receiver_gone: bool,
    /// Frames the hub wrote into the lent half, for the session's count.
    written: u64,
}

impl Shared {
    /// The state, locked. A sink that panicked under the lock leaves the queue and the flags
    /// sound, so a poisoned lock is used on.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Queues `frame` for the session: it is then the session's to send, and a half lent is to
    /// be handed back, so that the frame goes after what the hub wrote into it.
    fn queue(&mut self, frame: Utf8Bytes) {
        self.queue.push_back(frame);
        self.handed_back |= self.lent.is_some();
    }
}

/// Wakes `waker`, if any (mostly once the lock is let go, so that the woken task does not
/// meet it held).
fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The hub's end of a mailbox.
pub struct MailboxSender {
    /// The mailbox.
    shared: Arc<Shared>,
    /// Where the verdict goes; taken when it is given.
    verdict: Option<oneshot::Sender<End>>,
}

impl MailboxSender {
    /// How many more frames the queue takes now.
    pub fn room(&self) -> usize {
        self.shared
            .bound
            .saturating_sub(self.shared.lock().queue.len())
    }

    /// Delivers `messages` in `format`, in order: written into the session's sending half if it
    /// is lent and takes them now, queued otherwise. `Full` gives back the first message there
    /// was no room for; the rest stay in `messages`.
    pub fn deliver<'m>(
        &self,
        messages: &mut impl Iterator<Item = &'m Arc<Published>>,
        format: Format,
        metrics: &Metrics,
    ) -> Result<(), Refused<&'m Arc<Published>>> {
        let mut state = self.shared.lock();
        if state.receiver_gone {
            return Err(Refused::Gone);
        }
        let mut wake_session = false;
        let mut next = None;
        if state.queue.is_empty() && !state.handed_back {
            let State {
                lent,
                session,
                written,
                ..
            } = &mut *state;
            if let (Some(sink), Some(waker)) = (lent.as_mut(), session.as_ref()) {
                // The session's waker: if the socket is full, it is the session that is to be
                // woken when it has room.
                let mut cx = Context::from_waker(waker);
                let (sent, outcome) = write_now(sink, messages, format, &mut cx);
                *written += sent.frames;
                metrics.delivered_many(sent.frames, sent.bytes);
                match outcome {
                    Written::All => return Ok(()),
                    Written::Stopped(left) => {
                        next = left;
                        state.handed_back = true;
                        wake_session = true;
                    }
                }
            }
        }
        let mut refused = None;
        for message in next.into_iter().chain(messages.by_ref()) {
            if state.queue.len() >= self.shared.bound {
                refused = Some(message);
                break;
            }
            state.queue(message.text(format));
            wake_session = true;
        }
        let session = if wake_session {
            state.session.take()
        } else {
            None
        };
        drop(state);
        wake(session);
        refused.map_or(Ok(()), |message| Err(Refused::Full(message)))
    }

    /// Queues `frames` in order, waiting for room as the session takes what the queue holds;
    /// resolves to whether they all went in (not: the connection is gone). Apart from the
    /// sender, so that the hub can wait on many mailboxes at once.
    pub fn send_all(&self, frames: Vec<Utf8Bytes>) -> impl Future<Output = bool> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let mut frames = VecDeque::from(frames);
        // Held until done, or dropped with the future (the hub gave up on the connection).
        let mut waiting = Some(ProducerWaits::new(Arc::clone(&shared)));
        future::poll_fn(move |cx| {
            let mut state = shared.lock();
            if state.receiver_gone {
                drop(waiting.take());
                return Poll::Ready(false);
            }
            let mut queued = false;
            while state.queue.len() < shared.bound {
                let Some(frame) = frames.pop_front() else {
                    break;
                };
                state.queue(frame);
                queued = true;
            }
            let done = frames.is_empty();
            if done {
                drop(waiting.take());
            } else {
                state.producer = Some(cx.waker().clone());
            }
            let session = if queued { state.session.take() } else { None };
            drop(state);
            wake(session);
            if done {
                Poll::Ready(true)
            } else {
                Poll::Pending
            }
        })
    }

    /// Lets go of the mailbox, saying how the connection closes once it has sent what it holds.
    pub fn end(mut self, end: End) {
        // The connection may be gone already: then nobody needs to know. Dropping the sender
        // then wakes the session, which finds the verdict.
        if let Some(verdict) = self.verdict.take() {
            let _ = verdict.send(end);
        }
    }
}

impl Drop for MailboxSender {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.sender_gone = true;
        let session = state.session.take();
        drop(state);
        wake(session);
    }
}

/// What writing into a lent half came to.
enum Written<'m> {
    /// Everything was written and flushed.
    All,
    /// The socket took no more (or failed): the message it did not take, if any, and the rest
    /// are the session's to send.
    Stopped(Option<&'m Arc<Published>>),
}

/// Frames written into a lent half, and their bytes: counted once per delivery, not per frame.
#[derive(Default)]
struct Sent {
    /// Frames.
    frames: u64,
    /// Their bytes.
    bytes: usize,
}

/// Writes `messages` into `sink` as long as it takes them without waiting, then flushes; what
/// it wrote, and whether that was all.
fn write_now<'m>(
    sink: &mut FrameSink,
    messages: &mut impl Iterator<Item = &'m Arc<Published>>,
    format: Format,
    cx: &mut Context<'_>,
) -> (Sent, Written<'m>) {
    let mut sent = Sent::default();
    for message in messages.by_ref() {
        // A sink that failed stops here too, the message it did not take given back: the
        // session tries it again, and either sends it or ends the connection with the failure.
        if !matches!(sink.poll_ready_unpin(cx), Poll::Ready(Ok(()))) {
            return (sent, Written::Stopped(Some(message)));
        }
        let frame = message.text(format);
        let bytes = frame.len();
        if sink.start_send_unpin(Message::Text(frame)).is_err() {
            return (sent, Written::Stopped(Some(message)));
        }
        sent.frames += 1;
        sent.bytes += bytes;
    }
    if sent.frames == 0 {
        // Nothing to flush: whatever the hub wrote before was flushed, or handed back.
        return (sent, Written::All);
    }
    match sink.poll_flush_unpin(cx) {
        Poll::Ready(Ok(())) => (sent, Written::All),
        _ => (sent, Written::Stopped(None)),
    }
}

/// Says that the hub waits for room, for as long as it is held.
struct ProducerWaits(Arc<Shared>);

impl ProducerWaits {
    fn new(shared: Arc<Shared>) -> Self {
        shared.producer_waits.store(true, Ordering::Release);
        ProducerWaits(shared)
    }
}

impl Drop for ProducerWaits {
    fn drop(&mut self) {
        self.0.producer_waits.store(false, Ordering::Release);
    }
}

/// What a session's wait on its mailbox came to.
pub enum Woken {
    /// The next frame, or `None` once the hub let go and everything is taken.
    Frame(Option<Utf8Bytes>),
    /// The hub handed the sending half back with nothing queued: with frames it wrote and could
    /// not flush, or after a flush that failed.
    HandedBack,
}

/// The session's end of a mailbox.
pub struct MailboxReceiver {
    /// The mailbox.
    shared: Arc<Shared>,
    /// Frames taken from the queue in one go and not yet handed out.
    taken: VecDeque<Utf8Bytes>,
    /// The verdict, once given; shared so that a session can watch for it while it writes.
    pub(crate) verdict: Verdict,
}

impl MailboxReceiver {
    /// The next frame if one is ready now: what was taken ahead, else everything the queue
    /// holds, taken under one lock. Only while the session holds its sending half.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        let producer_waits = self.shared.producer_waits.load(Ordering::Acquire);
        if self.taken.is_empty() || producer_waits {
            let mut state = self.shared.lock();
            take(&mut self.taken, &mut state);
        }
        self.taken.pop_front()
    }

    /// Waits for the next frame without lending anything; `None` once the hub let go and
    /// everything is taken.
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        future::poll_fn(|cx| {
            // `try_recv` lets a waiting hub in at each frame, as the writer's batches do.
            if let Some(frame) = self.try_recv() {
                return Poll::Ready(Some(frame));
            }
            // Under the lock again: the hub may have queued since.
            let mut state = self.shared.lock();
            take(&mut self.taken, &mut state);
            if let Some(frame) = self.taken.pop_front() {
                return Poll::Ready(Some(frame));
            }
            if state.sender_gone {
                return Poll::Ready(None);
            }
            register(&mut state.session, cx);
            Poll::Pending
        })
        .await
    }

    /// Waits for the next frame, lending `sink` to the hub meanwhile when there is nothing to
    /// send; resolves with the sink back in `sink`.
    pub fn poll_lending(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut Option<FrameSink>,
    ) -> Poll<Woken> {
        if let Some(frame) = self.taken.pop_front() {
            // The half is lent only once nothing taken is left.
            debug_assert!(sink.is_some(), "a frame taken with the sending half lent");
            return Poll::Ready(Woken::Frame(Some(frame)));
        }
        let mut state = self.shared.lock();
        if state.queue.is_empty() && !state.sender_gone && !state.handed_back {
            if let Some(half) = sink.take() {
                state.lent = Some(half);
            }
            register(&mut state.session, cx);
            return Poll::Pending;
        }
        // Something to do: the half comes back before anything is taken.
        if let Some(half) = state.lent.take() {
            *sink = Some(half);
        }
        let handed_back = std::mem::take(&mut state.handed_back);
        take(&mut self.taken, &mut state);
        let woken = match self.taken.pop_front() {
            Some(frame) => Woken::Frame(Some(frame)),
            None if handed_back => Woken::HandedBack,
            None => Woken::Frame(None),
        };
        Poll::Ready(woken)
    }

    /// Takes the sending half back into `sink` if it is lent: the session is to write itself
    /// (a ping, its goodbye), and the hub then no longer does.
    pub fn reclaim(&mut self, sink: &mut Option<FrameSink>) {
        let mut state = self.shared.lock();
        if let Some(half) = state.lent.take() {
            *sink = Some(half);
        }
        state.handed_back = false;
    }

    /// Frames the hub wrote into the lent half so far.
    pub fn written_by_hub(&self) -> u64 {
        self.shared.lock().written
    }
}

impl Drop for MailboxReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        // A session dropped while its half was lent: the half goes with it now, not when the
        // hub lets go.
        let lent = state.lent.take();
        let producer = state.producer.take();
        drop(state);
        drop(lent);
        wake(producer);
    }
}

/// Takes into `taken` what the queue holds (all of it when nothing is taken ahead, one more item
/// while the hub waits for room: a lock per item, while this consumer holds the stream back),
/// and lets the waiting hub in.
fn take(taken: &mut VecDeque<Utf8Bytes>, state: &mut State) {
    debug_assert!(
        state.lent.is_none(),
        "taken from with its sending half lent"
    );
    let before = taken.len();
    if taken.is_empty() {
        std::mem::swap(taken, &mut state.queue);
    } else {
        taken.extend(state.queue.pop_front());
    }
    if taken.len() != before {
        wake(state.producer.take());
    }
}

/// Keeps `cx`'s waker in `slot`, unless the one there wakes the same task.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragments::{joined, Fragmenting, FRAGMENT};
    use futures::task::{waker, ArcWake};
    use std::pin::Pin;
    use std::sync::atomic::AtomicUsize;

    fn nz(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    /// Messages `first..=last`, each its number as text.
    fn messages(first: u64, last: u64) -> Vec<Arc<Published>> {
        (first..=last)
            .map(|seq| Published::now(seq, seq.to_string().into()))
            .collect()
    }

    /// Delivers `messages` in plain text; how many went in before the mailbox refused.
    fn deliver(sender: &MailboxSender, messages: &[Arc<Published>]) -> usize {
        let mut rest = messages.iter();
        match sender.deliver(&mut rest, Format::Plain, &Metrics::new()) {
            Ok(()) => messages.len(),
            Err(Refused::Full(refused)) => (refused.seq() - messages[0].seq()) as usize,
            Err(Refused::Gone) => panic!("the session is there"),
        }
    }

    fn seqs(frames: impl IntoIterator<Item = Utf8Bytes>) -> Vec<u64> {
        frames.into_iter().map(|f| f.parse().unwrap()).collect()
    }

    /// A task's waker that counts its wake-ups.
    #[derive(Default)]
    struct Task(AtomicUsize);

    impl ArcWake for Task {
        fn wake_by_ref(task: &Arc<Self>) {
            task.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Task {
        fn woken(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A socket's sending half that keeps what it is sent, and takes it only while `open`.
    #[derive(Clone, Default)]
    struct Socket {
        sent: Arc<Mutex<Vec<String>>>,
        /// Whether it takes no more now (its `poll_ready` waits).
        closed: Arc<AtomicBool>,
        /// Whether its flush waits.
        stuck: Arc<AtomicBool>,
    }

    impl Socket {
        fn sent(&self) -> Vec<u64> {
            let sent = self.sent.lock().unwrap();
            sent.iter().map(|text| text.parse().unwrap()).collect()
        }
    }

    impl Sink<Message> for Socket {
        type Error = WsError;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            if self.closed.load(Ordering::SeqCst) {
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }

        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
            let text = item.into_text().expect("a text frame").to_string();
            self.sent.lock().unwrap().push(text);
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            if self.stuck.load(Ordering::SeqCst) {
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            self.poll_flush(cx)
        }
    }

    /// A session's side: its mailbox, its task, and its sending half when it holds it.
    struct Session {
        mailbox: MailboxReceiver,
        task: Arc<Task>,
        sink: Option<FrameSink>,
    }

    impl Session {
        fn new(mailbox: MailboxReceiver, socket: &Socket) -> Self {
            Session {
                mailbox,
                task: Arc::default(),
                sink: Some(Box::new(socket.clone())),
            }
        }

        /// One poll of its wait for the next frame.
        fn poll(&mut self) -> Poll<Woken> {
            let waker = waker(Arc::clone(&self.task));
            let mut cx = Context::from_waker(&waker);
            self.mailbox.poll_lending(&mut cx, &mut self.sink)
        }
    }

    /// A mailbox of `capacity`, and its session, which has lent its half (nothing to send).
    fn lent(capacity: usize) -> (MailboxSender, Socket, Session) {
        let (sender, receiver) = mailbox(nz(capacity));
        let socket = Socket::default();
        let mut session = Session::new(receiver, &socket);
        assert!(session.poll().is_pending());
        assert!(session.sink.is_none(), "lent");
        (sender, socket, session)
    }

    #[test]
    fn a_mailbox_holds_no_more_than_its_capacity_with_what_was_taken_ahead() {
        for capacity in 1..=9 {
            let (sender, mut receiver) = mailbox(nz(capacity));
            let all = messages(1, 40);
            let first = deliver(&sender, &all);
            let sending = receiver.try_recv();
            let second = deliver(&sender, &all[first..]);
            let held = first + second - 1;
            // Besides the one being sent: one place has it all; otherwise each half, the item
            // being sent counting in the half taken ahead (an odd capacity leaves one place).
            let expected = if capacity == 1 {
                1
            } else {
                capacity / 2 * 2 - 1
            };
            assert_eq!(held, expected, "capacity {capacity}");
            let got = seqs(
                sending
                    .into_iter()
                    .chain(std::iter::from_fn(|| receiver.try_recv())),
            );
            assert_eq!(
                got,
                (1..=held as u64 + 1).collect::<Vec<_>>(),
                "capacity {capacity}"
            );
        }
    }

    #[test]
    fn a_hub_waiting_on_a_mailbox_gets_in_at_each_item_taken() {
        let (sender, mut receiver) = mailbox(nz(4));
        assert_eq!(deliver(&sender, &messages(1, 2)), 2, "half of four");
        let rest = messages(3, 6)
            .iter()
            .map(|m| m.text(Format::Plain))
            .collect();
        let mut waiting = Box::pin(sender.send_all(rest));
        assert!((&mut waiting).now_or_never().is_none(), "the queue is full");
        // Taking one item takes both queued, and lets two more in.
        assert_eq!(seqs(receiver.try_recv()), [1]);
        assert!((&mut waiting).now_or_never().is_none(), "room for 3 and 4");
        // While the hub waits, each item taken takes one more from the queue: room for 5.
        assert_eq!(seqs(receiver.try_recv()), [2]);
        assert!((&mut waiting).now_or_never().is_none(), "room for 5, not 6");
        assert_eq!(seqs(receiver.try_recv()), [3]);
        assert_eq!((&mut waiting).now_or_never(), Some(true));
        // Never more than the capacity besides the item being sent: 4 taken, 5 and 6 queued.
        assert_eq!(sender.room(), 0);
        let rest = seqs(std::iter::from_fn(|| receiver.try_recv()));
        assert_eq!(rest, [4, 5, 6]);
        assert!(!receiver.shared.producer_waits.load(Ordering::Acquire));
    }

    #[test]
    fn a_mailbox_keeps_the_order_while_it_is_taken_from_and_delivered_to() {
        let (sender, mut receiver) = mailbox(nz(8));
        let all = messages(1, 100);
        let mut got = Vec::new();
        let mut next = 0;
        while next < all.len() {
            next += deliver(&sender, &all[next..]);
            // Take a few: some come from what was taken ahead, some from the queue.
            got.extend(seqs((0..3).map_while(|_| receiver.try_recv())));
        }
        drop(sender);
        while let Some(frame) = futures::executor::block_on(receiver.recv()) {
            got.extend(seqs([frame]));
        }
        assert_eq!(got, (1..=100).collect::<Vec<_>>());
    }

    #[test]
    fn a_session_with_nothing_to_send_lends_its_half_and_the_hub_writes_into_it() {
        let (sender, socket, mut session) = lent(8);
        assert_eq!(deliver(&sender, &messages(1, 3)), 3);
        assert_eq!(socket.sent(), [1, 2, 3], "written by the hub");
        assert_eq!(session.task.woken(), 0, "nobody woken");
        assert_eq!(sender.room(), 4, "nothing queued");
        assert_eq!(session.mailbox.written_by_hub(), 3);

        // The socket takes no more: the rest is queued and the half handed back.
        socket.closed.store(true, Ordering::SeqCst);
        assert_eq!(deliver(&sender, &messages(4, 5)), 2);
        assert_eq!(session.task.woken(), 1, "woken to take over");
        // Until the session has taken its half back, the hub writes nothing into it, even with
        // room in the socket again: 6 goes behind 4 and 5.
        socket.closed.store(false, Ordering::SeqCst);
        assert_eq!(deliver(&sender, &messages(6, 6)), 1);
        assert_eq!(
            socket.sent(),
            [1, 2, 3],
            "behind the queue, nothing written"
        );
        let Poll::Ready(Woken::Frame(Some(frame))) = session.poll() else {
            panic!("the next frame");
        };
        assert!(session.sink.is_some(), "the half is back before any frame");
        let mut got = seqs([frame]);
        got.extend(seqs(std::iter::from_fn(|| session.mailbox.try_recv())));
        assert_eq!(got, [4, 5, 6]);

        // Lent again once everything is sent: the hub writes on, in order.
        assert!(session.poll().is_pending());
        assert_eq!(deliver(&sender, &messages(7, 8)), 2);
        assert_eq!(socket.sent(), [1, 2, 3, 7, 8]);
    }

    /// A sending half that keeps every frame it is sent, and takes `room` more.
    #[derive(Clone, Default)]
    struct Frames {
        sent: Arc<Mutex<Vec<Message>>>,
        room: Arc<AtomicUsize>,
    }

    impl Sink<Message> for Frames {
        type Error = WsError;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            if self.room.load(Ordering::SeqCst) == 0 {
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }

        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
            self.room.fetch_sub(1, Ordering::SeqCst);
            self.sent.lock().unwrap().push(item);
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_long_message_the_hub_begins_the_session_finishes_before_anything_else() {
        let (sender, receiver) = mailbox(nz(8));
        let socket = Frames::default();
        socket.room.store(usize::MAX, Ordering::SeqCst);
        let mut session = Session {
            mailbox: receiver,
            task: Arc::default(),
            sink: Some(Box::new(Fragmenting::new(socket.clone()))),
        };
        assert!(session.poll().is_pending(), "lent");
        let long = "x".repeat(5 * FRAGMENT);
        let mut all = vec![Published::now(1, long.clone().into())];
        all.extend(messages(2, 3));
        // Room for the first fragment and two more: the socket fills mid-message.
        socket.room.store(3, Ordering::SeqCst);
        assert_eq!(deliver(&sender, &all), 3);
        assert_eq!(socket.sent.lock().unwrap().len(), 3, "fragments of 1 only");
        assert_eq!(session.task.woken(), 1, "handed back");

        socket.room.store(usize::MAX, Ordering::SeqCst);
        let Poll::Ready(Woken::Frame(Some(frame))) = session.poll() else {
            panic!("the next frame");
        };
        // The session writes what it takes, as its writer does: the rest of 1 goes first.
        let mut sink = session.sink.take().expect("back before any frame");
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        for frame in std::iter::once(frame).chain(std::iter::from_fn(|| session.mailbox.try_recv()))
        {
            assert!(sink.poll_ready_unpin(&mut cx).is_ready());
            sink.start_send_unpin(Message::Text(frame)).unwrap();
        }
        assert!(sink.poll_flush_unpin(&mut cx).is_ready());
        let sent = socket.sent.lock().unwrap();
        assert_eq!(joined(&sent), [long, "2".into(), "3".into()]);
    }

    #[test]
    fn what_the_hub_cannot_flush_hands_the_half_back() {
        let (sender, socket, mut session) = lent(8);
        socket.stuck.store(true, Ordering::SeqCst);
        assert_eq!(deliver(&sender, &messages(1, 2)), 2);
        assert_eq!(socket.sent(), [1, 2]);
        assert_eq!(session.task.woken(), 1);
        assert!(matches!(session.poll(), Poll::Ready(Woken::HandedBack)));
        assert!(session.sink.is_some(), "back, to be flushed");
        // Until lent again, the hub queues.
        assert_eq!(deliver(&sender, &messages(3, 3)), 1);
        assert_eq!(socket.sent(), [1, 2]);
        assert_eq!(seqs(session.mailbox.try_recv()), [3]);
    }

    #[test]
    fn the_half_comes_back_when_the_hub_lets_go_or_the_session_takes_it() {
        let (sender, socket, mut session) = lent(2);
        session.mailbox.reclaim(&mut session.sink);
        assert!(session.sink.is_some(), "taken back");
        assert_eq!(deliver(&sender, &messages(1, 1)), 1);
        assert!(socket.sent().is_empty(), "queued, not written");
        assert_eq!(seqs(session.mailbox.try_recv()), [1]);

        assert!(session.poll().is_pending());
        let woken = session.task.woken();
        sender.end(End {
            code: 1000,
            reason: "end",
        });
        assert_eq!(session.task.woken(), woken + 1, "woken to find the end");
        assert!(matches!(session.poll(), Poll::Ready(Woken::Frame(None))));
        assert!(session.sink.is_some());
    }

    #[test]
    fn a_session_gone_refuses_and_lets_go_of_its_half() {
        let (sender, socket, session) = lent(2);
        drop(session.mailbox);
        assert_eq!(Arc::strong_count(&socket.sent), 1, "the half let go");
        let messages = messages(1, 1);
        let refused = sender.deliver(&mut messages.iter(), Format::Plain, &Metrics::new());
        assert!(matches!(refused, Err(Refused::Gone)));
    }

    /// A socket whose `poll_ready` and `poll_flush` now and then wait, waking their caller at
    /// once, as a socket whose buffer drains meanwhile does.
    #[derive(Clone, Default)]
    struct Flaky {
        sent: Arc<Mutex<Vec<u64>>>,
        calls: Arc<AtomicUsize>,
    }

    impl Flaky {
        /// Whether this call waits: about one call in `every`, scattered.
        fn waits(&self, every: u64, cx: &Context<'_>) -> bool {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) as u64;
            let waits = (call.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % every == 0;
            if waits {
                cx.waker().wake_by_ref();
            }
            waits
        }
    }

    impl Sink<Message> for Flaky {
        type Error = WsError;

        fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            if self.waits(13, cx) {
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }

        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
            let seq = item.into_text().expect("a text frame").parse().unwrap();
            self.sent.lock().unwrap().push(seq);
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            if self.waits(4, cx) {
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            self.poll_flush(cx)
        }
    }

    #[test]
    fn the_hub_and_its_session_on_two_threads_send_everything_once_in_order() {
        const MESSAGES: u64 = 20_000;
        let (sender, mut receiver) = mailbox(nz(16));
        let socket = Flaky::default();
        // The hub: bursts of 7, waiting for room when the queue is full, as `Hub::publish` does;
        // four bursts in five only once the session lent its half, as a stream with a pace finds
        // it, the fifth whenever it comes.
        let hub = std::thread::spawn(move || {
            let all = messages(1, MESSAGES);
            let metrics = Metrics::new();
            for (n, burst) in all.chunks(7).enumerate() {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                let lent = || {
                    let state = sender.shared.lock();
                    state.lent.is_some() && !state.handed_back
                };
                while n % 5 != 4 && !lent() && std::time::Instant::now() < deadline {
                    std::thread::yield_now();
                }
                let mut rest = burst.iter();
                if let Err(refused) = sender.deliver(&mut rest, Format::Plain, &metrics) {
                    let Refused::Full(message) = refused else {
                        panic!("the session is there");
                    };
                    let frames = std::iter::once(message)
                        .chain(rest)
                        .map(|message| message.text(Format::Plain))
                        .collect();
                    assert!(futures::executor::block_on(sender.send_all(frames)));
                }
            }
        });
        // The session: as `Writer::drain` and `Writer::wait` do.
        let mut sink: Option<FrameSink> = Some(Box::new(socket.clone()));
        let mut handed_back = 0;
        futures::executor::block_on(async {
            loop {
                match future::poll_fn(|cx| receiver.poll_lending(cx, &mut sink)).await {
                    Woken::Frame(None) => break,
                    Woken::HandedBack => handed_back += 1,
                    Woken::Frame(Some(frame)) => {
                        let half = sink.as_mut().expect("back with a frame");
                        half.feed(Message::Text(frame)).await.unwrap();
                        while let Some(frame) = receiver.try_recv() {
                            half.feed(Message::Text(frame)).await.unwrap();
                        }
                    }
                }
                let half = sink.as_mut().expect("back once woken");
                half.flush().await.unwrap();
            }
        });
        hub.join().unwrap();
        let sent = socket.sent.lock().unwrap().clone();
        assert!(
            sent == (1..=MESSAGES).collect::<Vec<_>>(),
            "every message once, in order"
        );
        let by_hub = receiver.written_by_hub();
        assert!(
            by_hub > 0 && by_hub < MESSAGES && handed_back > 0,
            "both ways were taken: {by_hub} written by the hub, {handed_back} handed back"
        );
    }
}
