//! Whether a WebSocket upgrade request can succeed, decided before anything is answered.
//!
//! tungstenite's server handshake refuses a request it does not like by closing the connection,
//! with the reason only in its error value. So the very checks it makes run here first, on the
//! same bytes and with its own functions (its request parser, then `create_response`, then the
//! "nothing after the request" rule of its handshake machine): whatever it would refuse is refused
//! here with `400` and a sentence saying what is wrong, and whatever passes here it accepts. Two
//! lists of checks could drift apart; one cannot.

use async_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use async_tungstenite::tungstenite::handshake::machine::TryParse;
use async_tungstenite::tungstenite::handshake::server::{create_response, Request};

/// Why tungstenite would refuse an upgrade whose head is `head` and after which `tail` more bytes
/// were read; `None` when it would answer `101`.
pub fn refusal(head: &[u8], tail: usize) -> Option<String> {
    // The handshake machine refuses any byte after the request: a client must wait for the 101
    // before it sends frames, and one connection serves one upgrade.
    if tail > 0 {
        return Some(reason(&WsError::Protocol(ProtocolError::JunkAfterRequest)));
    }
    match Request::try_parse(head) {
        Ok(Some((_, request))) => create_response(&request).err().map(|e| reason(&e)),
        // The caller hands over a complete head; tungstenite disagreeing would be its bug, and
        // refusing is the safe answer.
        Ok(None) => Some("the upgrade request is incomplete".to_string()),
        Err(error) => Some(reason(&error)),
    }
}

/// The sentence for a refusal, for the client (the body of the `400`) and for the log. Not
/// escaped: the log and consumer-client escape what they show, and escaped here too it would show
/// its backslashes doubled.
fn reason(error: &WsError) -> String {
    let WsError::Protocol(protocol) = error else {
        // Header names or values, or a request target, that the `http` crate rejects.
        return format!("the upgrade request is not valid HTTP: {error}");
    };
    let sentence = match protocol {
        ProtocolError::WrongHttpMethod => "a WebSocket upgrade must use GET",
        ProtocolError::WrongHttpVersion => "a WebSocket upgrade needs HTTP/1.1",
        ProtocolError::MissingConnectionUpgradeHeader => {
            "a WebSocket upgrade needs Connection: Upgrade"
        }
        ProtocolError::MissingUpgradeWebSocketHeader => "only Upgrade: websocket is served here",
        ProtocolError::MissingSecWebSocketVersionHeader => {
            "only WebSocket version 13 is served (Sec-WebSocket-Version: 13)"
        }
        ProtocolError::MissingSecWebSocketKey => {
            "a WebSocket upgrade needs a Sec-WebSocket-Key header"
        }
        ProtocolError::InvalidSecWebSocketKey => {
            "Sec-WebSocket-Key must be 16 random bytes in base64 (24 characters)"
        }
        ProtocolError::JunkAfterRequest => {
            "bytes came after the upgrade request: send one request, then wait for the answer"
        }
        other => return format!("the upgrade cannot be served: {other}"),
    };
    sentence.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &str = "GET /?from=3 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

    fn refusal_of(request: &str) -> Option<String> {
        refusal(request.as_bytes(), 0)
    }

    #[test]
    fn a_good_upgrade_passes() {
        assert_eq!(refusal_of(UPGRADE), None);
    }

    #[test]
    fn each_of_tungstenites_checks_has_a_sentence() {
        let cases = [
            (UPGRADE.replace("GET", "POST"), "GET"),
            (UPGRADE.replace("HTTP/1.1", "HTTP/1.0"), "HTTP/1.1"),
            (
                UPGRADE.replace("keep-alive, Upgrade", "keep-alive"),
                "Connection",
            ),
            (UPGRADE.replace("websocket", "h2c"), "Upgrade: websocket"),
            (UPGRADE.replace("Version: 13", "Version: 8"), "version 13"),
            (
                UPGRADE.replace("Sec-WebSocket-Version: 13\r\n", ""),
                "version 13",
            ),
            (
                UPGRADE.replace("Sec-WebSocket-Key", "X-Key"),
                "Sec-WebSocket-Key",
            ),
            (
                UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "hello"),
                "base64",
            ),
            (
                UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAAAA"),
                "base64",
            ),
        ];
        for (request, expected) in cases {
            let why = refusal_of(&request).unwrap_or_else(|| panic!("accepted {request:?}"));
            assert!(why.contains(expected), "{why} for {request:?}");
        }
    }

    #[test]
    fn bytes_after_the_request_are_refused() {
        let why = refusal(UPGRADE.as_bytes(), 10).unwrap();
        assert!(why.contains("one request"), "{why}");
    }
}
