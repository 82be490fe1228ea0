//! The one shape a message frame comes in, read without a JSON parser.
//!
//! [`encode_message`](crate::encode_message) always writes `{"seq":42,"time":1700000000000000,"data":"42"}`:
//! these fields in this order, no spaces. Messages come by the million and nearly all have that
//! shape with data that needs no escape, so reading it directly saves a consumer most of its
//! decoding time. Anything else (escapes, other spacing or order, a lost notice, garbage) gives
//! `None` and is left to serde_json, which decides: this reader accepts nothing serde_json would
//! refuse or read differently.

/// The sequence number, time and data of `text`, when it has exactly the shape above.
pub(crate) fn read(text: &str) -> Option<(u64, u64, &str)> {
    let rest = text.strip_prefix(r#"{"seq":"#)?;
    let (seq, rest) = number(rest)?;
    let rest = rest.strip_prefix(r#","time":"#)?;
    let (time, rest) = number(rest)?;
    let data = rest.strip_prefix(r#","data":""#)?.strip_suffix(r#""}"#)?;
    // A quote or a backslash would end the string or start an escape; raw control characters
    // are not JSON at all.
    if data.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return None;
    }
    Some((seq, time, data))
}

/// A JSON number that fits in a u64 at the start of `text`, and what follows it.
fn number(text: &str) -> Option<(u64, &str)> {
    let bytes = text.as_bytes();
    let mut value: u64 = 0;
    let mut len = 0;
    while let Some(digit) = bytes.get(len).filter(|b| b.is_ascii_digit()) {
        // Too many digits for a u64: serde_json will say so.
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
        len += 1;
    }
    // JSON writes no leading zero, and a number has at least one digit.
    if len == 0 || (len > 1 && bytes[0] == b'0') {
        return None;
    }
    Some((value, &text[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_shape_the_server_writes_is_read() {
        assert_eq!(
            read(r#"{"seq":42,"time":1700000000000000,"data":"42"}"#),
            Some((42, 1_700_000_000_000_000, "42"))
        );
        assert_eq!(read(r#"{"seq":1,"time":0,"data":""}"#), Some((1, 0, "")));
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        for other in [
            r#"{"seq":42,"time":1,"data":"a\"b"}"#,
            r#"{"seq":42,"time":1,"data":"a\\b"}"#,
            "{\"seq\":42,\"time\":1,\"data\":\"a\nb\"}",
            r#"{"seq":042,"time":1,"data":"x"}"#,
            r#"{"seq":,"time":1,"data":"x"}"#,
            r#"{"seq":99999999999999999999,"time":1,"data":"x"}"#,
            r#"{"seq":1, "time":1,"data":"x"}"#,
            r#"{"time":1,"seq":1,"data":"x"}"#,
            r#"{"seq":1,"time":1,"data":"x"} "#,
            r#"{"seq":1,"time":1,"data":"x","extra":1}"#,
            r#"{"lost":{"first":1,"last":2}}"#,
        ] {
            assert_eq!(read(other), None, "{other}");
        }
    }

    proptest! {
        #[test]
        fn what_it_reads_serde_reads_the_same(text in r#"\{"seq":[0-9]{0,3},"time":[0-9]{0,3},"data":".{0,8}"\}"#) {
            if let Some((seq, time, data)) = read(&text) {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(value["seq"].as_u64(), Some(seq));
                prop_assert_eq!(value["time"].as_u64(), Some(time));
                prop_assert_eq!(value["data"].as_str(), Some(data));
            }
        }

        #[test]
        fn every_encoded_message_without_escapes_is_read(seq in any::<u64>(), time in any::<u64>(), data in "[^\"\\\\\\x00-\\x1f]*") {
            let text = crate::encode_message(seq, time, &data);
            prop_assert_eq!(read(&text), Some((seq, time, data.as_str())));
        }
    }
}
