//! producer-server: streams messages to WebSocket consumers, with flow control.
//!
//! # Layout
//! - `main.rs`: the command line, the logger, the signals; calls [`serve`].
//! - [`config`]: the command-line options.
//! - [`listener`]: the accept loop, and the server's end.
//! - [`connection`]: one connection's life: admission, its outbox, its session, its log line.
//! - [`admission`]: from TCP to an accepted WebSocket, or a refusal with an HTTP answer.
//! - [`pending`]: connections not yet through their handshake, bounded, the oldest shed first.
//! - [`connection_log`]: the log's connection lines, within a budget per peer and in all.
//! - [`http`]: reading request heads and answering plain HTTP requests.
//! - [`rewind`]: puts the request head read by [`http`] back in front of the socket, for the
//!   WebSocket handshake to read.
//! - [`page`]: the answers to plain HTTP requests, the built-in live page among them.
//! - [`origin`]: which web pages may connect (the `Origin` check).
//! - [`upgrade`]: whether an upgrade request can succeed (tungstenite's own checks, run first).
//! - [`handshake`]: the WebSocket upgrade and the subprotocol choice.
//! - [`tls`]: the certificate and key of `--tls-cert` and `--tls-key`, loaded once.
//! - [`transport`]: a connection's bytes, plain TCP or TLS, read and written alike.
//! - [`metrics`]: what the server counts, and its health.
//! - [`metrics_listener`]: the `--metrics` address: `GET /metrics`, `GET /healthz`.
//! - [`slots`]: the connection limit.
//! - [`stream`]: broadcast mode: a stream's life, its hub (pace, slow consumers, the end).
//! - [`engine`]: where a broadcast stream is numbered and kept: in memory, or a Redis stream
//!   that several nodes serve.
//! - [`source`]: where messages come from (the counter, standard input).
//! - [`message`]: one message, its frames shared by every connection.
//! - [`shared_texts`]: many messages' texts written into one buffer they share, checked to
//!   be UTF-8 once for the buffer.
//! - [`queue`]: a connection's bounded queue, its verdict, and the outbox a session drains.
//! - [`mailbox`]: a broadcast subscriber's queue, and the sending half its session lends the
//!   hub while it has nothing to send.
//! - [`session`]: one connection's writer (batching, pings), reader, liveness, goodbye.
//! - [`deaf_peer`]: gives up on a peer that keeps sending while it reads nothing.
//! - [`wake_gate`]: a future polled only when its own waker fired (the session's reader, verdict
//!   and stop signal).
//! - [`shutdown`]: the stop signal.
//! - [`runtime`]: everything taken from async-std, in one place.
//!
//! ARCHITECTURE.md, at the top of the workspace, has the map, the invariants and the life of a
//! connection and of a message.
//!
//! # Invariants
//! - Only a session's writer writes to its socket, or the hub while the writer lends it the
//!   sending half ([`mailbox`]): whoever holds the half, passed between them under the
//!   mailbox's lock, so one at a time and in order.
//! - Every queue is bounded: a slow reader makes its own producer wait (per-connection mode) or
//!   the stream wait up to `--slow-timeout` (broadcast); it never grows memory.
//! - Only the hub touches a stream's subscribers; only the engine its numbering and history.
//! - Peer-chosen text (paths, headers, close reasons, errors quoting input) reaches the log only
//!   through `common::printable`, and connection lines only through [`connection_log`].

pub mod admission;
pub mod config;
pub mod connection;
pub mod connection_log;
pub mod deaf_peer;
pub mod engine;
pub mod fragments;
pub mod handshake;
pub mod http;
pub mod listener;
pub mod mailbox;
pub mod message;
pub mod metrics;
pub mod metrics_listener;
pub mod origin;
pub mod page;
pub mod pending;
pub mod queue;
pub mod rewind;
pub mod runtime;
pub mod session;
pub mod shared_texts;
pub mod shutdown;
pub mod slots;
pub mod source;
pub mod stream;
pub mod tls;
pub mod transport;
pub mod upgrade;
pub mod wake_gate;

pub use config::Config;
pub use listener::serve;
