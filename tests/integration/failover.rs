//! consumer-client given several URLs, nodes of one stream: it moves to the next one without a
//! gap or a repeat.
//!
//! A per-connection producer-server starts its counter at `?from=N`, so two of them at the same
//! `--interval` stand in for two nodes of one stream.

use integration_tests::process::RunningClient;
use integration_tests::{run_client, Server};
use std::net::TcpListener;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// `1`, `2`, ... `count`, as the client prints them.
fn numbers(count: u64) -> Vec<String> {
    (1..=count).map(|n| n.to_string()).collect()
}

/// A URL with nothing listening behind it (a port just released by us).
fn dead_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("ws://127.0.0.1:{port}/")
}

#[test]
fn a_node_killed_mid_stream_is_replaced_by_the_next_with_no_gap_and_no_repeat() {
    let mut first = Server::start(&["--interval", "20ms"]);
    let second = Server::start(&["--interval", "20ms"]);
    let client = RunningClient::start(&[&first.url, &second.url, "--reconnect", "--count", "80"]);
    client.wait_for_lines(20, LIMIT);
    first.signal("KILL");
    first.wait_exit(LIMIT);
    let run = client.finish(LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.lines(), numbers(80), "one continuous sequence");
}

#[test]
fn without_reconnect_the_first_url_that_answers_is_used() {
    let server = Server::start(&["--interval", "10ms"]);
    let dead = dead_url();
    let run = run_client(&[&dead, &server.url, "--count", "5"], LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.lines(), numbers(5));
    // One line for the URL passed over.
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn without_reconnect_a_drop_mid_stream_is_the_end_even_with_other_urls() {
    let mut first = Server::start(&["--interval", "20ms"]);
    let second = Server::start(&["--interval", "20ms"]);
    let client = RunningClient::start(&[&first.url, &second.url]);
    client.wait_for_lines(5, LIMIT);
    first.signal("KILL");
    first.wait_exit(LIMIT);
    let run = client.finish(LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let printed = run.lines();
    assert_eq!(
        printed,
        numbers(printed.len() as u64),
        "nothing from the second node"
    );
}

#[test]
fn with_no_url_answering_the_client_says_so_for_each_and_exits_1() {
    let (first, second) = (dead_url(), dead_url());
    let run = run_client(&[&first, &second], LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].contains(&first) && lines[1].contains(&second),
        "{lines:?}"
    );
}
