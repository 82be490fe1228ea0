//! Whole numbers as programs write them: decimal digits and nothing else.
//!
//! `u64::from_str` also takes a leading `+`, which no Redis id, time stamp or URL port has: a
//! number read from such a place with it would be one the writer never wrote.

use std::ops::RangeInclusive;

/// The whole number written in `digits`, if it is one (digits only) and falls in `range`.
pub fn number_in(digits: &[u8], range: RangeInclusive<u64>) -> Option<u64> {
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    range.contains(&number).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_in_range_and_nothing_else() {
        assert_eq!(number_in(b"42", 1..=100), Some(42));
        assert_eq!(number_in(b"007", 1..=100), Some(7));
        for wrong in [&b""[..], b"+5", b"-1", b" 5", b"5x", b"101", b"0", b"\xff"] {
            assert_eq!(number_in(wrong, 1..=100), None, "{wrong:?}");
        }
        assert_eq!(number_in(b"99999999999999999999999", 0..=u64::MAX), None);
    }
}
