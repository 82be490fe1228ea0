//! Giving up on a server that has stopped taking part: silent for too long, or not reading the
//! pongs it is owed.
//!
//! One timer serves the whole connection. It is set once per `--silence-timeout` rather than once
//! per pause of the stream, and on firing looks at what happened meanwhile: a stream that pauses
//! thousands of times a second costs no timer per pause.

use crate::error::ClientError;
use crate::runtime::{self, Timer};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The deadlines of one connection.
pub struct Watchdog {
    /// How long the server may be silent, or leave its pongs unread; zero for ever.
    limit: Duration,
    /// When the server was last heard from, as of the last time the socket ran dry.
    heard: Instant,
    /// Frames received in all, to tell whether any came since the socket last ran dry.
    frames: u64,
    /// `frames` when the socket last ran dry.
    frames_at_drain: u64,
    /// Since when a pong owed to the server has been waiting because it does not read.
    owed_since: Option<Instant>,
    /// Fires at the earliest deadline; `None` when there is no limit.
    timer: Option<Timer>,
}

impl Watchdog {
    /// Watches a connection just opened, with `limit` (zero: never give up).
    pub fn new(limit: Duration) -> Self {
        Watchdog {
            limit,
            heard: Instant::now(),
            frames: 0,
            frames_at_drain: 0,
            owed_since: None,
            timer: (!limit.is_zero()).then(|| runtime::timer(limit)),
        }
    }

    /// Counts a frame received. Cheap: no clock is read here, since frames come by the million.
    pub fn frame(&mut self) {
        self.frames += 1;
    }

    /// Notes that the socket ran dry after frames came: the server was heard until now.
    pub fn drained(&mut self) {
        self.heard = Instant::now();
        self.frames_at_drain = self.frames;
    }

    /// Notes whether the pongs owed could all be handed to the socket (`written`), and fails if
    /// they have been waiting longer than the limit.
    pub fn pongs(&mut self, written: bool) -> Result<(), ClientError> {
        if written {
            self.owed_since = None;
            return Ok(());
        }
        let since = *self.owed_since.get_or_insert_with(Instant::now);
        self.check_owed(since, Instant::now())
    }

    /// Whether pongs owed to the server are waiting for it to read.
    pub fn owes_pongs(&self) -> bool {
        self.owed_since.is_some()
    }

    /// Polls the timer; ready with the reason to give up once a deadline has passed.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<ClientError> {
        loop {
            let Some(timer) = self.timer.as_mut() else {
                return Poll::Pending;
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if self.frames != self.frames_at_drain {
                // Frames came and the socket has not run dry since: the stream is flowing.
                self.drained();
            }
            if self.heard + self.limit <= now {
                return Poll::Ready(ClientError::Silent(self.limit));
            }
            if let Some(since) = self.owed_since {
                if let Err(error) = self.check_owed(since, now) {
                    return Poll::Ready(error);
                }
            }
            let next = [Some(self.heard), self.owed_since]
                .into_iter()
                .flatten()
                .map(|from| from + self.limit)
                .min()
                .unwrap_or(now + self.limit);
            self.timer = Some(runtime::timer(next.saturating_duration_since(now)));
        }
    }

    /// Fails if the pongs owed since `since` have waited longer than the limit by `now`.
    fn check_owed(&self, since: Instant, now: Instant) -> Result<(), ClientError> {
        if !self.limit.is_zero() && now.duration_since(since) >= self.limit {
            return Err(ClientError::NotReading(self.limit));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pongs_left_unread_past_the_limit_end_the_connection() {
        let mut watchdog = Watchdog::new(Duration::from_millis(20));
        assert!(watchdog.pongs(false).is_ok(), "owed from now on");
        std::thread::sleep(Duration::from_millis(30));
        assert!(matches!(
            watchdog.pongs(false),
            Err(ClientError::NotReading(_))
        ));
        assert!(watchdog.pongs(true).is_ok(), "read at last: owed nothing");
        assert!(!watchdog.owes_pongs());
    }

    #[test]
    fn silence_is_told_from_a_stream_that_never_runs_dry() {
        let limit = Duration::from_millis(30);
        // Frames keep coming and the socket never runs dry: not silent.
        let mut flowing = Watchdog::new(limit);
        let started = Instant::now();
        let outcome = runtime::block_on(runtime::timeout(
            limit * 3,
            futures::future::poll_fn(|cx| {
                flowing.frame();
                flowing.poll_expired(cx)
            }),
        ));
        assert!(
            outcome.is_none(),
            "{outcome:?} after {:?}",
            started.elapsed()
        );
        // Nothing at all: silent once the limit has passed.
        let mut silent = Watchdog::new(limit);
        let outcome = runtime::block_on(futures::future::poll_fn(|cx| silent.poll_expired(cx)));
        assert!(matches!(outcome, ClientError::Silent(_)));
    }

    #[test]
    fn no_limit_means_no_timer() {
        let mut watchdog = Watchdog::new(Duration::ZERO);
        assert!(watchdog.pongs(false).is_ok());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(watchdog.poll_expired(&mut cx).is_pending());
    }
}
