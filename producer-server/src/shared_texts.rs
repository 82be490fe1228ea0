//! Several texts written into one buffer that they share.
//!
//! A `bytes` buffer made from a `Vec` starts counting its owners only when a second one takes
//! it, and that count is an allocation of its own: a message made alone costs two allocations,
//! and both are freed, often on another thread, when it is let go. Texts cut from one shared
//! buffer cost neither; the buffer lives until the last of them is let go. Used where many
//! messages are made at once: the broadcast counter's numbers due together, a burst's
//! `prodcon.v1` frames.

use async_tungstenite::tungstenite::{Bytes, Utf8Bytes};

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
        let buffer = Bytes::from(self.buffer);
        let mut start = 0;
        self.ends.into_iter().map(move |end| {
            let text = buffer.slice(start..end);
            start = end;
            Utf8Bytes::try_from(text).expect("each text is written as UTF-8")
        })
    }
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
}
