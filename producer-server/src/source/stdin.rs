//! Standard input as a source: each line is one message, in order.
//!
//! The line ending (`\n`, or `\r\n`) is not part of the message. WebSocket text must be UTF-8, so
//! a line that is not valid UTF-8 is sent with each invalid byte sequence replaced by U+FFFD, and
//! a warning names the line. A line longer than [`MAX_LINE_LEN`] (or that outgrows it once its
//! invalid bytes are replaced) is sent as several messages of at most that length, cut between
//! characters, also with a warning. Nothing is dropped.

use crate::runtime;
use crate::shared_texts::{is_continuation, TextBuffer};
use async_tungstenite::tungstenite::{Bytes, Utf8Bytes};
use futures::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use futures::stream::{self, Stream};
use std::collections::VecDeque;
use std::pin::Pin;

/// The longest message a line makes, in bytes: the longest any message holds.
pub const MAX_LINE_LEN: usize = crate::message::MAX_DATA_LEN;

/// The lines of standard input, until its end, in batches of those read together.
pub fn lines() -> impl Stream<Item = Vec<Utf8Bytes>> + Send {
    lines_of(runtime::stdin())
}

/// A line read into a buffer this long or longer gives the buffer back to the allocator
/// afterwards: one long line must not keep its memory for the rest of the stream.
const KEPT_BUFFER: usize = 64 * 1024;

/// How much is read from the input at a time: standard input is read on a blocking thread, and
/// each read it finishes wakes the reader, so 64 KiB (a few thousand short lines) rather than
/// the usual 8.
const READ_SIZE: usize = 64 * 1024;

// A line the input's buffer holds whole is never too long to be one message.
const _: () = assert!(READ_SIZE <= MAX_LINE_LEN);

/// Messages given together at most: a read of short lines holds thousands, and a batch is
/// held whole until it is numbered.
const BATCH: usize = 1024;

/// Where the reading stands.
struct Reader<R> {
    /// The input.
    input: BufReader<R>,
    /// Long lines' pieces read and still to be sent, each with the number of its line.
    pieces: VecDeque<(u64, Vec<u8>)>,
    /// Whole lines taken from the input's buffer together, endings included, and shared with
    /// the messages cut from them (see [`Reader::take_buffered_lines`]).
    taken: TextBuffer,
    /// Where the next line to cut from `taken` begins.
    cut: usize,
    /// The line being read, reused from line to line: each message is one exact copy of it, so
    /// a line up to [`MAX_LINE_LEN`] costs one allocation. Between two reads it holds the start
    /// of a line too long to hold whole, not yet cut into messages.
    line_buffer: Vec<u8>,
    /// The number of the line being read, from 1, for warnings.
    line: u64,
    /// The number of the last line warned about as long, so that it is warned about once.
    warned_long: u64,
}

/// The lines of `input`, until its end or a read error (logged), in batches of those read
/// together.
pub fn lines_of<R: AsyncRead + Unpin + Send>(
    input: R,
) -> impl Stream<Item = Vec<Utf8Bytes>> + Send {
    let reader = Reader {
        input: BufReader::with_capacity(READ_SIZE, input),
        pieces: VecDeque::new(),
        taken: TextBuffer::new(Bytes::new()),
        cut: 0,
        line_buffer: Vec::new(),
        line: 1,
        warned_long: 0,
    };
    // Boxed: `unfold` moves its state into each step's future and back out, and the reader is
    // a few hundred bytes (when a step was a line, memmove was 7% of the server's time).
    stream::unfold(Box::new(reader), |mut reader| async move {
        let first = reader.next_message().await?;
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match reader.ready_message() {
                Some(message) => batch.push(message),
                None => break,
            }
        }
        Some((batch, reader))
    })
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Reads the next message: a line, or the next piece of a long one.
    async fn next_message(&mut self) -> Option<Utf8Bytes> {
        loop {
            if let Some(message) = self.ready_message() {
                return Some(message);
            }
            // Room for a whole message and its line ending, so that the ending decides.
            let room = (MAX_LINE_LEN + 2).saturating_sub(self.line_buffer.len()) as u64;
            let read = (&mut self.input)
                .take(room)
                .read_until(b'\n', &mut self.line_buffer)
                .await;
            let bytes = &mut self.line_buffer;
            let complete = match read {
                Ok(0) if bytes.is_empty() => return None,
                Ok(0) => true,
                Ok(_) => bytes.last() == Some(&b'\n') || bytes.len() < MAX_LINE_LEN + 2,
                Err(error) => {
                    log::error!(
                        "reading standard input failed at line {}: {error}; ending the stream",
                        self.line
                    );
                    return None;
                }
            };
            // An incomplete line has no ending to take off.
            bytes.truncate(without_ending(bytes).len());
            if complete && bytes.len() <= MAX_LINE_LEN {
                let (message, rest) = text(self.line, bytes);
                if bytes.capacity() >= KEPT_BUFFER {
                    *bytes = Vec::new();
                } else {
                    bytes.clear();
                }
                self.keep_first(self.line, rest);
                self.line += 1;
                return Some(message);
            }
            let mut bytes = std::mem::take(&mut self.line_buffer);
            self.cut(&mut bytes);
            if complete {
                self.pieces.push_back((self.line, bytes));
                self.line += 1;
            } else {
                self.line_buffer = bytes;
            }
        }
    }

    /// The next message if there is one without reading the input: a piece of a long line, a
    /// line of those taken together, or the first of those the input's buffer holds.
    fn ready_message(&mut self) -> Option<Utf8Bytes> {
        if let Some((line, piece)) = self.pieces.pop_front() {
            let (message, rest) = text(line, &piece);
            self.keep_first(line, rest);
            return Some(message);
        }
        if let Some(message) = self.cut_taken_line() {
            return Some(message);
        }
        if self.take_buffered_lines() {
            return self.cut_taken_line();
        }
        None
    }

    /// Takes every whole line the input's buffer holds, if no part of the first was read
    /// before: most lines, without the general path's copy into `line_buffer` and its futures.
    /// They are copied together into one buffer, which the messages cut from it share: one
    /// allocation for the lines of a read. The buffer lives until the last of its messages is
    /// let go.
    fn take_buffered_lines(&mut self) -> bool {
        if !self.line_buffer.is_empty() {
            return false;
        }
        let buffered = self.input.buffer();
        let Some(last) = memchr::memrchr(b'\n', buffered) else {
            return false;
        };
        self.taken = TextBuffer::new(Bytes::copy_from_slice(&buffered[..=last]));
        self.cut = 0;
        Pin::new(&mut self.input).consume(last + 1);
        true
    }

    /// The next line of those taken together, if any is left.
    fn cut_taken_line(&mut self) -> Option<Utf8Bytes> {
        let rest = &self.taken.bytes()[self.cut..];
        // What was taken ends with a line ending.
        let end = memchr::memchr(b'\n', rest)?;
        let line = without_ending(&rest[..=end]);
        let start = self.cut;
        let (message, rest) = match self.taken.text(start..start + line.len()) {
            Some(message) => (message, None),
            None => text(self.line, line),
        };
        self.keep_first(self.line, rest);
        self.line += 1;
        self.cut = start + end + 1;
        Some(message)
    }

    /// Puts `rest`, what of line `line` did not fit in the message just made of it, first among
    /// the pieces to send.
    fn keep_first(&mut self, line: u64, rest: Option<String>) {
        if let Some(rest) = rest {
            self.pieces.push_front((line, rest.into_bytes()));
        }
    }

    /// Moves the leading pieces of `bytes` that reach [`MAX_LINE_LEN`] to `self.pieces`, each cut
    /// between two characters; what remains is shorter than that.
    fn cut(&mut self, bytes: &mut Vec<u8>) {
        while bytes.len() > MAX_LINE_LEN {
            if self.warned_long != self.line {
                self.warned_long = self.line;
                log::warn!(
                    "line {} of standard input is over {MAX_LINE_LEN} bytes: sent as several messages",
                    self.line
                );
            }
            // Back over continuation bytes (at most 3 in UTF-8), so no character is split.
            let mut end = MAX_LINE_LEN;
            while end > MAX_LINE_LEN - 3 && is_continuation(bytes[end]) {
                end -= 1;
            }
            let rest = bytes.split_off(end);
            self.pieces
                .push_back((self.line, std::mem::replace(bytes, rest)));
        }
    }
}

/// `line` without its ending, `\n` or `\r\n`, if it has one.
fn without_ending(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r', b'\n'] | [rest @ .., b'\n'] => rest,
        _ => line,
    }
}

/// The text of a message from line number `line`, its invalid UTF-8 replaced and warned about,
/// and what of it does not fit in one message, if anything: U+FFFD takes three bytes, so a
/// piece of [`MAX_LINE_LEN`] bytes with invalid ones in it can outgrow a message (its rest, valid
/// by then, may still be over the limit, and is cut again when it comes here in turn).
fn text(line: u64, bytes: &[u8]) -> (Utf8Bytes, Option<String>) {
    let mut text = match std::str::from_utf8(bytes) {
        Ok(text) if text.len() <= MAX_LINE_LEN => return (Utf8Bytes::from(text), None),
        Ok(text) => text.to_owned(),
        Err(_) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let longer = if text.len() > MAX_LINE_LEN {
                format!("; {MAX_LINE_LEN} bytes or more once replaced: sent as several messages")
            } else {
                String::new()
            };
            log::warn!(
                "line {line} of standard input is not valid UTF-8: invalid bytes sent as U+FFFD{longer}"
            );
            text
        }
    };
    if text.len() <= MAX_LINE_LEN {
        return (Utf8Bytes::from(text), None);
    }
    let mut end = MAX_LINE_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let rest = text.split_off(end);
    (Utf8Bytes::from(text), Some(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn read(input: &[u8]) -> Vec<String> {
        let lines = lines_of(futures::io::Cursor::new(input.to_vec()));
        let batches: Vec<Vec<Utf8Bytes>> = futures::executor::block_on(lines.collect());
        assert!(batches
            .iter()
            .all(|batch| (1..=BATCH).contains(&batch.len())));
        batches
            .concat()
            .iter()
            .map(|line| line.to_string())
            .collect()
    }

    #[test]
    fn each_line_is_a_message_without_its_ending() {
        assert_eq!(read(b"one\ntwo\r\n\nlast"), ["one", "two", "", "last"]);
        assert!(read(b"").is_empty());
    }

    #[test]
    fn lines_across_many_reads_come_whole_and_in_order() {
        // Several times the read size, with lines that straddle its boundaries.
        let lines: Vec<String> = (0..40_000)
            .map(|n| format!("line {n}{}", "x".repeat(n % 13)))
            .collect();
        let mut input = String::new();
        for (n, line) in lines.iter().enumerate() {
            input.push_str(line);
            input.push_str(if n % 3 == 0 { "\r\n" } else { "\n" });
        }
        assert!(input.len() > 5 * READ_SIZE);
        assert_eq!(read(input.as_bytes()), lines);
    }

    #[test]
    fn lines_of_many_bytes_characters_taken_together_come_whole() {
        assert_eq!(read("é\n€😀\r\nx\n".as_bytes()), ["é", "€😀", "x"]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        assert_eq!(read(b"ok\nbad \xff byte\n"), ["ok", "bad \u{fffd} byte"]);
        // Among lines taken together from one read, in its place.
        assert_eq!(
            read(b"a\r\n\xfe\nc\n\nd\n"),
            ["a", "\u{fffd}", "c", "", "d"]
        );
    }

    #[test]
    fn a_line_of_the_largest_size_with_crlf_is_one_message() {
        let mut input = "a".repeat(MAX_LINE_LEN).into_bytes();
        input.extend_from_slice(b"\r\nnext\n");
        let messages = read(&input);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].len(), MAX_LINE_LEN);
        assert_eq!(messages[1], "next");
    }

    #[test]
    fn an_invalid_byte_does_not_move_the_cut_into_a_character() {
        let mut line = b"\xff".to_vec();
        line.extend_from_slice("a".repeat(MAX_LINE_LEN - 2).as_bytes());
        line.extend_from_slice("é end\n".as_bytes());
        let messages = read(&line);
        assert!(messages.iter().all(|message| message.len() <= MAX_LINE_LEN));
        assert!(messages[0].starts_with('\u{fffd}') && !messages[0].ends_with('\u{fffd}'));
        assert_eq!(messages.last().unwrap(), "é end");
        let whole = format!("\u{fffd}{}é end", "a".repeat(MAX_LINE_LEN - 2));
        assert_eq!(messages.concat(), whole);
    }

    #[test]
    fn a_line_whose_replacements_outgrow_a_message_is_sent_as_several() {
        // 600 KiB of invalid bytes: each becomes U+FFFD, three bytes, 1.8 MB in all.
        let mut input = vec![0xff; 600 * 1024];
        input.extend_from_slice(b"\nnext\n");
        let messages = read(&input);
        assert!(messages.len() >= 3, "{} messages", messages.len());
        assert!(messages.iter().all(|message| message.len() <= MAX_LINE_LEN));
        let (last, line) = messages.split_last().unwrap();
        assert_eq!(last, "next");
        assert_eq!(line.concat(), "\u{fffd}".repeat(600 * 1024));
    }

    #[test]
    fn a_piece_of_a_long_line_whose_replacements_outgrow_a_message_is_cut_again() {
        // Over the limit in bytes: cut into pieces first, each then outgrowing a message.
        let mut input = vec![0xfe; MAX_LINE_LEN + MAX_LINE_LEN / 2];
        input.extend_from_slice(b"\n");
        let messages = read(&input);
        assert!(messages.iter().all(|message| message.len() <= MAX_LINE_LEN));
        assert_eq!(
            messages.concat(),
            "\u{fffd}".repeat(MAX_LINE_LEN + MAX_LINE_LEN / 2)
        );
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
