//! A plain WebSocket client, as a browser or a script would be, for checks that consumer-client
//! would not make: offering no subprotocol, reading close frames, not reading at all.

use async_std::net::TcpStream;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures::StreamExt;
use std::time::Duration;

/// An open WebSocket.
pub struct WsClient {
    /// The connection.
    ws: WebSocketStream<TcpStream>,
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
}

/// How a read ended.
#[derive(Debug)]
pub enum Received {
    /// A text frame.
    Text(String),
    /// A close frame (the code, and the reason).
    Close(Option<(u16, String)>),
    /// The connection ended without a close frame, or failed.
    Gone(Option<String>),
    /// Nothing came in time.
    TimedOut,
}

impl WsClient {
    /// Connects to `url`, offering `subprotocols` (none: a browser's `new WebSocket(url)`).
    pub fn connect(url: &str, subprotocols: &[&str]) -> Result<WsClient, WsError> {
        Self::connect_from(url, subprotocols, None)
    }

    /// Connects as [`WsClient::connect`] does, saying with `origin` which web page asks, as a
    /// browser would (`None`: no `Origin` header, as command-line tools do).
    pub fn connect_from(
        url: &str,
        subprotocols: &[&str],
        origin: Option<&str>,
    ) -> Result<WsClient, WsError> {
        async_std::task::block_on(async {
            let mut request = url.into_client_request()?;
            if let Some(origin) = origin {
                let origin = HeaderValue::from_str(origin).expect("a valid header value");
                request.headers_mut().insert("Origin", origin);
            }
            if !subprotocols.is_empty() {
                let offer = HeaderValue::from_str(&subprotocols.join(", ")).expect("valid names");
                request
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", offer);
            }
            let authority = request
                .uri()
                .authority()
                .expect("URL has a host")
                .to_string();
            let stream = TcpStream::connect(authority).await?;
            let (ws, response) = async_tungstenite::client_async(request, stream).await?;
            let subprotocol = response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.to_str().unwrap_or_default().to_string());
            Ok(WsClient { ws, subprotocol })
        })
    }

    /// The next frame that is not a ping or pong, waiting at most `limit`.
    pub fn receive(&mut self, limit: Duration) -> Received {
        async_std::task::block_on(async {
            loop {
                let next = async_std::future::timeout(limit, self.ws.next()).await;
                return match next {
                    Err(_) => Received::TimedOut,
                    Ok(None) => Received::Gone(None),
                    Ok(Some(Err(error))) => Received::Gone(Some(error.to_string())),
                    Ok(Some(Ok(Message::Text(text)))) => Received::Text(text.to_string()),
                    Ok(Some(Ok(Message::Close(frame)))) => Received::Close(
                        frame.map(|f: CloseFrame| (u16::from(f.code), f.reason.to_string())),
                    ),
                    Ok(Some(Ok(_))) => continue,
                };
            }
        })
    }

    /// The next `n` text frames, each within `limit`; panics on anything else.
    pub fn texts(&mut self, n: usize, limit: Duration) -> Vec<String> {
        (0..n)
            .map(|i| match self.receive(limit) {
                Received::Text(text) => text,
                other => panic!("frame {i}: expected text, got {other:?}"),
            })
            .collect()
    }

    /// Reads on until the server closes, at most `limit`; returns the texts received and the
    /// close code and reason.
    pub fn until_close(&mut self, limit: Duration) -> (Vec<String>, Received) {
        let mut texts = Vec::new();
        loop {
            match self.receive(limit) {
                Received::Text(text) => texts.push(text),
                other => return (texts, other),
            }
        }
    }
}
