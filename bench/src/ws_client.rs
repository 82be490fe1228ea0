//! Opening one WebSocket to a server under test, as a browser or consumer-client would.

use async_std::net::TcpStream;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::WebSocketStream;
use common::{subprotocol, Format};
use futures::StreamExt;
use std::time::Duration;

/// Handshakes in flight at once, below the servers' accept backlogs (see `crowd`).
const CONNECTING_AT_ONCE: usize = 64;

/// An open connection.
pub type Ws = WebSocketStream<TcpStream>;

/// Connects to `url` offering `prodcon.v1` for [`Format::JsonV1`] and nothing for
/// [`Format::Plain`], with a read buffer of `read_buffer` bytes: small for the thousands of
/// fan-out connections, so that the bench process does not need gigabytes.
pub async fn connect(url: &str, format: Format, read_buffer: usize) -> Result<Ws, String> {
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("bad URL {url}: {e}"))?;
    if let Some(name) = format.subprotocol() {
        request
            .headers_mut()
            .insert(subprotocol::HEADER, HeaderValue::from_static(name));
    }
    let authority = request
        .uri()
        .authority()
        .map(|a| a.to_string())
        .ok_or_else(|| format!("{url} names no host"))?;
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(read_buffer);
    // tungstenite fails the handshake when the server does not pick the subprotocol offered,
    // so a connection that opens speaks the format asked for.
    let (ws, _response) =
        async_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| format!("handshake with {url} failed: {e}"))?;
    Ok(ws)
}

/// Opens `n` connections to `url` in `format`, a few at a time, within `limit`; fails with the
/// first error if any connection fails.
pub async fn open_many(
    url: &str,
    format: Format,
    n: usize,
    read_buffer: usize,
    limit: Duration,
) -> Result<Vec<Ws>, String> {
    let opened = async_std::future::timeout(limit, async {
        futures::stream::iter(0..n)
            .map(|_| connect(url, format, read_buffer))
            .buffer_unordered(CONNECTING_AT_ONCE)
            .collect::<Vec<_>>()
            .await
    })
    .await
    .map_err(|_| format!("{n} connections did not open within {limit:?}"))?;
    let failed = opened.iter().filter(|ws| ws.is_err()).count();
    opened
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|first| format!("{failed} of {n} connections failed, the first: {first}"))
}
