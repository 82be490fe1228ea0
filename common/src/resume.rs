//! The `from` query parameter: `ws://host:port/?from=N` asks for a stream starting at sequence
//! number N, so that a consumer can resume after a dropped connection.

use crate::frame::MAX_SEQ;

/// The name of the query parameter.
pub const FROM: &str = "from";

/// Why a query's `from` parameter cannot be used. The client asked for something impossible:
/// the server refuses the handshake with this text, and retrying the same URL will not help.
/// The value is quoted as given, not escaped: it is escaped where it is shown
/// ([`crate::printable`]), and escaped here too it would show its backslashes doubled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResumeError {
    /// `from` is not a whole number from 1 to [`MAX_SEQ`].
    #[error("`from` must be a whole number from 1 to 2^53 - 1, got \"{0}\"")]
    NotASequenceNumber(String),
    /// `from` appears more than once.
    #[error("`from` is given more than once")]
    Repeated,
}

/// Reads the first sequence number a client wants from the query part of its request URL
/// (without the `?`). `None`: the client did not say.
pub fn parse_from(query: Option<&str>) -> Result<Option<u64>, ResumeError> {
    let mut found = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key != FROM {
            continue;
        }
        if found.is_some() {
            return Err(ResumeError::Repeated);
        }
        let seq = value
            .parse::<u64>()
            .ok()
            .filter(|seq| (1..=MAX_SEQ).contains(seq))
            .ok_or_else(|| ResumeError::NotASequenceNumber(value.clone().into_owned()))?;
        found = Some(seq);
    }
    Ok(found)
}

/// The query part of a URL that asks for `from` = `seq`, keeping every other parameter of `query`.
pub fn with_from(query: Option<&str>, seq: u64) -> String {
    let kept =
        form_urlencoded::parse(query.unwrap_or("").as_bytes()).filter(|(key, _)| key != FROM);
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .append_pair(FROM, &seq.to_string())
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn absent_from_is_none() {
        assert_eq!(parse_from(None), Ok(None));
        assert_eq!(parse_from(Some("")), Ok(None));
        assert_eq!(parse_from(Some("token=abc")), Ok(None));
    }

    #[test]
    fn from_is_read_among_other_parameters() {
        assert_eq!(parse_from(Some("from=42")), Ok(Some(42)));
        assert_eq!(parse_from(Some("a=1&from=7&b")), Ok(Some(7)));
    }

    #[test]
    fn bad_from_is_a_typed_error() {
        for bad in [
            "from=0",
            "from=-1",
            "from=abc",
            "from=",
            "from=1.5",
            "from=99999999999999999999999",
            "from=9007199254740992",
        ] {
            assert!(
                matches!(
                    parse_from(Some(bad)),
                    Err(ResumeError::NotASequenceNumber(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            parse_from(Some("from=1&from=2")),
            Err(ResumeError::Repeated)
        );
    }

    #[test]
    fn a_bad_from_shown_printable_is_escaped_once() {
        let error = parse_from(Some("from=%1b%5b2J%E2%80%A8")).unwrap_err();
        assert_eq!(
            crate::printable(&error.to_string()).to_string(),
            r#"`from` must be a whole number from 1 to 2^53 - 1, got "\u{1b}[2J\u{2028}""#
        );
    }

    #[test]
    fn with_from_replaces_and_keeps_the_rest() {
        assert_eq!(with_from(None, 5), "from=5");
        assert_eq!(with_from(Some("from=1&token=a%20b"), 9), "token=a+b&from=9");
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_queries_never_panics(query in ".*") {
            let _ = parse_from(Some(&query));
        }

        #[test]
        fn with_from_round_trips(query in "[a-z=&%0-9]*", seq in 1u64..=MAX_SEQ) {
            prop_assert_eq!(parse_from(Some(&with_from(Some(&query), seq))), Ok(Some(seq)));
        }
    }
}
