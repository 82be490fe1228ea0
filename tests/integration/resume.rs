use common::{Envelope, LostRange, ServerFrame};
use integration_tests::process::RunningClient;
use integration_tests::ws::WsClient;
use integration_tests::{run_client, Server};
use std::process::Stdio;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn frame(text: &str) -> ServerFrame {
    ServerFrame::decode(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn seqs(texts: &[String]) -> Vec<u64> {
    texts
        .iter()
        .map(|t| match frame(t) {
            ServerFrame::Message(Envelope { seq, .. }) => seq,
            other => panic!("expected a message, got {other:?}"),
        })
        .collect()
}

#[test]
fn a_dropped_consumer_resumes_inside_history_with_no_gap_and_no_repeat() {
    let server = Server::start(&["--broadcast", "--interval", "10ms"]);
    let mut first = WsClient::connect(&server.url, &["prodcon.v1"]).unwrap();
    let mut watcher = WsClient::connect(&server.url, &["prodcon.v1"]).unwrap();
    let before = seqs(&first.texts(10, LIMIT));
    drop(first);
    let last = *before.last().unwrap();
    // The stream goes on while it is away.
    while seqs(&watcher.texts(1, LIMIT))[0] < last + 20 {}
    let url = format!("{}?from={}", server.url, last + 1);
    let mut again = WsClient::connect(&url, &["prodcon.v1"]).unwrap();
    let after = seqs(&again.texts(50, LIMIT));
    let expected: Vec<u64> = (last + 1..=last + 50).collect();
    assert_eq!(after, expected);
}

#[test]
fn beyond_history_the_consumer_is_told_what_was_lost_then_gets_the_rest() {
    let server = Server::start(&["--broadcast", "--interval", "10ms", "--history", "5"]);
    let mut watcher = WsClient::connect(&server.url, &["prodcon.v1"]).unwrap();
    while seqs(&watcher.texts(1, LIMIT))[0] < 20 {}
    let url = format!("{}?from=1", server.url);
    let mut client = WsClient::connect(&url, &["prodcon.v1"]).unwrap();
    let texts = client.texts(6, LIMIT);
    let ServerFrame::Lost(LostRange { first, last }) = frame(&texts[0]) else {
        panic!("expected a lost notice first, got {}", texts[0]);
    };
    assert_eq!(first, 1);
    assert!(last >= 15, "20 produced, 5 kept: {last}");
    assert_eq!(seqs(&texts[1..]), (last + 1..=last + 5).collect::<Vec<_>>());

    let run = run_client(&[&server.url, "--from", "1", "--count", "3"], LIMIT);
    assert!(run.status.success(), "{run:?}");
    let printed: Vec<u64> = run.lines().iter().map(|l| l.parse().unwrap()).collect();
    assert!(printed[0] > 15 && printed.windows(2).all(|w| w[1] == w[0] + 1));
    // It says which numbers it will never print: up to just before the first printed.
    let last_lost = (printed[0] - 1).to_string();
    assert!(
        run.stderr.lines().any(|line| line.contains(&last_lost)),
        "{}",
        run.stderr
    );
}

#[test]
fn a_server_killed_and_restarted_continues_the_reconnecting_client_stream() {
    let mut server = Server::start(&["--interval", "20ms"]);
    let addr = server.addr.to_string();
    let client = RunningClient::start(&[&server.url, "--reconnect", "--count", "60"]);
    client.wait_for_lines(20, LIMIT);
    server.signal("KILL");
    server.wait_exit(LIMIT);
    let _restarted = Server::start_with(&["--interval", "20ms"], Stdio::null(), &addr);
    let run = client.finish(LIMIT);
    assert!(run.status.success(), "{run:?}");
    let expected: Vec<String> = (1..=60).map(|n| n.to_string()).collect();
    assert_eq!(run.lines(), expected, "one continuous sequence");
}
