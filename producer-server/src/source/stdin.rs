//! Standard input as a source: each line is one message, in order.
//!
//! The line ending (`\n`, or `\r\n`) is not part of the message. WebSocket text must be UTF-8, so
//! a line that is not valid UTF-8 is sent with each invalid byte sequence replaced by U+FFFD, and
//! a warning names the line. A line longer than [`MAX_LINE_LEN`] is sent as several messages of at
//! most that length, cut between characters, also with a warning. Nothing is dropped.

use crate::runtime;
use async_tungstenite::tungstenite::Utf8Bytes;
use futures::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use futures::stream::{self, Stream, StreamExt};

/// The longest message a line makes, in bytes: JSON-escaped, it stays within what a consumer
/// accepts (`common::frame::MAX_FRAME_LEN`).
pub const MAX_LINE_LEN: usize = 1024 * 1024;

/// The lines of standard input, until its end.
pub fn lines() -> impl Stream<Item = Utf8Bytes> + Send {
    lines_of(runtime::stdin()).map(Utf8Bytes::from)
}

/// Where the reading stands.
struct Reader<R> {
    /// The input.
    input: BufReader<R>,
    /// Bytes of the current line read but not yet sent (the start of a cut character).
    carry: Vec<u8>,
    /// The number of the line being read, from 1, for warnings.
    line: u64,
    /// Whether the line being read was already cut.
    cut: bool,
}

/// The lines of `input`, until its end or a read error (logged).
pub fn lines_of<R: AsyncRead + Unpin + Send>(input: R) -> impl Stream<Item = String> + Send {
    let reader = Reader {
        input: BufReader::new(input),
        carry: Vec::new(),
        line: 1,
        cut: false,
    };
    stream::unfold(reader, |mut reader| async move {
        let message = reader.next_message().await?;
        Some((message, reader))
    })
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Reads the next message: a line, or the next piece of a long one.
    async fn next_message(&mut self) -> Option<String> {
        let mut bytes = std::mem::take(&mut self.carry);
        let room = (MAX_LINE_LEN + 1).saturating_sub(bytes.len()) as u64;
        match (&mut self.input)
            .take(room)
            .read_until(b'\n', &mut bytes)
            .await
        {
            Ok(0) if bytes.is_empty() => return None,
            Ok(_) => {}
            Err(error) => {
                log::error!(
                    "reading standard input failed at line {}: {error}; ending the stream",
                    self.line
                );
                return None;
            }
        }
        let number = self.line;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
            self.line += 1;
            self.cut = false;
        } else if bytes.len() > MAX_LINE_LEN {
            // A long line: send what fits, up to the last whole character, and keep the rest.
            let mut end = MAX_LINE_LEN;
            if let Err(error) = std::str::from_utf8(&bytes[..end]) {
                if error.error_len().is_none() {
                    end = error.valid_up_to();
                }
            }
            self.carry = bytes.split_off(end);
            if !self.cut {
                log::warn!("line {number} of standard input is over {MAX_LINE_LEN} bytes: sent as several messages");
            }
            self.cut = true;
        }
        Some(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                log::warn!("line {number} of standard input is not valid UTF-8: invalid bytes sent as U+FFFD");
                String::from_utf8_lossy(error.as_bytes()).into_owned()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn read(input: &[u8]) -> Vec<String> {
        futures::executor::block_on(lines_of(futures::io::Cursor::new(input.to_vec())).collect())
    }

    #[test]
    fn each_line_is_a_message_without_its_ending() {
        assert_eq!(read(b"one\ntwo\r\n\nlast"), ["one", "two", "", "last"]);
        assert!(read(b"").is_empty());
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        assert_eq!(read(b"ok\nbad \xff byte\n"), ["ok", "bad \u{fffd} byte"]);
    }

    #[test]
    fn long_lines_are_cut_between_characters() {
        let mut line = "a".repeat(MAX_LINE_LEN - 1).into_bytes();
        line.extend_from_slice("é and more\nnext\n".as_bytes());
        let messages = read(&line);
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].len(), MAX_LINE_LEN - 1);
        assert_eq!(messages[1], "é and more");
        assert_eq!(messages[2], "next");
    }
}
