//! Opening a connection: the URL, the TCP connection, the handshake and the subprotocol.

use crate::error::ClientError;
use crate::runtime::{self, TcpStream};
use crate::tls::{self, Stream};
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::error::{ProtocolError, SubProtocolError};
use async_tungstenite::tungstenite::http::{HeaderValue, Uri};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Error as WsError;
use async_tungstenite::WebSocketStream;
use common::{frame::MAX_FRAME_LEN, resume, subprotocol, Format};
use futures_rustls::TlsConnector;
use std::path::Path;
use std::time::Duration;

/// An open connection and how its frames are to be read.
pub struct Connection {
    /// The WebSocket.
    pub ws: WebSocketStream<Stream>,
    /// What the server chose: JSON envelopes, or the data alone.
    pub format: Format,
}

/// The server's address, checked once.
#[derive(Clone)]
pub struct Target {
    /// The URL as given, without any `from` the client adds.
    uri: Uri,
    /// Host to connect to, without IPv6 brackets.
    host: String,
    /// Port to connect to.
    port: u16,
    /// The TLS client, for a `wss://` URL.
    tls: Option<TlsConnector>,
}

impl Target {
    /// Checks that `url` is a `ws://` or `wss://` URL this client can connect to; a `wss://`
    /// server must prove itself with a certificate from the system's authorities or from `ca`.
    pub fn parse(url: &str, ca: Option<&Path>) -> Result<Target, ClientError> {
        let uri: Uri = url.parse().map_err(|e| {
            ClientError::BadUrl(format!(
                "not a URL ({e}); write one such as ws://127.0.0.1:8765/"
            ))
        })?;
        let (tls, default_port) = match uri.scheme_str() {
            Some("ws") => (None, 80),
            Some("wss") => (Some(tls::connector(ca)?), 443),
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
        let port = uri.port_u16().unwrap_or(default_port);
        Ok(Target {
            uri,
            host,
            port,
            tls,
        })
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

/// Connects to `target`, asking for the stream from `from` on, and offering `prodcon.v1`.
///
/// A server that picks no subprotocol (the asyncio article's Python producer) is fine by RFC 6455,
/// but tungstenite fails a handshake whose offer went unanswered. So such a server is asked once
/// more, this time with no offer, and its frames are read as plain text.
///
/// A server that accepts the connection but never answers the handshake is given up on after
/// `limit` (zero: never).
pub async fn connect(
    target: &Target,
    from: Option<u64>,
    limit: Duration,
) -> Result<Connection, ClientError> {
    if limit.is_zero() {
        return negotiate(target, from).await;
    }
    runtime::timeout(limit, negotiate(target, from))
        .await
        .unwrap_or(Err(ClientError::HandshakeTimeout(limit)))
}

/// Opens a connection offering `prodcon.v1`, and again offering nothing if the server wants none.
async fn negotiate(target: &Target, from: Option<u64>) -> Result<Connection, ClientError> {
    match handshake(target, from, Some(subprotocol::PRODCON_V1)).await {
        Err(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol,
        ))) => {
            log::info!("the server chose no subprotocol: reading plain text frames");
            let ws = handshake(target, from, None).await.map_err(rejection)?;
            Ok(Connection {
                ws,
                format: Format::Plain,
            })
        }
        Err(error) => Err(rejection(error)),
        // tungstenite checked that the server chose what was offered.
        Ok(ws) => Ok(Connection {
            ws,
            format: Format::JsonV1,
        }),
    }
}

/// Opens a TCP connection and completes the WebSocket handshake, offering `offer`.
async fn handshake(
    target: &Target,
    from: Option<u64>,
    offer: Option<&'static str>,
) -> Result<WebSocketStream<Stream>, WsError> {
    let mut request = target.uri_from(from).into_client_request()?;
    if let Some(name) = offer {
        request
            .headers_mut()
            .insert(subprotocol::HEADER, HeaderValue::from_static(name));
    }
    let stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
    let _ = stream.set_nodelay(true);
    let stream = match &target.tls {
        Some(connector) => tls::secure(stream, &target.host, connector).await?,
        None => Stream::Plain(stream),
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_LEN))
        .max_frame_size(Some(MAX_FRAME_LEN));
    let (ws, _response) =
        async_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
    Ok(ws)
}

/// The error for a failed handshake, with the server's own words when it gave some.
fn rejection(error: WsError) -> ClientError {
    match error {
        WsError::Http(response) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .and_then(|body| body.lines().next().map(str::to_string))
                .filter(|line| !line.is_empty());
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
        other => ClientError::Handshake(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_is_added_and_other_parameters_kept() {
        let target = Target::parse("ws://127.0.0.1:9/feed?token=x&from=3", None).unwrap();
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
        let target = Target::parse("ws://[::1]/", None).unwrap();
        assert_eq!((target.host.as_str(), target.port), ("::1", 80));
        let secure = Target::parse("wss://example.com/", None).unwrap();
        assert_eq!((secure.port, secure.tls.is_some()), (443, true));
    }

    #[test]
    fn unusable_urls_say_why() {
        for (url, why) in [
            ("http://x/", "must start with ws://"),
            ("ws:// bad", "not a URL"),
        ] {
            let Err(error) = Target::parse(url, None) else {
                panic!("{url} must be refused");
            };
            let error = error.to_string();
            assert!(error.contains(why), "{url}: {error}");
        }
    }
}
