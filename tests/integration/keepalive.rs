use integration_tests::process::RunningClient;
use integration_tests::ws::WsClient;
use integration_tests::Server;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn a_peer_that_stops_answering_pings_is_dropped() {
    let server = Server::start(&["--interval", "1h", "--ping-interval", "200ms"]);
    // This client never reads, so it never answers a ping.
    let _silent = WsClient::connect(&server.url, &[]).unwrap();
    server.wait_for_log("1 open", LIMIT);
    let started = Instant::now();
    server.wait_for_log("no answer to pings", LIMIT);
    assert!(started.elapsed() < Duration::from_secs(5));
    server.wait_for_log("0 open", LIMIT);
}

#[test]
fn a_consumer_that_reads_answers_pings_and_stays() {
    let server = Server::start(&["--interval", "1h", "--ping-interval", "500ms"]);
    let client = RunningClient::start(&[&server.url]);
    server.wait_for_log("1 open", LIMIT);
    // Six ping intervals with no data at all: the pongs keep the connection.
    std::thread::sleep(Duration::from_millis(3000));
    assert!(
        !server.log().contains("no answer to pings"),
        "{}",
        server.log()
    );
    assert!(server.log().contains("1 open"));
    client.signal("KILL");
    let _ = client.finish(LIMIT);
}

/// A WebSocket server that accepts and then says nothing at all, not even a ping.
fn silent_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        let mut open = Vec::new();
        // Bounded: the test needs a few connections, never more than 20.
        for stream in listener.incoming().take(20) {
            let Ok(stream) = stream else { break };
            let stream = async_std::net::TcpStream::from(stream);
            if let Ok(ws) = async_std::task::block_on(async_tungstenite::accept_async(stream)) {
                count.fetch_add(1, Ordering::SeqCst);
                open.push(ws);
            }
        }
    });
    (url, accepted)
}

#[test]
fn a_server_gone_silent_is_detected_and_reconnected_to() {
    let (url, accepted) = silent_server();
    let client = RunningClient::start(&[&url, "--reconnect", "--silence-timeout", "300ms"]);
    let deadline = Instant::now() + LIMIT;
    while !client.stderr().contains("went silent") {
        assert!(
            Instant::now() < deadline,
            "silence not seen: {}",
            client.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = accepted.load(Ordering::SeqCst);
    while accepted.load(Ordering::SeqCst) == before {
        assert!(
            Instant::now() < deadline,
            "no reconnection: {}",
            client.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = client.stderr();
    client.signal("KILL");
    let _ = client.finish(LIMIT);
    assert!(
        stderr.contains("went silent") && stderr.contains("reconnecting"),
        "{stderr}"
    );
}

#[test]
fn without_reconnect_a_silent_server_is_an_error_naming_the_url() {
    let (url, _) = silent_server();
    let run = integration_tests::run_client(&[&url, "--silence-timeout", "200ms"], LIMIT);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        run.stderr.contains(&url) && run.stderr.contains("went silent"),
        "{}",
        run.stderr
    );
}
