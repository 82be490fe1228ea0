//! The WebSocket handshake proper: tungstenite answers the upgrade, we choose the subprotocol.

use async_tungstenite::tungstenite::handshake::server::{Request, Response};
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Error as WsError;
use async_tungstenite::WebSocketStream;
use common::{subprotocol, Format};
use futures::io::{AsyncRead, AsyncWrite};

/// Completes the handshake of a request already known to be a WebSocket upgrade, answering with
/// the best subprotocol the client offered.
pub async fn accept<S>(
    stream: S,
    config: WebSocketConfig,
) -> Result<(WebSocketStream<S>, Format), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut chosen = Format::Plain;
    // The error type is tungstenite's Callback signature, not ours, and this closure never fails.
    #[allow(clippy::result_large_err)]
    let negotiate = |request: &Request, mut response: Response| {
        let offers = request
            .headers()
            .get_all(subprotocol::HEADER)
            .iter()
            .filter_map(|value| value.to_str().ok());
        chosen = Format::negotiate(offers);
        if let Some(name) = chosen.subprotocol() {
            response
                .headers_mut()
                .insert(subprotocol::HEADER, HeaderValue::from_static(name));
        }
        Ok(response)
    };
    let ws =
        async_tungstenite::accept_hdr_async_with_config(stream, negotiate, Some(config)).await?;
    Ok((ws, chosen))
}
