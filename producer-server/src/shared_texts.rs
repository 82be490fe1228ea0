//! Several texts written into one buffer that they share.
//!
//! A `bytes` buffer made from a `Vec` starts counting its owners only when a second one takes
//! it, and that count is an allocation of its own: a message made alone costs two allocations,
//! and both are freed, often on another thread, when it is let go. Texts cut from one shared
//! buffer cost neither; the buffer lives until the last of them is let go. Used where many
//! messages are made at once: the broadcast counter's numbers due together, a burst's
//! `prodcon.v1` frames, and (through [`TextBuffer`]) the lines of a read of standard input.
//!
//! A text must be UTF-8, and checking each of many short texts on its own cost 1.5-2% of the
//! broadcast server's time: a [`TextBuffer`] checks its whole buffer once, and then only that
//! each text begins and ends between two characters.

use async_tungstenite::tungstenite::{Bytes, Utf8Bytes};
use std::ops::Range;

/// Texts written one after the other into one buffer, and where each ends.
pub struct SharedTexts {
    /// The texts, end to end.
    buffer: Vec<u8>,
    /// Where each text ends in `buffer`.
    ends: Vec<usize>,
}

impl SharedTexts {
    /// Room for `texts` texts of about `bytes` bytes in all.
    pub fn with_capacity(texts: usize, bytes: usize) -> Self {
        SharedTexts {
            buffer: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(texts),
        }
    }

    /// Adds the text that `write` writes, which must be UTF-8.
    pub fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.buffer);
        self.ends.push(self.buffer.len());
    }

    /// The texts, in order, sharing one buffer.
    pub fn into_texts(self) -> impl Iterator<Item = Utf8Bytes> {
        let buffer = TextBuffer::new(Bytes::from(self.buffer));
        let mut start = 0;
        self.ends.into_iter().map(move |end| {
            let text = buffer.text(start..end);
            start = end;
            text.expect("each text is written as UTF-8")
        })
    }
}

/// A buffer that texts are cut from, checked to be UTF-8 once for all of them.
pub struct TextBuffer {
    /// The bytes.
    bytes: Bytes,
    /// Whether they are UTF-8 through and through.
    utf8: bool,
}

impl TextBuffer {
    /// `bytes`, checked once.
    pub fn new(bytes: Bytes) -> Self {
        let utf8 = std::str::from_utf8(&bytes).is_ok();
        TextBuffer { bytes, utf8 }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The text in `range`, sharing the buffer; `None` if it is not UTF-8 (then the buffer is
    /// not, and that text is checked on its own). Panics if `range` is out of the buffer.
    pub fn text(&self, range: Range<usize>) -> Option<Utf8Bytes> {
        let piece = self.bytes.slice(range.clone());
        if self.utf8 && self.between_characters(range.start) && self.between_characters(range.end) {
            // SAFETY: the whole buffer is UTF-8 (checked in `new`), and a piece of UTF-8 that
            // begins and ends between two characters is UTF-8.
            return Some(unsafe { Utf8Bytes::from_bytes_unchecked(piece) });
        }
        Utf8Bytes::try_from(piece).ok()
    }

    /// Whether `at` falls between two characters (or at an end) of the buffer, if it is UTF-8:
    /// `str::is_char_boundary` for bytes known to be UTF-8.
    fn between_characters(&self, at: usize) -> bool {
        self.bytes
            .get(at)
            .map_or(at == self.bytes.len(), |&byte| !is_continuation(byte))
    }
}

/// Whether `byte` continues a UTF-8 character (`0b10xx_xxxx`) rather than beginning one.
pub fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_text_comes_back_whole_and_in_order() {
        let mut texts = SharedTexts::with_capacity(3, 4);
        for text in ["one", "", "drei é"] {
            texts.push(|buffer| buffer.extend_from_slice(text.as_bytes()));
        }
        let back: Vec<Utf8Bytes> = texts.into_texts().collect();
        assert_eq!(back, ["one", "", "drei é"]);
    }

    #[test]
    fn a_text_buffer_cuts_between_characters_exactly_where_str_does() {
        let text = "aé€😀\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}z";
        let buffer = TextBuffer::new(Bytes::from_static(text.as_bytes()));
        assert!(buffer.utf8);
        for at in 0..=text.len() + 1 {
            assert_eq!(
                buffer.between_characters(at),
                text.is_char_boundary(at),
                "at {at}"
            );
        }
    }

    #[test]
    fn a_text_buffer_gives_only_utf8_texts() {
        let utf8 = TextBuffer::new(Bytes::from_static("aé€b".as_bytes()));
        assert_eq!(utf8.text(0..1).unwrap(), "a");
        assert_eq!(utf8.text(1..6).unwrap(), "é€");
        assert_eq!(utf8.text(6..7).unwrap(), "b");
        assert_eq!(utf8.text(7..7).unwrap(), "");
        // Into a character, at either end.
        assert!(utf8.text(0..2).is_none());
        assert!(utf8.text(2..7).is_none());
        // A buffer that is not UTF-8 still gives the texts that are, and only those.
        let mixed = TextBuffer::new(Bytes::from_static(b"ok\n\xff\nfine"));
        assert_eq!(mixed.text(0..2).unwrap(), "ok");
        assert!(mixed.text(3..4).is_none());
        assert_eq!(mixed.text(5..9).unwrap(), "fine");
        assert_eq!(mixed.bytes().len(), 9);
    }
}
