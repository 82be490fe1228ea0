//! producer-server: streams messages to WebSocket consumers, with flow control.
//!
//! # Layout
//! - `main.rs`: the command line, the logger, the signals; calls [`serve`].
//! - [`config`]: the command-line options.
//! - [`listener`]: the accept loop; per connection, the HTTP request, the handshake, the session.
//! - [`pending`]: connections not yet through their handshake, bounded, the oldest shed first.
//! - [`connection_log`]: the log's connection lines, within a budget per peer and in all.
//! - [`http`]: reading request heads and answering plain HTTP requests.
//! - [`page`]: the answers to plain HTTP requests, the built-in live page among them.
//! - [`origin`]: which web pages may connect (the `Origin` check).
//! - [`upgrade`]: whether an upgrade request can succeed (tungstenite's own checks, run first).
//! - [`handshake`]: the WebSocket upgrade and the subprotocol choice.
//! - [`source`]: where messages come from (the counter, standard input).
//! - [`hub`]: broadcast mode: one producer, its history, every subscriber's queue.
//! - [`outgoing`]: a connection's bounded queue and what it carries.
//! - [`session`]: one connection's writer (batching, pings), reader, liveness, goodbye.
//! - [`deaf_peer`]: gives up on a peer that keeps sending while it reads nothing.
//! - [`shutdown`]: the stop signal.
//! - [`slots`]: the connection limit.
//! - [`runtime`]: everything taken from async-std, in one place.
//!
//! # Invariants
//! - Only a session's writer writes to its socket.
//! - Every queue is bounded: a slow reader makes its own producer wait (per-connection mode) or
//!   is closed as slow (broadcast); it never grows memory.
//! - Only the hub touches the history and the list of subscribers.
//! - Peer-chosen text (paths, headers, close reasons, errors quoting input) reaches the log only
//!   through `common::printable`, and connection lines only through [`connection_log`].

pub mod config;
pub mod connection_log;
pub mod deaf_peer;
pub mod handshake;
pub mod http;
pub mod hub;
pub mod listener;
pub mod origin;
pub mod outgoing;
pub mod page;
pub mod pending;
pub mod rewind;
pub mod runtime;
pub mod session;
pub mod shutdown;
pub mod slots;
pub mod source;
pub mod upgrade;

pub use config::Config;
pub use listener::serve;
