//! Waiting between attempts while Redis is away.

use crate::runtime;
use std::time::Duration;

/// The first pause after a failure: short, so that a Redis restart costs consumers little.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// The longest pause: Redis back is noticed within this. Short, because while a following
/// node waits, a publishing node that came back sooner may add entries faster than the stream
/// keeps them (`--history`), and what is trimmed before the follower reads it is lost to its
/// consumers; an attempt a second from a few nodes costs Redis nothing.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// Pauses that double from [`FIRST_PAUSE`] to [`MAX_PAUSE`], each cut by a random part of up to a
/// half, so that the nodes of a stream do not all come back at the same instant.
#[derive(Debug)]
pub struct Backoff {
    /// The pause before jitter, for the next failure.
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_PAUSE }
    }
}

impl Backoff {
    /// Waits after a failure, longer each time.
    pub async fn pause(&mut self) {
        let pause = self.next.mul_f64(1.0 - fastrand::f64() / 2.0);
        self.next = (self.next * 2).min(MAX_PAUSE);
        runtime::sleep(pause).await;
    }

    /// An attempt worked: the next failure starts from a short pause again.
    pub fn reset(&mut self) {
        self.next = FIRST_PAUSE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_limit_and_restart_after_success() {
        let mut backoff = Backoff::default();
        for _ in 0..10 {
            backoff.next = (backoff.next * 2).min(MAX_PAUSE);
        }
        assert_eq!(backoff.next, MAX_PAUSE);
        backoff.reset();
        assert_eq!(backoff.next, FIRST_PAUSE);
    }
}
