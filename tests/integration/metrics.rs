use integration_tests::certs::{arg, Pki};
use integration_tests::ws::WsClient;
use integration_tests::{http, python, run_client, Server};
use serde_json::Value;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

/// Every sample of the server's `/metrics`, as parsed by Prometheus's Python library:
/// `{"name{label=value}": number}`.
fn scrape(python: &Path, metrics: SocketAddr) -> Value {
    let out = Command::new(python)
        .arg(python::scripts().join("read_metrics.py"))
        .arg(format!("http://{metrics}/metrics"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the parser refused /metrics: {stderr}"
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of sample `key`; panics, showing them all, when it is missing.
fn sample(samples: &Value, key: &str) -> f64 {
    samples[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no sample {key} in {samples}"))
}

/// Scrapes until `key` reads `value`, at most [`LIMIT`]: the server counts a closed connection
/// a moment after the client has gone.
fn wait_for_sample(python: &Path, metrics: SocketAddr, key: &str, value: f64) -> Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        let samples = scrape(python, metrics);
        if samples[key].as_f64() == Some(value) {
            return samples;
        }
        assert!(
            Instant::now() < deadline,
            "{key} never reached {value}: {samples}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The counters say what the test did: lines produced, deliveries and their bytes, a resume
/// with a lost range, refusals by reason, connections open; `/healthz` says 200.
#[test]
fn metrics_count_what_the_test_did() {
    let Some(python) = python::interpreter() else {
        return;
    };
    let args = [
        "--source",
        "stdin",
        "--history",
        "3",
        "--metrics",
        "127.0.0.1:0",
    ];
    let mut server = Server::start_with(&args, Stdio::piped(), "127.0.0.1:0");
    let metrics = server
        .metrics
        .expect("the server printed its metrics address");
    let health = http::exchange(metrics, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", LIMIT);
    assert!(health.starts_with("HTTP/1.1 200 "), "{health}");

    // A plain-text consumer gets five lines of known sizes: 1 + 2 + 3 + 4 + 5 bytes.
    let mut first = WsClient::connect(&server.url, &[]).unwrap();
    // Lines are read once a consumer is there: wait for the server to count it.
    wait_for_sample(&python, metrics, "prodcon_connections_open", 1.0);
    let lines = ["a", "bb", "ccc", "dddd", "eeeee"];
    let mut stdin = server.take_stdin().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    stdin.flush().unwrap();
    assert_eq!(first.texts(5, LIMIT), lines);
    let samples = scrape(&python, metrics);
    assert_eq!(sample(&samples, "prodcon_connections_open"), 1.0);
    assert_eq!(sample(&samples, "prodcon_messages_produced_total"), 5.0);
    assert_eq!(sample(&samples, "prodcon_deliveries_total"), 5.0);
    assert_eq!(sample(&samples, "prodcon_bytes_sent_total"), 15.0);
    assert_eq!(sample(&samples, "prodcon_history_messages"), 3.0);
    drop(first);

    // A resume from 1, when history holds 3 to 5: one lost range (1-2), then three messages.
    let run = run_client(&[&server.url, "--from", "1", "--count", "3"], LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.lines(), ["ccc", "dddd", "eeeee"]);

    // Two refusals: a page of another site, a broken upgrade.
    let upgrade = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let foreign =
        format!("{upgrade}Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n");
    assert!(http::exchange(server.addr, &foreign, LIMIT).starts_with("HTTP/1.1 403 "));
    let broken = format!("{upgrade}\r\n");
    assert!(http::exchange(server.addr, &broken, LIMIT).starts_with("HTTP/1.1 400 "));

    let samples = wait_for_sample(&python, metrics, "prodcon_connections_open", 0.0);
    let expected = [
        ("prodcon_connections_accepted_total", 4.0),
        ("prodcon_messages_produced_total", 5.0),
        ("prodcon_deliveries_total", 8.0),
        ("prodcon_resumes_total", 1.0),
        ("prodcon_lost_ranges_total", 1.0),
        ("prodcon_slow_consumers_closed_total", 0.0),
        ("prodcon_handshakes_refused_total{reason=origin}", 1.0),
        ("prodcon_handshakes_refused_total{reason=bad_request}", 1.0),
        ("prodcon_handshakes_refused_total{reason=limit}", 0.0),
        ("prodcon_handshakes_refused_total{reason=timeout}", 0.0),
    ];
    for (key, value) in expected {
        assert_eq!(sample(&samples, key), value, "{key} in {samples}");
    }
}

/// On a TLS port, a plain-text client and a client that does not trust the certificate are
/// counted apart.
#[test]
fn tls_refusals_are_counted_by_reason() {
    let Some(python) = python::interpreter() else {
        return;
    };
    let pki = Pki::new();
    let files = pki.valid();
    let server = Server::start(&[
        "--tls-cert",
        arg(&files.cert),
        "--tls-key",
        arg(&files.key),
        "--metrics",
        "127.0.0.1:0",
    ]);
    let metrics = server
        .metrics
        .expect("the server printed its metrics address");
    let answer = http::exchange(server.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", LIMIT);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let run = run_client(&[&server.url], LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let tls = "prodcon_handshakes_refused_total{reason=tls}";
    let samples = wait_for_sample(&python, metrics, tls, 1.0);
    let not_tls = "prodcon_handshakes_refused_total{reason=not_tls}";
    assert_eq!(sample(&samples, not_tls), 1.0, "{samples}");
    assert_eq!(sample(&samples, "prodcon_connections_accepted_total"), 2.0);
}

/// Connections that send half a request and wait cannot keep `/healthz` from answering: past
/// the listener's 64 places the oldest of them is shed, and each health check gets 200 at once.
#[test]
fn health_checks_are_answered_beside_more_idle_connections_than_places() {
    let server = Server::start(&["--interval", "1h", "--metrics", "127.0.0.1:0"]);
    let metrics = server
        .metrics
        .expect("the server printed its metrics address");
    // More than the 64 places, each holding its place as a slow client would.
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut stream = TcpStream::connect(metrics).unwrap();
            stream.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
            stream
        })
        .collect();
    // Several checks, so that the later ones come after every idle connection was accepted;
    // each within less than the 2 s after which an idle connection gives its place up anyway.
    let within = Duration::from_millis(1500);
    for _ in 0..5 {
        let started = Instant::now();
        let request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        let health = http::try_exchange(metrics, request, within)
            .unwrap_or_else(|e| panic!("no answer to /healthz: {e}"));
        assert!(health.starts_with("HTTP/1.1 200 "), "{health:?}");
        let took = started.elapsed();
        assert!(took < within, "answered in {took:?}");
    }
    server.wait_for_log("metrics listener: dropped: shed as the oldest", LIMIT);
    drop(idle);
}
