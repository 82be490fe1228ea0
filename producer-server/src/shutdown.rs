//! The stop signal: one trigger, any number of listeners.
//!
//! Dropping the trigger counts as pulling it, so a server whose signal handling fails stops
//! rather than running on with no way to be stopped.

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};

/// Pulled once to ask every part of the server to stop.
pub struct ShutdownTrigger(oneshot::Sender<()>);

/// Resolves once the trigger is pulled or dropped. Cheap to clone: one per task.
#[derive(Clone)]
pub struct ShutdownSignal(Shared<oneshot::Receiver<()>>);

/// A new trigger and the signal it controls.
pub fn shutdown_pair() -> (ShutdownTrigger, ShutdownSignal) {
    let (sender, receiver) = oneshot::channel();
    (ShutdownTrigger(sender), ShutdownSignal(receiver.shared()))
}

impl ShutdownTrigger {
    /// Asks everything that holds the signal to stop.
    pub fn pull(self) {
        // Nobody listening any more means everything already stopped: nothing to tell.
        let _ = self.0.send(());
    }
}

impl ShutdownSignal {
    /// Whether shutdown has been asked for, without waiting: for answers that change as soon as
    /// it is, such as `/healthz`.
    pub fn is_given(&self) -> bool {
        // Polling a clone of the shared receiver once: ready if the trigger was pulled or dropped.
        self.0.clone().now_or_never().is_some()
    }

    /// Waits until shutdown is asked for.
    pub async fn wait(self) {
        // Err means the trigger was dropped, which asks for shutdown as well.
        let _ = self.0.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_is_given_once_the_trigger_is_pulled_or_dropped() {
        let (trigger, signal) = shutdown_pair();
        assert!(!signal.is_given());
        let other = signal.clone();
        trigger.pull();
        assert!(signal.is_given() && other.is_given());
        let (trigger, signal) = shutdown_pair();
        drop(trigger);
        assert!(signal.is_given());
    }
}
