use async_tungstenite::tungstenite::Error as WsError;
use integration_tests::ws::WsClient;
use integration_tests::Server;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// Connects with `origin` and reads one message: the handshake was accepted.
fn accepted(server: &Server, origin: Option<&str>) {
    let mut client = WsClient::connect_from(&server.url, &["prodcon.v1"], origin)
        .unwrap_or_else(|e| panic!("origin {origin:?} refused: {e}; log:\n{}", server.log()));
    // A message arrives: the stream runs (`texts` panics on anything else).
    let first = client.texts(1, LIMIT).remove(0);
    assert!(first.contains("\"seq\":1,"), "{first}");
}

/// Connects with `origin`, expects 403, and returns the answer's body.
fn refused(server: &Server, origin: &str) -> String {
    match WsClient::connect_from(&server.url, &["prodcon.v1"], Some(origin)) {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403, "{origin}");
            let body = response.body().as_deref().unwrap_or_default();
            String::from_utf8_lossy(body).into_owned()
        }
        Ok(_) => panic!("origin {origin} was accepted"),
        Err(other) => panic!("origin {origin}: expected a 403, got {other}"),
    }
}

#[test]
fn page_of_the_server_itself_may_connect() {
    let server = Server::start(&["--interval", "10ms"]);
    accepted(&server, Some(&format!("http://{}", server.addr)));
    // Browsers may write the scheme and host in capitals; they are the same origin.
    accepted(&server, Some(&format!("HTTP://{}", server.addr)));
}

#[test]
fn foreign_origin_gets_403_with_a_reason_and_a_log_line_naming_it() {
    let server = Server::start(&["--interval", "10ms"]);
    let body = refused(&server, "http://evil.example");
    assert!(
        body.contains("http://evil.example") && body.contains("--allowed-origin"),
        "{body}"
    );
    assert_eq!(body.lines().count(), 1, "{body}");
    server.wait_for_log("http://evil.example", LIMIT);
    // The same host on another port is another site.
    let other_port = format!("http://127.0.0.1:{}", server.addr.port() ^ 1);
    refused(&server, &other_port);
    // The server goes on serving everyone else.
    accepted(&server, None);
}

#[test]
fn clients_without_origin_may_connect() {
    let server = Server::start(&["--interval", "10ms"]);
    accepted(&server, None);
}

#[test]
fn allowed_origin_option_adds_origins() {
    let server = Server::start(&[
        "--interval",
        "10ms",
        "--allowed-origin",
        "http://example.com:8080",
        "--allowed-origin",
        "https://app.example",
    ]);
    accepted(&server, Some("http://example.com:8080"));
    accepted(&server, Some("https://APP.example:443"));
    accepted(&server, Some(&format!("http://{}", server.addr)));
    refused(&server, "http://example.com");
    refused(&server, "http://evil.example");
}

#[test]
fn allowed_origin_star_allows_every_origin() {
    let server = Server::start(&["--interval", "10ms", "--allowed-origin", "*"]);
    accepted(&server, Some("http://evil.example"));
    accepted(&server, Some("null"));
}

#[test]
fn bad_allowed_origin_is_one_line_with_an_example() {
    let out = std::process::Command::new(integration_tests::binaries::binary("producer-server"))
        .args(["--allowed-origin", "example.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--allowed-origin") && stderr.contains("http://example.com:8080"),
        "{stderr}"
    );
}

#[test]
fn a_rebound_host_name_is_refused_even_when_origin_and_host_match() {
    let server = Server::start(&["--interval", "10ms"]);
    let port = server.addr.port();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: evil.example:{port}\r\nOrigin: http://evil.example:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
}
