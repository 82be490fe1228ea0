//! The `--metrics` listener: `GET /metrics` for Prometheus, `GET /healthz` for load balancers.
//!
//! It has its own address so that the numbers are never exposed by accident on the public port,
//! and it is plain HTTP (scrapers live on the operator's own network). It reads one request per
//! connection, answers, and closes.

use crate::connection_log::{ConnectionLog, Event};
use crate::http::{self, PlainResponse, RequestKind};
use crate::metrics::Metrics;
use crate::pending::{Pending, Shed};
use crate::runtime::{self, TcpListener, TcpStream};
use crate::shutdown::ShutdownSignal;
use std::time::Duration;

/// How long a scraper has to send its request and read the answer. Prometheus and load balancers
/// send theirs as soon as they connect; a longer limit only lets idle connections keep their
/// place.
const REQUEST_LIMIT: Duration = Duration::from_secs(2);

/// Requests served at once: scrapers and health checks are few; more is someone misbehaving.
/// Past it the oldest is shed, as on the main port (see [`crate::pending`]): a health check
/// answers within milliseconds of arriving, so it is never the oldest for long, while
/// connections opened and left idle to fill the slots are.
const MAX_PENDING: usize = 64;

/// The `Content-Type` of the metrics: what prometheus-client writes, which Prometheus reads.
const METRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Answers requests on `listener` for as long as the process runs; once `shutdown` is given,
/// `/healthz` says 503, so that a load balancer sends no one new during the goodbye.
pub async fn serve(listener: TcpListener, metrics: Metrics, shutdown: ShutdownSignal) {
    let pending = Pending::new(MAX_PENDING);
    // A budget of its own: a flood of this port must not silence the main port's lines.
    let log = ConnectionLog::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                log::warn!("metrics listener: accepting failed: {error}");
                runtime::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Registered here, not in the task: arrival order is what decides who is shed.
        let ticket = pending.register();
        let metrics = metrics.clone();
        let shutdown = shutdown.clone();
        let log = log.clone();
        runtime::spawn(async move {
            let answered = runtime::timeout(REQUEST_LIMIT, answer(stream, &metrics, &shutdown));
            let why = match ticket.unless_shed(answered).await {
                Ok(Some(())) => return,
                Ok(None) => format!("no request answered within {REQUEST_LIMIT:?}"),
                Err(Shed::Full(max)) => {
                    format!("shed as the oldest of {max} unanswered requests to make room")
                }
                Err(Shed::NoDescriptors) => "shed for want of descriptors".to_string(),
            };
            log.write(
                peer.ip(),
                Event::Dropped,
                format_args!("{peer}: metrics listener: dropped: {why}"),
            );
        });
    }
}

/// Reads one request and answers it.
async fn answer(mut stream: TcpStream, metrics: &Metrics, shutdown: &ShutdownSignal) {
    let response = match http::read_head(&mut stream).await {
        // Whether the server is stopping is read when the request has come, not before.
        Ok(head) => respond(&head.kind, &head.target, metrics, shutdown.is_given()),
        Err(error) => PlainResponse::text("400 Bad Request", format!("Bad request: {error}")),
    };
    let _ = response.send(&mut stream).await;
}

/// The answer to a request for `target`; `stopping` once shutdown has begun.
fn respond(kind: &RequestKind, target: &str, metrics: &Metrics, stopping: bool) -> PlainResponse {
    let method = match kind {
        RequestKind::Plain(method) => method.as_str(),
        _ => "an upgrade",
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        let mut answer = PlainResponse::text(
            "405 Method Not Allowed",
            "use GET for /metrics and /healthz",
        );
        answer.extra_headers = "Allow: GET, HEAD\r\n";
        return answer;
    }
    let path = target.split('?').next().unwrap_or_default();
    let mut answer = match path {
        "/metrics" => PlainResponse {
            status: "200 OK",
            content_type: METRICS_TYPE,
            extra_headers: "Cache-Control: no-cache\r\n",
            body: metrics.encode().into(),
            head_only: false,
        },
        "/healthz" if stopping => PlainResponse::text(
            "503 Service Unavailable",
            "not serving: the server is shutting down",
        ),
        "/healthz" if metrics.is_healthy() => PlainResponse::text("200 OK", "serving"),
        "/healthz" => PlainResponse::text(
            "503 Service Unavailable",
            "not serving: the engine is unreachable",
        ),
        _ => PlainResponse::text(
            "404 Not Found",
            "nothing here: metrics are at /metrics, the health check at /healthz",
        ),
    };
    answer.head_only = head_only;
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str, metrics: &Metrics) -> PlainResponse {
        respond(&RequestKind::Plain("GET".into()), target, metrics, false)
    }

    #[test]
    fn metrics_health_and_the_rest() {
        let metrics = Metrics::new();
        let answer = get("/metrics", &metrics);
        assert_eq!(answer.status, "200 OK");
        assert!(answer.body.contains("prodcon_deliveries_total"));
        assert_eq!(get("/healthz", &metrics).status, "200 OK");
        metrics.set_engine_reachable(false);
        assert_eq!(get("/healthz", &metrics).status, "503 Service Unavailable");
        assert_eq!(get("/", &metrics).status, "404 Not Found");
        let post = respond(
            &RequestKind::Plain("POST".into()),
            "/metrics",
            &metrics,
            false,
        );
        assert_eq!(post.status, "405 Method Not Allowed");
    }

    #[test]
    fn health_says_503_once_shutdown_has_begun_and_metrics_go_on() {
        let metrics = Metrics::new();
        let get = |target| respond(&RequestKind::Plain("GET".into()), target, &metrics, true);
        let health = get("/healthz");
        assert_eq!(health.status, "503 Service Unavailable");
        assert!(health.body.contains("shutting down"), "{}", health.body);
        assert_eq!(get("/metrics").status, "200 OK");
    }
}
