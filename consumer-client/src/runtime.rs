//! Everything this crate takes from its async runtime, in one place: a move from async-std to
//! smol touches this file alone.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use async_std::net::TcpStream;

/// Runs `future` to completion on the current thread.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    async_std::task::block_on(future)
}

/// Waits for `duration`.
pub async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await
}

/// Runs `future` for at most `limit`; `None` when time ran out first.
pub async fn timeout<T>(limit: Duration, future: impl Future<Output = T>) -> Option<T> {
    async_std::future::timeout(limit, future).await.ok()
}

/// A timer that can be kept in a struct and polled by hand.
pub type Timer = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A timer that fires after `duration`.
pub fn timer(duration: Duration) -> Timer {
    Box::pin(async_std::task::sleep(duration))
}
