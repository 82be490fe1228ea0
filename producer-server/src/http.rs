//! The HTTP side of a connection: reading the request head, and answering requests that are
//! not WebSocket upgrades with a proper response instead of a dropped connection.

use crate::upgrade;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::borrow::Cow;
use std::io;

/// The longest request head accepted. A WebSocket upgrade needs a few hundred bytes; browsers
/// with many cookies may send a few KiB.
pub const MAX_HEAD_LEN: usize = 16 * 1024;

/// Most headers a request may carry, as tungstenite allows.
const MAX_HEADERS: usize = 124;

/// A request head, read but not consumed: `bytes` is replayed to the WebSocket handshake.
pub struct RequestHead {
    /// Everything read from the socket so far, the head and anything after it.
    pub bytes: Vec<u8>,
    /// What kind of request it is.
    pub kind: RequestKind,
    /// The request path, query included.
    pub target: String,
    /// The `Origin` header, sent by browsers.
    pub origin: Option<String>,
    /// The `Host` header.
    pub host: Option<String>,
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// A complete WebSocket upgrade request, for tungstenite to answer.
    WebSocket,
    /// An ordinary HTTP request with this method.
    Plain(String),
    /// An upgrade request that cannot succeed, and why (see [`crate::upgrade`]).
    BadUpgrade(String),
}

/// Why no request head could be read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The peer closed before sending a whole head.
    #[error("closed before sending a complete request")]
    Incomplete,
    /// The head is longer than [`MAX_HEAD_LEN`].
    #[error("request head over {MAX_HEAD_LEN} bytes")]
    TooLarge,
    /// The bytes are not HTTP.
    #[error("not an HTTP request ({0})")]
    Malformed(httparse::Error),
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Reads from `stream` until a whole request head has arrived. The limit holds whatever the
/// write pattern: a head over [`MAX_HEAD_LEN`] is refused even when it arrives in one piece.
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<RequestHead, HeadError> {
    let mut bytes = Vec::new();
    loop {
        // Read straight into the vector: a buffer on the stack would live in every
        // connection's future.
        let filled = bytes.len();
        bytes.resize(filled + 1024, 0);
        let n = stream.read(&mut bytes[filled..]).await?;
        bytes.truncate(filled + n);
        if n == 0 {
            return Err(HeadError::Incomplete);
        }
        // A head ends with a line break: parsing again only when one arrives keeps a peer that
        // sends a byte at a time from making each byte cost a parse of all the others. The first
        // read is parsed whatever it holds, so that bytes that are not HTTP are answered at once.
        let fresh = &bytes[filled..];
        if filled == 0 || fresh.contains(&b'\n') {
            if let Some(head) = parse(&bytes)? {
                return Ok(RequestHead { bytes, ..head });
            }
        }
        // The end of the head is not among these bytes: the head is longer than all of them.
        if bytes.len() >= MAX_HEAD_LEN {
            return Err(HeadError::TooLarge);
        }
    }
}

/// The request head at the start of `bytes`, once complete; `bytes` may hold more after it.
fn parse(bytes: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(bytes).map_err(HeadError::Malformed)? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(len) => len,
    };
    if head_len > MAX_HEAD_LEN {
        return Err(HeadError::TooLarge);
    }
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let method = request.method.unwrap_or_default();
    // A request that names an upgrade is one, good or bad; tungstenite's checks decide which.
    let kind = if header("Upgrade").is_none() {
        RequestKind::Plain(method.to_string())
    } else {
        match upgrade::refusal(&bytes[..head_len], bytes.len() - head_len) {
            None => RequestKind::WebSocket,
            Some(why) => RequestKind::BadUpgrade(why),
        }
    };
    Ok(Some(RequestHead {
        bytes: Vec::new(),
        kind,
        target: request.path.unwrap_or("/").to_string(),
        origin: header("Origin").map(str::to_string),
        host: header("Host").map(str::to_string),
    }))
}

/// A complete HTTP response for a request that gets no WebSocket.
pub struct PlainResponse {
    /// Status code and reason phrase, as in `404 Not Found`.
    pub status: &'static str,
    /// The `Content-Type` of `body`.
    pub content_type: &'static str,
    /// Extra header lines, each ending in CRLF.
    pub extra_headers: &'static str,
    /// The body: borrowed for the built-in page, which is part of the binary.
    pub body: Cow<'static, str>,
    /// Whether to send the head alone, with the body's length, as a HEAD request asks.
    pub head_only: bool,
}

impl PlainResponse {
    /// A plain-text response, one sentence telling the client what went wrong.
    pub fn text(status: &'static str, body: impl Into<String>) -> Self {
        let mut body = body.into();
        body.push('\n');
        PlainResponse {
            status,
            content_type: "text/plain; charset=utf-8",
            extra_headers: "",
            body: body.into(),
            head_only: false,
        }
    }

    /// Sends the response; the connection is closed afterwards.
    pub async fn send<S: AsyncWrite + Unpin>(&self, stream: &mut S) -> io::Result<()> {
        let head = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
            self.status,
            self.content_type,
            self.body.len(),
            self.extra_headers
        );
        // One write, so one packet on a socket without Nagle: a WebSocket client reads the
        // refusal's body only if it arrives with the head.
        let mut answer = head.into_bytes();
        if !self.head_only {
            answer.extend_from_slice(self.body.as_bytes());
        }
        stream.write_all(&answer).await?;
        stream.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(request: &str) -> RequestKind {
        parse(request.as_bytes()).unwrap().unwrap().kind
    }

    const UPGRADE: &str = "GET /?from=3 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://x\r\n\r\n";

    #[test]
    fn websocket_upgrade_is_recognised() {
        let head = parse(UPGRADE.as_bytes()).unwrap().unwrap();
        assert_eq!(head.kind, RequestKind::WebSocket);
        assert_eq!(head.target, "/?from=3");
        assert_eq!(head.origin.as_deref(), Some("http://x"));
        assert_eq!(head.host.as_deref(), Some("x"));
    }

    #[test]
    fn plain_requests_keep_their_method() {
        assert_eq!(
            kind_of("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n"),
            RequestKind::Plain("HEAD".into())
        );
    }

    #[test]
    fn broken_upgrades_say_what_is_missing() {
        let no_version = UPGRADE.replace("Sec-WebSocket-Version: 13\r\n", "");
        assert!(
            matches!(kind_of(&no_version), RequestKind::BadUpgrade(why) if why.contains("version 13"))
        );
        let post = UPGRADE.replace("GET", "POST");
        assert!(matches!(kind_of(&post), RequestKind::BadUpgrade(why) if why.contains("GET")));
        let two = format!("{UPGRADE}{UPGRADE}");
        assert!(
            matches!(kind_of(&two), RequestKind::BadUpgrade(why) if why.contains("one request"))
        );
    }

    #[test]
    fn the_head_limit_is_exact() {
        let head_of = |len: usize| {
            let start = "GET / HTTP/1.1\r\nX: ";
            let filler = "a".repeat(len - start.len() - 4);
            format!("{start}{filler}\r\n\r\n")
        };
        assert_eq!(head_of(MAX_HEAD_LEN).len(), MAX_HEAD_LEN);
        assert!(parse(head_of(MAX_HEAD_LEN).as_bytes()).unwrap().is_some());
        assert!(matches!(
            parse(head_of(MAX_HEAD_LEN + 1).as_bytes()),
            Err(HeadError::TooLarge)
        ));
        // Whatever the size of the reads, in one piece or in small steps.
        for step in [1, 1000, 1024, 17 * 1024] {
            let head = head_of(17 * 1024);
            let mut reader = futures::io::Cursor::new(head.into_bytes());
            let mut stepped = Stepped(&mut reader, step);
            let result = futures::executor::block_on(read_head(&mut stepped));
            assert!(matches!(result, Err(HeadError::TooLarge)), "step {step}");
        }
    }

    /// A reader that hands out at most `.1` bytes a read.
    struct Stepped<'a, R>(&'a mut R, usize);

    impl<R: AsyncRead + Unpin> AsyncRead for Stepped<'_, R> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<io::Result<usize>> {
            let step = self.1.min(buf.len());
            std::pin::Pin::new(&mut *self.0).poll_read(cx, &mut buf[..step])
        }
    }

    #[test]
    fn partial_and_garbage_heads() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost").unwrap().is_none());
        assert!(matches!(
            parse(b"\x16\x03\x01garbage\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
    }
}
