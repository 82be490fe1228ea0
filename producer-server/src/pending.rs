//! Connections that have not completed their handshake yet, oldest first, each of which can be
//! shed to make room.
//!
//! A connection holds a descriptor from the moment it is accepted, before it counts against
//! `--max-connections`; peers that open connections and send nothing could otherwise use up every
//! descriptor, and a real client would wait in the kernel's queue. So at most `--max-pending`
//! connections may be unfinished at once: a new one beyond it sheds the oldest, as does a failed
//! accept for want of descriptors. The oldest is shed, not the newest: a real client completes its
//! handshake within milliseconds of arriving, so it is never the oldest for long, while a
//! connection that has waited longest is the likeliest to be idle on purpose.

use futures::channel::oneshot;
use futures::{select, FutureExt};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

/// The bound when `--max-pending` is not given, for a process that may open `open_files_limit`
/// descriptors: a quarter of them, so that three quarters stay for open WebSockets, the listener
/// and the runtime; at least a few, at most enough for any burst of real clients.
pub fn default_bound(open_files_limit: u64) -> usize {
    (open_files_limit / 4).clamp(16, 4096) as usize
}

/// The bound as it applies now: `configured`, or else the default for the process's current
/// limit of open files.
pub fn bound(configured: Option<NonZeroUsize>) -> usize {
    configured.map_or_else(
        || {
            // Without a readable limit, assume the usual soft limit.
            let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
            default_bound(soft)
        },
        NonZeroUsize::get,
    )
}

/// Why a connection was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// `--max-pending` connections were unfinished when a new one came.
    Full(usize),
    /// Accepting a connection failed for want of descriptors.
    NoDescriptors,
}

impl fmt::Display for Shed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shed::Full(max) => write!(
                f,
                "shed as the oldest of {max} unfinished handshakes to make room (--max-pending)"
            ),
            Shed::NoDescriptors => write!(
                f,
                "shed as the oldest unfinished handshake: the server ran out of descriptors"
            ),
        }
    }
}

/// The unfinished handshakes of one server.
#[derive(Clone)]
pub struct Pending {
    /// The registry, shared with every ticket (which leaves it when dropped).
    registry: Arc<Mutex<Registry>>,
    /// Most unfinished handshakes at once.
    max: usize,
}

/// Every unfinished handshake, by order of arrival.
#[derive(Default)]
struct Registry {
    /// The number the next connection gets: numbers grow with arrival, so the smallest is the
    /// oldest.
    next: u64,
    /// The way to shed each unfinished handshake, by arrival number.
    waiting: BTreeMap<u64, oneshot::Sender<Shed>>,
    /// Connections shed whose tasks have not yet closed them: each still holds a descriptor.
    shed_open: usize,
}

/// One connection's place among the unfinished handshakes, given up when dropped.
pub struct Ticket {
    /// Where it was taken.
    registry: Arc<Mutex<Registry>>,
    /// Its arrival number.
    number: u64,
    /// Resolves when the connection is shed.
    shed: oneshot::Receiver<Shed>,
}

impl Pending {
    /// At most `max` unfinished handshakes (at least one).
    pub fn new(max: usize) -> Self {
        Pending {
            registry: Arc::default(),
            max: max.max(1),
        }
    }

    /// Registers a newly accepted connection, shedding the oldest first if `--max-pending` are
    /// already waiting.
    pub fn register(&self) -> Ticket {
        let mut registry = self.lock();
        while registry.waiting.len() >= self.max {
            registry.shed_oldest(Shed::Full(self.max));
        }
        let number = registry.next;
        registry.next += 1;
        let (sender, shed) = oneshot::channel();
        registry.waiting.insert(number, sender);
        Ticket {
            registry: Arc::clone(&self.registry),
            number,
            shed,
        }
    }

    /// Sheds the oldest unfinished handshake, to free a descriptor; whether there was one.
    pub fn shed_oldest(&self) -> bool {
        self.lock().shed_oldest(Shed::NoDescriptors)
    }

    /// How many shed connections still hold their descriptor, their tasks not having run yet.
    /// Shedding frees nothing until then: whoever sheds in a loop should wait for them.
    pub fn shed_open(&self) -> usize {
        self.lock().shed_open
    }

    /// How many handshakes are unfinished now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().waiting.len()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }
}

impl Registry {
    /// Tells the oldest connection it is shed, and forgets it; whether there was one.
    fn shed_oldest(&mut self, why: Shed) -> bool {
        match self.waiting.pop_first() {
            Some((_, sender)) => {
                // Its task may be ending on its own at this very moment: then nobody listens,
                // but its ticket, dropped, still counts it as closed.
                let _ = sender.send(why);
                self.shed_open += 1;
                true
            }
            None => false,
        }
    }
}

impl Ticket {
    /// Runs `handshake` to its end, unless the connection is shed first; either way, the
    /// connection is no longer pending afterwards.
    pub async fn unless_shed<T>(mut self, handshake: impl Future<Output = T>) -> Result<T, Shed> {
        let handshake = handshake.fuse();
        futures::pin_mut!(handshake);
        select! {
            done = handshake => Ok(done),
            // The sender goes only with a shed, or when this ticket leaves the registry, which
            // cannot happen while it is here: reading a lost sender as a shed is the safe side.
            why = &mut self.shed => Err(why.unwrap_or(Shed::NoDescriptors)),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut registry = lock(&self.registry);
        if registry.waiting.remove(&self.number).is_none() {
            // Shed: its connection, given up before its ticket, is closed now.
            registry.shed_open -= 1;
        }
    }
}

/// The registry, even if a thread panicked while holding it: each change is one map operation.
fn lock(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::future;

    #[test]
    fn the_oldest_is_shed_when_full() {
        let pending = Pending::new(2);
        let oldest = pending.register();
        let second = pending.register();
        let newest = pending.register();
        assert_eq!(pending.len(), 2);
        assert_eq!(
            block_on(oldest.unless_shed(future::pending::<()>())),
            Err(Shed::Full(2))
        );
        assert_eq!(pending.shed_open(), 0, "the oldest's ticket is gone");
        assert_eq!(block_on(second.unless_shed(async { 7 })), Ok(7));
        assert_eq!(pending.len(), 1, "a finished handshake leaves");
        drop(newest);
        assert_eq!(pending.len(), 0);
    }

    #[test]
    fn out_of_descriptors_sheds_the_oldest() {
        let pending = Pending::new(100);
        let oldest = pending.register();
        let _newest = pending.register();
        assert!(pending.shed_oldest());
        assert_eq!(
            block_on(oldest.unless_shed(future::pending::<()>())),
            Err(Shed::NoDescriptors)
        );
        assert!(pending.shed_oldest());
        assert!(!pending.shed_oldest(), "nothing left to shed");
        assert_eq!(pending.shed_open(), 1, "the second's ticket is still held");
    }

    #[test]
    fn the_default_keeps_most_descriptors_for_open_connections() {
        assert_eq!(default_bound(1024), 256);
        assert_eq!(default_bound(20_000), 4096);
        assert_eq!(default_bound(40), 16);
    }
}
