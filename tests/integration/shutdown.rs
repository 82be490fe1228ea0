use integration_tests::process::RunningClient;
use integration_tests::ws::{Received, WsClient};
use integration_tests::Server;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

fn closes_clients_with_1001_and_exits_0(signal: &str) {
    let mut server = Server::start(&["--interval", "10ms"]);
    let mut plain = WsClient::connect(&server.url, &[]).unwrap();
    let mut json = WsClient::connect(&server.url, &["prodcon.v1"]).unwrap();
    let consumer = RunningClient::start(&[&server.url]);
    let mut received = plain.texts(2, LIMIT);
    json.texts(2, LIMIT);
    consumer.wait_for_lines(1, LIMIT);
    let asked = Instant::now();
    server.signal(signal);
    let (rest, end) = plain.until_close(LIMIT);
    assert!(matches!(end, Received::Close(Some((1001, _)))), "{end:?}");
    // What the queue held went out before the close, in order, with nothing left out.
    received.extend(rest);
    let numbers: Vec<u64> = received.iter().map(|t| t.parse().unwrap()).collect();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
    let (_, end) = json.until_close(LIMIT);
    assert!(matches!(end, Received::Close(Some((1001, _)))), "{end:?}");
    let status = server.wait_exit(Duration::from_secs(2));
    assert!(status.success(), "{status:?}");
    assert!(asked.elapsed() < Duration::from_secs(2));
    let run = consumer.finish(LIMIT);
    assert!(
        run.status.success(),
        "a 1001 close is a normal end: {run:?}"
    );
    assert!(!run.stdout.is_empty());
}

#[test]
fn sigint_closes_every_client_with_1001_and_exits_0() {
    closes_clients_with_1001_and_exits_0("INT");
}

#[test]
fn sigterm_closes_every_client_with_1001_and_exits_0() {
    closes_clients_with_1001_and_exits_0("TERM");
}

#[test]
fn shutdown_with_a_client_that_never_reads_still_exits_in_time() {
    let mut server = Server::start(&["--interval", "0"]);
    let stalled = WsClient::connect(&server.url, &[]).unwrap();
    server.wait_for_log("1 open", LIMIT);
    std::thread::sleep(Duration::from_millis(300));
    server.signal("INT");
    assert!(server.wait_exit(Duration::from_secs(2)).success());
    drop(stalled);
}
