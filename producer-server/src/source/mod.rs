//! Where messages come from: each source is a stream of message data, numbered 1, 2, 3, ... by
//! whoever takes from it.

pub mod counter;
pub mod stdin;

use async_tungstenite::tungstenite::Utf8Bytes;
use futures::stream::BoxStream;

/// The data of the messages of a stream, in order, each already the text of a frame.
pub type Source = BoxStream<'static, Utf8Bytes>;
