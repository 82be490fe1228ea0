//! Where messages come from: each source is a stream of message data, numbered 1, 2, 3, ... by
//! whoever takes from it.

pub mod counter;
pub mod stdin;

use futures::stream::BoxStream;

/// The data of the messages of a stream, in order.
pub type Source = BoxStream<'static, String>;
