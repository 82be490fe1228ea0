//! Where messages come from: each source is a stream of message data, numbered 1, 2, 3, ... by
//! whoever takes from it.

pub mod counter;
pub mod stdin;

use async_tungstenite::tungstenite::Utf8Bytes;
use futures::stream::BoxStream;

/// The data of the messages of a stream, in order, each already the text of a frame, given in
/// batches of what was ready together (never empty): whoever takes from a source polls its
/// stream once per batch, not once per message (which was 7% of the broadcast server's time
/// with the counter at `--interval 0`).
pub type Source = BoxStream<'static, Vec<Utf8Bytes>>;
