//! Opening a connection: the URL, the TCP connection, the handshake and the subprotocol.

use crate::error::ClientError;
use crate::runtime::{self, TcpStream};
use crate::tls::{self, Stream};
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::error::{ProtocolError, SubProtocolError};
use async_tungstenite::tungstenite::handshake::client::Response;
use async_tungstenite::tungstenite::http::{HeaderValue, Uri};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Error as WsError;
use async_tungstenite::WebSocketStream;
use common::decimal::number_in;
use common::take_turns::TakeTurns;
use common::{frame::MAX_FRAME_LEN, printable, resume, subprotocol, Format};
use futures::future::Either;
use futures_rustls::TlsConnector;
use std::fmt;
use std::time::Duration;

/// Bytes read from the socket at most at once. tungstenite zeroes this much before each read,
/// so a bigger chunk costs a trickle of small reads more than it saves a fast stream (measured:
/// 256 KiB cost 20% more CPU per message than 32 KiB against a server writing frame by frame,
/// and nothing less against producer-server at full speed).
const READ_CHUNK: usize = 32 * 1024;

/// Bytes of outgoing frames (pongs, the closing frame) held for a server that does not read
/// them. Past it tungstenite keeps only the latest pong owed, so a server that sends pings and
/// never reads cannot make the client's memory grow; `consume` gives up on such a server.
const MAX_WRITE_BUFFER: usize = 16 * 1024;

/// The extension header: the client offers no extension, so any answer here is unsolicited.
const EXTENSIONS_HEADER: &str = "Sec-WebSocket-Extensions";

/// A connection's bytes, its reads taking turns: a server that floods frames cannot keep the
/// client from its output, its timers and its signals.
pub type Socket = TakeTurns<Stream>;

/// An open connection and how its frames are to be read.
pub struct Connection {
    /// The WebSocket.
    pub ws: WebSocketStream<Socket>,
    /// What the server chose: JSON envelopes, or the data alone.
    pub format: Format,
}

/// The server's address, checked once.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as the user wrote it, to name the server in messages.
    text: String,
    /// The URL as given, without any `from` the client adds.
    uri: Uri,
    /// Host to connect to, without IPv6 brackets.
    host: String,
    /// Port to connect to.
    port: u16,
    /// Whether the URL is `wss://`: the connection then runs TLS with the client [`tls::connector`]
    /// built once for every such URL.
    secure: bool,
}

impl Target {
    /// Checks that `url` is a `ws://` or `wss://` URL this client can connect to.
    pub fn parse(url: &str) -> Result<Target, ClientError> {
        let uri: Uri = url.parse().map_err(|e| {
            ClientError::BadUrl(format!(
                "not a URL ({e}); write one such as ws://127.0.0.1:8765/"
            ))
        })?;
        let (secure, default_port) = match uri.scheme_str() {
            Some("ws") => (false, 80),
            Some("wss") => (true, 443),
            _ => {
                return Err(ClientError::BadUrl(
                    "the URL must start with ws:// or wss://, as in ws://127.0.0.1:8765/".into(),
                ))
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| ClientError::BadUrl("the URL names no host".into()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port =
            port(&uri, default_port).map_err(|why| ClientError::BadUrl(format!("{url}: {why}")))?;
        Ok(Target {
            text: url.to_string(),
            uri,
            host,
            port,
            secure,
        })
    }

    /// Whether the URL is `wss://`, so that a TLS client is needed.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The URL asking for the stream from `from` on, if given.
    fn uri_from(&self, from: Option<u64>) -> Uri {
        let Some(from) = from else {
            return self.uri.clone();
        };
        let query = resume::with_from(self.uri.query(), from);
        let path_and_query = format!("{}?{query}", self.uri.path());
        let mut parts = self.uri.clone().into_parts();
        // `path` came from a valid URI and `query` is form-urlencoded: the result is valid too.
        parts.path_and_query = Some(path_and_query.parse().expect("a valid path and query"));
        Uri::from_parts(parts).expect("a valid URI")
    }
}

/// The port `uri` names, or `default` when it names none.
///
/// Read from the URL's own text, because `Uri::port_u16` is `None` alike for no port and for
/// one that is not a `u16`: `ws://host:99999/` would reach port 80 unnoticed.
fn port(uri: &Uri, default: u16) -> Result<u16, String> {
    let authority = uri.authority().map_or("", |authority| authority.as_str());
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, after)| after);
    let written = match host_and_port.strip_prefix('[') {
        // An IPv6 address holds colons of its own: the port comes after its bracket.
        Some(v6) => v6
            .split_once(']')
            .and_then(|(_, after)| after.strip_prefix(':')),
        None => host_and_port.split_once(':').map(|(_, after)| after),
    };
    match written {
        // RFC 3986 (3.2.3): an empty port is the scheme's default, as if there were no colon.
        None | Some("") => Ok(default),
        Some(text) => match number_in(text.as_bytes(), 1..=u16::MAX.into())
            .and_then(|port| u16::try_from(port).ok())
        {
            Some(port) => Ok(port),
            None => Err(format!(
                "the port {text} is not a number from 1 to 65535; write one such as ws://127.0.0.1:8765/"
            )),
        },
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Connects to `target`, asking for the stream from `from` on, and offering `prodcon.v1`.
///
/// A server that picks no subprotocol (the asyncio article's Python producer) is fine by RFC 6455,
/// but tungstenite fails a handshake whose offer went unanswered. So such a server is asked once
/// more, this time with no offer, and its frames are read as plain text.
///
/// A `wss://` target is reached through `tls`, the TLS client shared by every such URL.
///
/// A server that accepts the connection but never answers the handshake is given up on after
/// `limit` (zero: never).
pub async fn connect(
    target: &Target,
    tls: Option<&TlsConnector>,
    from: Option<u64>,
    limit: Duration,
) -> Result<Connection, ClientError> {
    if limit.is_zero() {
        return negotiate(target, tls, from).await;
    }
    runtime::timeout(limit, negotiate(target, tls, from))
        .await
        .unwrap_or(Err(ClientError::HandshakeTimeout(limit)))
}

/// Opens a connection offering `prodcon.v1`, and again offering nothing if the server wants none.
async fn negotiate(
    target: &Target,
    tls: Option<&TlsConnector>,
    from: Option<u64>,
) -> Result<Connection, ClientError> {
    match handshake(target, tls, from, Some(subprotocol::PRODCON_V1)).await {
        Err(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol,
        ))) => {
            log::info!("the server chose no subprotocol: reading plain text frames");
            let (ws, response) = handshake(target, tls, from, None)
                .await
                .map_err(rejection)?;
            check_extensions(&response)?;
            Ok(Connection {
                ws,
                format: Format::Plain,
            })
        }
        Err(error) => Err(rejection(error)),
        // tungstenite checked that the server chose what was offered.
        Ok((ws, response)) => {
            check_extensions(&response)?;
            Ok(Connection {
                ws,
                format: Format::JsonV1,
            })
        }
    }
}

/// Fails a connection whose server chose an extension: the client offers none, and RFC 6455
/// (4.1) says to fail the connection, rather than read frames it cannot understand.
fn check_extensions(response: &Response) -> Result<(), ClientError> {
    match response.headers().get(EXTENSIONS_HEADER) {
        None => Ok(()),
        Some(value) => Err(ClientError::Unoffered(format!(
            "extension {}",
            printable(&String::from_utf8_lossy(value.as_bytes()))
        ))),
    }
}

/// Opens a TCP connection and completes the WebSocket handshake, offering `offer`.
async fn handshake(
    target: &Target,
    tls: Option<&TlsConnector>,
    from: Option<u64>,
    offer: Option<&'static str>,
) -> Result<(WebSocketStream<Socket>, Response), WsError> {
    let mut request = target.uri_from(from).into_client_request()?;
    if let Some(name) = offer {
        request
            .headers_mut()
            .insert(subprotocol::HEADER, HeaderValue::from_static(name));
    }
    let stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
    let _ = stream.set_nodelay(true);
    let stream = match (target.secure, tls) {
        (false, _) => Either::Left(stream),
        (true, Some(connector)) => tls::secure(stream, &target.host, connector).await?,
        // `run` builds the TLS client whenever a wss:// URL is given: never plain text instead.
        (true, None) => {
            return Err(WsError::Io(std::io::Error::other(
                "no TLS client for a wss:// URL",
            )))
        }
    };
    // The client writes only pongs and its closing frame: each goes out at once (no write
    // buffering), and what the server leaves unread is bounded.
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_CHUNK)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(MAX_FRAME_LEN))
        .max_frame_size(Some(MAX_FRAME_LEN));
    async_tungstenite::client_async_with_config(request, TakeTurns::new(stream), Some(config)).await
}

/// The error for a failed handshake, with the server's own words when it gave some.
fn rejection(error: WsError) -> ClientError {
    match error {
        WsError::Http(response) => {
            let status = response.status();
            // The server chose these bytes: shown escaped, so that they cannot drive the
            // terminal or forge a second line.
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .map(|body| printable(body.trim_end()).to_string())
                .filter(|body| !body.is_empty());
            ClientError::Rejected {
                status: format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or_default()
                ),
                body,
            }
        }
        WsError::Io(error) => match tls::failure(&error) {
            Some(reason) => ClientError::Tls(reason),
            None => ClientError::Connect(error),
        },
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::InvalidSubProtocol,
        )) => ClientError::Unoffered(format!(
            "a subprotocol other than {}",
            subprotocol::PRODCON_V1
        )),
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::ServerSentSubProtocolNoneRequested,
        )) => ClientError::Unoffered("a subprotocol, when offered none".into()),
        other => ClientError::Handshake(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_is_added_and_other_parameters_kept() {
        let target = Target::parse("ws://127.0.0.1:9/feed?token=x&from=3").unwrap();
        assert_eq!(
            target.uri_from(None).to_string(),
            "ws://127.0.0.1:9/feed?token=x&from=3"
        );
        assert_eq!(
            target.uri_from(Some(8)).to_string(),
            "ws://127.0.0.1:9/feed?token=x&from=8"
        );
    }

    #[test]
    fn ipv6_hosts_and_default_ports() {
        let target = Target::parse("ws://[::1]/").unwrap();
        assert_eq!((target.host.as_str(), target.port), ("::1", 80));
        let secure = Target::parse("wss://example.com/").unwrap();
        assert_eq!((secure.port, secure.is_secure()), (443, true));
    }

    #[test]
    fn a_port_is_used_only_when_it_is_one() {
        for (url, port) in [
            ("ws://127.0.0.1:8765/", 8765),
            ("ws://127.0.0.1:65535/", 65535),
            ("ws://127.0.0.1:1/", 1),
            ("ws://127.0.0.1:/", 80),
            ("wss://[::1]:8443/", 8443),
            ("wss://[::1]/", 443),
            ("ws://user:secret@example.com/", 80),
            ("ws://user:secret@example.com:81/", 81),
        ] {
            assert_eq!(Target::parse(url).map(|t| t.port).ok(), Some(port), "{url}");
        }
        for url in [
            "ws://127.0.0.1:99999/",
            "ws://127.0.0.1:65536/",
            "ws://127.0.0.1:0/",
            "ws://127.0.0.1:00/",
            "ws://127.0.0.1:abc/",
            "ws://[::1]:99999/",
            "ws://user@127.0.0.1:99999/",
            "wss://example.com:70000/",
        ] {
            let error = Target::parse(url).unwrap_err().to_string();
            assert!(
                error.starts_with(url) && error.contains("1 to 65535"),
                "{url}: {error}"
            );
        }
    }

    #[test]
    fn unusable_urls_say_why() {
        for (url, why) in [
            ("http://x/", "must start with ws:// or wss://"),
            ("ws:// bad", "not a URL"),
        ] {
            let error = Target::parse(url).unwrap_err().to_string();
            assert!(error.contains(why), "{url}: {error}");
        }
    }
}
