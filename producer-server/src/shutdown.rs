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
    /// Waits until shutdown is asked for.
    pub async fn wait(self) {
        // Err means the trigger was dropped, which asks for shutdown as well.
        let _ = self.0.await;
    }
}
