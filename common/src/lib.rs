//! The prodcon wire protocol, shared by `producer-server` and `consumer-client`.
//!
//! # Layout
//! - [`frame`]: what a `prodcon.v1` text frame holds (an [`Envelope`] or a [`LostRange`] notice),
//!   with its JSON encoding and a decoder that returns a typed error, never a panic.
//! - [`subprotocol`]: the subprotocol names and how a server picks one from a client's offer.
//! - [`resume`]: the `from` query parameter, read by the server and written by the client.
//! - [`close`]: the close codes the project sends, with their meaning.
//! - [`printable`]: peer-chosen text made safe for a terminal or a log line.
//! - [`plural`]: counts in sentences people read ("1 connection", "3 connections").
//! - [`cli`]: what both command lines share: the answer to a bad one, and durations.
//! - [`take_turns`]: a socket whose reads take turns, so that a peer that floods cannot hold an
//!   executor thread.
//! - [`pem_file`]: a certificate or key file read up to a limit, so that `/dev/zero` is refused.
//! - [`decimal`]: whole numbers as programs write them (Redis ids and times, URL ports).
//!
//! Invariant: this crate knows no async runtime and does no I/O of its own, but for
//! [`cli::parse_args`] writing the answer to a command line that does not parse; [`take_turns`]
//! wraps a socket the caller opened, and [`pem_file`] reads a file the caller opened. The rest is
//! easy to test and fuzz.
#![deny(missing_docs)]

mod canonical;
pub mod cli;
pub mod close;
pub mod decimal;
pub mod frame;
pub mod pem_file;
pub mod plural;
pub mod printable;
pub mod resume;
pub mod subprotocol;
pub mod take_turns;

pub use frame::{
    encode_message, encode_message_into, DecodeError, Envelope, FrameRef, LostRange, ServerFrame,
};
pub use plural::count;
pub use printable::{
    escaped, printable, printable_bytes, shows_as_is, unsafe_in_a_line, Escaped, Printable,
};
pub use subprotocol::Format;
