//! The connection limit: a fixed number of slots, each held by one open WebSocket.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts open connections against `--max-connections`.
pub struct Slots {
    /// Slots held now.
    taken: AtomicUsize,
    /// Slots in all.
    max: usize,
}

/// One slot, given back when dropped.
pub struct Slot<'a> {
    /// Where it was taken from.
    slots: &'a Slots,
}

impl Slots {
    /// `max` slots, all free.
    pub fn new(max: usize) -> Self {
        Slots {
            taken: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes a slot if one is free. Checking and taking is one atomic step, so concurrent
    /// handshakes can never exceed the limit together.
    pub fn take(&self) -> Option<Slot<'_>> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < self.max).then_some(taken + 1)
            })
            .ok()
            .map(|_| Slot { slots: self })
    }

    /// Slots held now.
    pub fn taken(&self) -> usize {
        self.taken.load(Ordering::Acquire)
    }

    /// Slots in all.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.slots.taken.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_and_come_back() {
        let slots = Slots::new(2);
        let first = slots.take().unwrap();
        let _second = slots.take().unwrap();
        assert!(slots.take().is_none());
        assert_eq!(slots.taken(), 2);
        drop(first);
        assert!(slots.take().is_some());
    }
}
