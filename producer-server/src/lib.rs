//! producer-server: streams messages to WebSocket consumers, with flow control.
//!
//! # Layout
//! - `main.rs`: the command line, the logger, the signals; calls [`serve`].
//! - [`config`]: the command-line options.
//! - [`listener`]: the accept loop; per connection, the HTTP request, the handshake, the session.
//! - [`http`]: reading request heads and answering plain HTTP requests.
//! - [`page`]: the answers to plain HTTP requests, the built-in live page among them.
//! - [`origin`]: which web pages may connect (the `Origin` check).
//! - [`handshake`]: the WebSocket upgrade and the subprotocol choice.
//! - [`source`]: where messages come from (the counter, standard input).
//! - [`hub`]: broadcast mode: one producer, its history, every subscriber's queue.
//! - [`outgoing`]: a connection's bounded queue and what it carries.
//! - [`session`]: one connection's writer (batching, pings), reader, liveness, goodbye.
//! - [`tls`]: the certificate and key of `--tls-cert` and `--tls-key`, loaded once.
//! - [`transport`]: a connection's bytes, plain TCP or TLS, read and written alike.
//! - [`metrics`]: what the server counts, and its health.
//! - [`metrics_listener`]: the `--metrics` address: `GET /metrics`, `GET /healthz`.
//! - [`shutdown`]: the stop signal.
//! - [`slots`]: the connection limit.
//! - [`runtime`]: everything taken from async-std, in one place.
//!
//! # Invariants
//! - Only a session's writer writes to its socket.
//! - Every queue is bounded: a slow reader makes its own producer wait (per-connection mode) or
//!   is closed as slow (broadcast); it never grows memory.
//! - Only the hub touches the history and the list of subscribers.

pub mod config;
pub mod handshake;
pub mod http;
pub mod hub;
pub mod listener;
pub mod metrics;
pub mod metrics_listener;
pub mod origin;
pub mod outgoing;
pub mod page;
pub mod rewind;
pub mod runtime;
pub mod session;
pub mod shutdown;
pub mod slots;
pub mod source;
pub mod tls;
pub mod transport;

pub use config::Config;
pub use listener::serve;
