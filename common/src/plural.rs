//! Counts in sentences people read: "1 connection", "3 connections".

use std::fmt;

/// `n` and a noun that takes an `s` in the plural, written as a sentence would write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// How many.
    pub n: u64,
    /// What, in the singular.
    pub noun: &'static str,
}

/// `n` `noun`s: `count(1, "message")` reads "1 message", `count(2, "message")` "2 messages".
pub fn count(n: impl TryInto<u64>, noun: &'static str) -> Count {
    Count {
        n: n.try_into().unwrap_or(u64::MAX),
        noun,
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.n == 1 { "" } else { "s" };
        write!(f, "{} {}{s}", self.n, self.noun)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1u64, "message").to_string(), "1 message");
        assert_eq!(count(0usize, "connection").to_string(), "0 connections");
        assert_eq!(count(441_730u64, "message").to_string(), "441730 messages");
    }
}
