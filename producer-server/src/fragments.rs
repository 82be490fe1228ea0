//! Large messages go out in fragments, so that no connection's write buffer ever holds one whole.
//!
//! tungstenite copies each frame whole into the connection's write buffer, a `Vec` that keeps
//! its capacity for as long as the connection lives. So one long message cost every consumer it
//! was sent to its whole size, for good: after a line of 1 MB of control characters (6 MB as a
//! `prodcon.v1` frame), 100 consumers that had read it held 590 MB of the server's memory.
//! [`Fragmenting`] sends a text message over [`FRAGMENT`] bytes as a text frame of that size
//! and continuation frames (RFC 6455, section 5.4), each a slice of the message's shared text:
//! the write buffer then never holds more than a fragment beyond its usual batch. Every
//! WebSocket client joins them back into one message, as it must.
//!
//! The rest of a message begun waits here, and goes out before anything else the sink is given:
//! each `poll_ready`, `poll_flush` and `poll_close` sends it first, so whoever holds the sink
//! (the session, or the hub writing into a lent half) keeps every message whole and in order.
//! Control frames may go between fragments by the RFC: tungstenite's own answers to a client's
//! ping or close may; the session's pings and its close wait for the end of the message.

use async_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use async_tungstenite::tungstenite::protocol::frame::Frame;
use async_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use futures::{ready, Sink, SinkExt};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The largest frame the server writes: a fragment of a longer message. As large as a write
/// buffer's batch, so that a long message costs a connection no more buffer than a busy stream.
pub const FRAGMENT: usize = 16 * 1024;

/// `inner`, sending long text messages in fragments: see the module's documentation.
pub struct Fragmenting<S> {
    /// The socket's sending half.
    inner: S,
    /// What is left to send of a message begun, as continuation frames.
    rest: Bytes,
}

impl<S> Fragmenting<S> {
    /// `inner`, sending long text messages in fragments.
    pub fn new(inner: S) -> Self {
        Fragmenting {
            inner,
            rest: Bytes::new(),
        }
    }
}

impl<S: Sink<Message, Error = WsError> + Unpin> Fragmenting<S> {
    /// Sends the rest of the message begun, if any.
    fn poll_rest(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        while !self.rest.is_empty() {
            let sent = ready!(self.inner.poll_ready_unpin(cx)).and_then(|()| {
                let part = self.rest.split_to(self.rest.len().min(FRAGMENT));
                let last = self.rest.is_empty();
                let frame = Frame::message(part, OpCode::Data(Data::Continue), last);
                self.inner.start_send_unpin(Message::Frame(frame))
            });
            if let Err(error) = sent {
                // A fragment is lost with the connection: nothing may follow it as if whole.
                self.rest.clear();
                return Poll::Ready(Err(error));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: Sink<Message, Error = WsError> + Unpin> Sink<Message> for Fragmenting<S> {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        ready!(self.poll_rest(cx))?;
        self.inner.poll_ready_unpin(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        match message {
            Message::Text(text) if text.len() > FRAGMENT => {
                let mut rest = Bytes::from(text);
                let first = rest.split_to(FRAGMENT);
                let frame = Frame::message(first, OpCode::Data(Data::Text), false);
                self.inner.start_send_unpin(Message::Frame(frame))?;
                self.rest = rest;
                Ok(())
            }
            other => self.inner.start_send_unpin(other),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        ready!(self.poll_rest(cx))?;
        self.inner.poll_flush_unpin(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        ready!(self.poll_rest(cx))?;
        self.inner.poll_close_unpin(cx)
    }
}

/// What a reader makes of `sent`: whole messages, checking that fragments follow the RFC.
#[cfg(test)]
pub(crate) fn joined(sent: &[Message]) -> Vec<String> {
    let mut whole = Vec::new();
    let mut begun: Option<Vec<u8>> = None;
    for message in sent {
        match message {
            Message::Text(text) => {
                assert!(begun.is_none(), "a message inside another");
                assert!(text.len() <= FRAGMENT);
                whole.push(text.to_string());
            }
            Message::Frame(frame) => {
                let header = frame.header();
                assert!(frame.payload().len() <= FRAGMENT);
                match (header.opcode, begun.as_mut()) {
                    (OpCode::Data(Data::Text), None) => begun = Some(Vec::new()),
                    (OpCode::Data(Data::Continue), Some(_)) => {}
                    other => panic!("out of place: {other:?}"),
                }
                let bytes = begun.as_mut().expect("begun");
                bytes.extend_from_slice(frame.payload());
                if header.is_final {
                    whole.push(String::from_utf8(begun.take().unwrap()).unwrap());
                }
            }
            other => panic!("not sent here: {other:?}"),
        }
    }
    assert!(begun.is_none(), "a message left unfinished");
    whole
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker_ref;

    /// A sending half that keeps the frames it is given, and takes one only while it has room.
    #[derive(Default)]
    struct Socket {
        sent: Vec<Message>,
        /// Frames it takes before it is full; `None`: no limit.
        room: Option<usize>,
    }

    impl Sink<Message> for Socket {
        type Error = WsError;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            match self.room {
                Some(0) => Poll::Pending,
                _ => Poll::Ready(Ok(())),
            }
        }

        fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
            if let Some(room) = &mut self.room {
                *room -= 1;
            }
            self.sent.push(message);
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            self.poll_ready(cx)
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            self.poll_ready(cx)
        }
    }

    /// Sends each of `texts` through `sink` as a writer would, then flushes; false if the
    /// sink had no room at some point.
    fn send_all(sink: &mut Fragmenting<Socket>, texts: &[String]) -> bool {
        let mut cx = Context::from_waker(noop_waker_ref());
        for text in texts {
            if sink.poll_ready_unpin(&mut cx).is_pending() {
                return false;
            }
            sink.start_send_unpin(Message::text(text.clone())).unwrap();
        }
        sink.poll_flush_unpin(&mut cx).is_ready()
    }

    #[test]
    fn long_messages_go_in_fragments_and_short_ones_whole_in_order() {
        // Multi-byte characters across the cuts: a fragment need not end between characters.
        let texts: Vec<String> = [
            "a".repeat(10),
            "é".repeat(FRAGMENT),
            "b".repeat(FRAGMENT),
            "c".repeat(FRAGMENT + 1),
            "d".to_string(),
            "€".repeat(3 * FRAGMENT + 7),
        ]
        .into();
        let mut sink = Fragmenting::new(Socket::default());
        assert!(send_all(&mut sink, &texts));
        assert_eq!(joined(&sink.inner.sent), texts);
        // 10 bytes, 32 KiB of "é" in 2, 16 KiB whole, 16 KiB + 1 in 2, "d", 144 KiB + 21 in 10.
        assert_eq!(sink.inner.sent.len(), 1 + 2 + 1 + 2 + 1 + 10);
    }

    #[test]
    fn the_rest_of_a_message_goes_before_anything_else_however_often_the_socket_is_full() {
        let texts: Vec<String> = vec!["x".repeat(5 * FRAGMENT), "next".into()];
        let mut sink = Fragmenting::new(Socket {
            room: Some(2),
            ..Socket::default()
        });
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(sink.poll_ready_unpin(&mut cx).is_ready());
        sink.start_send_unpin(Message::text(texts[0].clone()))
            .unwrap();
        // Full after a fragment more: not ready, neither for a message nor a flush.
        assert!(sink.poll_ready_unpin(&mut cx).is_pending());
        assert!(sink.poll_flush_unpin(&mut cx).is_pending());
        for _ in 0..3 {
            sink.inner.room = Some(1);
            assert!(sink.poll_ready_unpin(&mut cx).is_pending());
        }
        sink.inner.room = None;
        assert!(send_all(&mut sink, &texts[1..]));
        assert_eq!(joined(&sink.inner.sent), texts);
    }
}
