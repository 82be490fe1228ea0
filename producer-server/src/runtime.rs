//! Everything this crate takes from its async runtime, in one place.
//!
//! async-std is deprecated upstream in favour of smol. Sockets, tasks, timers and signals are
//! all that is runtime-specific here; the rest of the crate uses `futures` and these names, so
//! a move to smol (`smol::net`, `smol::spawn`, `async-signal`) touches this file; timers already
//! come from `async-io`, the reactor both runtimes share.

use futures::Stream;
use std::future::Future;
use std::time::Duration;

pub use async_std::net::{TcpListener, TcpStream};

/// Connections the kernel may hold for the accept loop (capped by `net.core.somaxconn`). The
/// standard library asks for 128: a burst of peers reconnecting at once (a flood of idle
/// connections being shed, or thousands of consumers after a restart) would overflow it, and a
/// connection the kernel turns away waits a second or more before its first retry.
const LISTEN_BACKLOG: i32 = 4096;

/// The send buffer asked of the kernel for every connection, which Linux doubles for its own
/// bookkeeping: about 512 KiB of frames wait in the kernel for a peer that reads nothing. Left
/// to itself the kernel grows a connection's send buffer towards `tcp_wmem`'s maximum (4 MiB by
/// default), memory no limit of this process sees: 300 non-reading consumers held 759 MiB. A
/// size set by hand also ends that autotuning, so it must stay large enough for a fast
/// consumer: loopback's segments are 64 KiB, and below a few of them in flight throughput falls.
const SEND_BUFFER: usize = 256 * 1024;

/// Listens on `addr`, with room for [`LISTEN_BACKLOG`] connections waiting to be accepted, each
/// with a send buffer of [`SEND_BUFFER`].
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As the standard library does: a restarted server may bind while old connections linger.
    socket.set_reuse_address(true)?;
    // Set on the listener, not on each connection: Linux and the BSDs copy it to every socket
    // accepted from it (autotuning off included), before the first byte is sent, in one system
    // call for the whole life of the server.
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from(std::net::TcpListener::from(socket)))
}

/// Runs `future` to completion on the current thread, driving every spawned task meanwhile.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    async_std::task::block_on(future)
}

/// Runs `future` as a task of its own, detached: it must handle its own errors.
pub fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    async_std::task::spawn(future);
}

/// Waits for `duration`. A timer of the reactor, as async-std's own sleep is, without the
/// timeout wrapped around it: a future of a few dozen bytes, which matters where a connection
/// keeps one for its whole life.
pub async fn sleep(duration: Duration) {
    async_io::Timer::after(duration).await;
}

/// A timer kept for as long as it is needed, cheaper than a new sleep for every wait: it goes
/// off every `period` ([`ticks`]), or once when armed with `set_after` ([`never`] until then).
/// As a future it resolves when it goes off; as a stream, at every tick.
pub type Timer = async_io::Timer;

/// Ticks every `period`, the first one `period` from now; never when `period` is zero.
pub fn ticks(period: Duration) -> Timer {
    if period.is_zero() {
        never()
    } else {
        async_io::Timer::interval(period)
    }
}

/// A timer that does not go off until it is armed: it costs the reactor nothing meanwhile.
pub fn never() -> Timer {
    async_io::Timer::never()
}

/// Runs `future` for at most `limit`; `None` when time ran out first.
pub fn timeout<F: Future>(limit: Duration, future: F) -> impl Future<Output = Option<F::Output>> {
    // Not an `async fn`: that would keep a second copy of `future` in its own state.
    futures::FutureExt::map(async_std::future::timeout(limit, future), Result::ok)
}

/// The numbers of SIGINT and SIGTERM as they arrive.
pub fn termination_signals() -> std::io::Result<impl Stream<Item = i32>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    signal_hook_async_std::Signals::new([SIGINT, SIGTERM])
}

/// Lets other tasks run before going on: a busy producer must not starve the writers it feeds.
pub async fn yield_now() {
    async_std::task::yield_now().await
}

/// The process's standard input, readable without blocking a runtime thread.
pub fn stdin() -> impl futures::io::AsyncRead + Unpin + Send {
    async_std::io::stdin()
}
