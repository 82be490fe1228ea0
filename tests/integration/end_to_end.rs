use common::{Envelope, ServerFrame};
use integration_tests::process::RunningClient;
use integration_tests::{run_client, Server};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

fn numbers(first: u64, last: u64) -> Vec<String> {
    (first..=last).map(|n| n.to_string()).collect()
}

fn envelopes(stdout: &str) -> Vec<Envelope> {
    stdout
        .lines()
        .map(|line| match ServerFrame::decode(line) {
            Ok(ServerFrame::Message(envelope)) => envelope,
            other => panic!("not an envelope line: {line:?} ({other:?})"),
        })
        .collect()
}

#[test]
fn client_prints_the_counter_one_line_each() {
    let server = Server::start(&["--interval", "20ms"]);
    let run = run_client(&[&server.url, "--count", "5"], LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.lines(), numbers(1, 5));
    assert_eq!(run.stderr, "");
}

#[test]
fn two_clients_at_once_each_get_their_own_stream_from_one() {
    let server = Server::start(&["--interval", "20ms"]);
    let first = RunningClient::start(&[&server.url, "--count", "8"]);
    let second = RunningClient::start(&[&server.url, "--count", "8"]);
    for run in [first.finish(LIMIT), second.finish(LIMIT)] {
        assert!(run.status.success(), "{run:?}");
        assert_eq!(run.lines(), numbers(1, 8));
    }
}

#[test]
fn json_prints_envelopes_with_sequence_and_time() {
    let server = Server::start(&["--interval", "10ms"]);
    let run = run_client(&[&server.url, "--count", "6", "--json"], LIMIT);
    assert!(run.status.success(), "{run:?}");
    let envelopes = envelopes(&run.stdout);
    let seqs: Vec<u64> = envelopes.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert!(envelopes.iter().all(|e| e.data == e.seq.to_string()));
    assert!(envelopes.windows(2).all(|w| w[0].time <= w[1].time));
    let now = common::frame::now_micros();
    assert!(envelopes
        .iter()
        .all(|e| e.time <= now && now - e.time < 60_000_000));
}

#[test]
fn from_starts_the_stream_there() {
    let server = Server::start(&["--interval", "10ms"]);
    let run = run_client(&[&server.url, "--from", "40", "--count", "3"], LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.lines(), numbers(40, 42));
    let json = run_client(
        &[&server.url, "--from", "7", "--count", "2", "--json"],
        LIMIT,
    );
    let seqs: Vec<u64> = envelopes(&json.stdout).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [7, 8]);
}

#[test]
fn interval_zero_delivers_200_000_messages_in_order() {
    let server = Server::start(&["--interval", "0"]);
    let run = run_client(
        &[&server.url, "--count", "200000"],
        Duration::from_secs(120),
    );
    assert!(run.status.success(), "{run:?}");
    let lines = run.lines();
    assert_eq!(lines.len(), 200_000);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, (i + 1).to_string(), "line {}", i + 1);
    }
}

#[test]
fn the_counter_ends_normally_at_the_largest_sequence_number() {
    let server = Server::start(&["--interval", "0"]);
    let url = format!("{}?from=9007199254740990", server.url);
    let run = run_client(&[&url, "--json"], LIMIT);
    assert!(run.status.success(), "Close 1000 at the end: {run:?}");
    let seqs: Vec<u64> = envelopes(&run.stdout).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [9007199254740990, 9007199254740991]);
}
