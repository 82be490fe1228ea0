//! A future polled only when its own waker fired.
//!
//! A session's branches share one task: each wake-up of the task, whatever branch it is for,
//! polls every branch. Polling the reader costs a system call (a read that finds nothing), and
//! polling a shared signal (the verdict, the stop signal) takes a lock, so each sits behind this
//! gate, and a wake-up of the writer leaves them alone. A
//! `FuturesUnordered` of one does the same with two shared allocations and a queue; this is one
//! allocation of a few dozen bytes, which an idle connection keeps for its whole life.

use futures::task::{waker_ref, ArcWake, AtomicWaker};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// `inner`, polled on the first poll and then only after it asked to be woken and was.
pub struct Gated<F> {
    /// The future behind the gate.
    inner: F,
    /// What `inner`'s waker sets, and the task to wake then.
    gate: Arc<Gate>,
}

/// The waker given to the inner future.
struct Gate {
    /// Whether the inner future was woken since it was last polled.
    woken: AtomicBool,
    /// The task that polls the gated future.
    task: AtomicWaker,
}

impl ArcWake for Gate {
    fn wake_by_ref(gate: &Arc<Self>) {
        gate.woken.store(true, Ordering::Release);
        gate.task.wake();
    }
}

impl<F> Gated<F> {
    /// Gates `inner`.
    pub fn new(inner: F) -> Self {
        Gated {
            inner,
            gate: Arc::new(Gate {
                woken: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
        }
    }
}

impl<F: Future + Unpin> Future for Gated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        // Registered before the flag is read: a wake-up in between still reaches the task.
        this.gate.task.register(cx.waker());
        if !this.gate.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = waker_ref(&this.gate);
        Pin::new(&mut this.inner).poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls, and keeps the last waker it was given.
    #[derive(Default)]
    struct Counted {
        /// Polls so far.
        polls: Arc<AtomicUsize>,
        /// The waker of the last poll.
        waker: Option<std::task::Waker>,
    }

    impl Future for Counted {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            self.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// A task's waker that counts its wake-ups.
    struct Task(AtomicUsize);

    impl ArcWake for Task {
        fn wake_by_ref(task: &Arc<Self>) {
            task.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn polled_first_then_only_when_its_own_waker_fired() {
        let polls = Arc::new(AtomicUsize::new(0));
        let mut gated = Gated::new(Counted {
            polls: Arc::clone(&polls),
            waker: None,
        });
        let task = Arc::new(Task(AtomicUsize::new(0)));
        let waker = futures::task::waker(Arc::clone(&task));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        assert_eq!(
            polls.load(Ordering::Relaxed),
            1,
            "a wake-up of another branch"
        );
        gated.inner.waker.take().unwrap().wake();
        assert_eq!(
            task.0.load(Ordering::Relaxed),
            1,
            "its wake-up wakes the task"
        );
        assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), 2, "its own wake-up");
    }
}
