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
//! - [`source`]: where messages come from (the counter).
//! - [`outgoing`]: what a connection's bounded queue carries.
//! - [`session`]: one connection's writer (batching) and reader, and its goodbye.
//! - [`shutdown`]: the stop signal.
//! - [`runtime`]: everything taken from async-std, in one place.
//!
//! # Invariants
//! - Only a session's writer writes to its socket.
//! - Every queue is bounded: a slow reader makes its producer wait, it never grows memory.

pub mod config;
pub mod handshake;
pub mod http;
pub mod listener;
pub mod origin;
pub mod outgoing;
pub mod page;
pub mod rewind;
pub mod runtime;
pub mod session;
pub mod shutdown;
pub mod source;

pub use config::Config;
pub use listener::serve;
