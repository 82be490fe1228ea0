//! How long to wait before reconnecting: capped exponential backoff with jitter, so that many
//! clients dropped at once do not come back at once.

use std::time::Duration;

/// The first pause after a drop.
const FIRST: Duration = Duration::from_millis(100);
/// The longest pause: a server back up is found within this.
const MAX: Duration = Duration::from_secs(5);

/// Successive pauses between attempts.
pub struct Backoff {
    /// The pause before jitter for the next attempt.
    next: Duration,
    /// Randomness for the jitter.
    rng: fastrand::Rng,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: FIRST,
            rng: fastrand::Rng::new(),
        }
    }
}

impl Backoff {
    /// The pause before the next attempt: between half and all of the current step, which then
    /// doubles, up to [`MAX`].
    pub fn next_pause(&mut self) -> Duration {
        let step = self.next;
        self.next = (step * 2).min(MAX);
        let half = step / 2;
        half + half.mul_f64(self.rng.f64())
    }

    /// Starts again from the first step, after a connection that worked.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_the_cap_with_jitter_and_reset() {
        let mut backoff = Backoff::default();
        let pauses: Vec<Duration> = (0..10).map(|_| backoff.next_pause()).collect();
        assert!(pauses[0] >= FIRST / 2 && pauses[0] <= FIRST);
        assert!(pauses[3] >= FIRST * 4 && pauses[3] <= FIRST * 8);
        assert!(pauses.iter().all(|p| *p <= MAX));
        assert!(pauses[9] >= MAX / 2);
        backoff.reset();
        assert!(backoff.next_pause() <= FIRST);
    }
}
