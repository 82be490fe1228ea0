//! The close codes the project sends, and what each one asks of the peer (RFC 6455, section 7.4).
//!
//! Codes 1000-1015 are the standard ones. 4000-4999 are left by the RFC to applications: prodcon
//! uses 4000 for a consumer closed for being too slow, which a client cannot mistake for a
//! server failure and which tells it to reconnect and resume from history.

/// The stream ended: a `--source stdin` server reached the end of its input. Do not reconnect.
pub const NORMAL: u16 = 1000;
/// The server is shutting down (SIGINT or SIGTERM). A `--reconnect` client retries.
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the WebSocket protocol: an unmasked or malformed frame, reserved bits, an
/// unknown opcode, a fragmented control frame.
pub const PROTOCOL_ERROR: u16 = 1002;
/// A text frame held invalid UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// A message was over the receiver's `--max-message-size`.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The consumer did not keep up: its queue filled while the others went on. Reconnect with
/// `?from=` the next sequence number to resume from history.
pub const SLOW_CONSUMER: u16 = 4000;

/// A short description of `code`, for logs and error messages.
pub fn describe(code: u16) -> &'static str {
    match code {
        NORMAL => "normal closure",
        GOING_AWAY => "going away",
        PROTOCOL_ERROR => "protocol error",
        1003 => "unsupported data",
        1005 => "no status code",
        1006 => "abnormal closure",
        INVALID_PAYLOAD => "invalid payload",
        1008 => "policy violation",
        MESSAGE_TOO_BIG => "message too big",
        1010 => "missing extension",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        SLOW_CONSUMER => "slow consumer",
        3000..=3999 => "registered code",
        4001..=4999 => "application code",
        _ => "unknown code",
    }
}

/// The longest reason a close frame can carry: 125 bytes of payload less the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// `reason`, cut at a character boundary to fit in a close frame.
pub fn fit_reason(reason: &str) -> &str {
    let mut end = reason.len().min(MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Whether a close with `code` ends the stream as planned, so that a consumer exits with success.
pub fn is_normal(code: u16) -> bool {
    matches!(code, NORMAL | GOING_AWAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_we_send_has_its_own_description() {
        let ours = [
            NORMAL,
            GOING_AWAY,
            PROTOCOL_ERROR,
            INVALID_PAYLOAD,
            MESSAGE_TOO_BIG,
            SLOW_CONSUMER,
        ];
        let mut seen: Vec<&str> = ours.iter().map(|&c| describe(c)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), ours.len());
        assert!(seen.iter().all(|d| !d.contains("code")));
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        assert_eq!(fit_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = fit_reason(&long);
        assert!(cut.len() <= MAX_REASON_LEN && cut.len() >= MAX_REASON_LEN - 1);
        assert!(long.starts_with(cut));
    }

    #[test]
    fn only_planned_ends_are_normal() {
        assert!(is_normal(NORMAL) && is_normal(GOING_AWAY));
        assert!(!is_normal(SLOW_CONSUMER) && !is_normal(PROTOCOL_ERROR));
    }
}
