//! Several producer-server nodes serving one Redis stream, read by real consumer-clients.

use integration_tests::process::RunningClient;
use integration_tests::redis::{closed_port, wait_until, Persistence, Redis};
use integration_tests::Server;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn one_line(text: &str) -> &str {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got {text:?}");
    lines[0]
}

/// producer-server with `args`, to its exit (it must exit by itself).
fn run_server(args: &[&str]) -> std::process::Output {
    let binary = integration_tests::binaries::binary("producer-server");
    let mut child = Command::new(binary)
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("producer-server starts");
    let deadline = std::time::Instant::now() + LIMIT;
    while child.try_wait().expect("waiting works").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("producer-server {args:?} did not exit within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("its output is read")
}

#[test]
fn options_that_do_not_combine_are_refused_in_one_line() {
    for args in [
        vec!["--source", "none"],
        vec!["--redis", "localhost:6379"],
        vec!["--redis", "http://127.0.0.1:6379"],
    ] {
        let out = run_server(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            one_line(&stderr).starts_with("producer-server: "),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "it never listened");
    }
}

#[test]
fn an_unreachable_redis_at_start_is_one_line_naming_it_and_exit_1() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let out = run_server(&["--redis", &url]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(one_line(&stderr).contains(&url), "{stderr}");
    assert!(out.stdout.is_empty(), "it never listened");
}

#[test]
fn stdin_published_through_one_node_reaches_consumers_of_both_identically() {
    let Some(redis) = Redis::start("redis_nodes::stdin_published", Persistence::None) else {
        return;
    };
    let url = redis.url();
    let mut a = Server::start_with(
        &["--redis", &url, "--source", "stdin"],
        Stdio::piped(),
        "127.0.0.1:0",
    );
    let b = Server::start(&["--redis", &url]);
    let on_a = RunningClient::start(&[&a.url, "--json", "--from", "1", "--count", "5"]);
    let on_b = RunningClient::start(&[&b.url, "--json", "--from", "1", "--count", "5"]);
    let mut input = a.take_stdin().expect("stdin is piped");
    input
        .write_all(b"alpha\nbeta\ngamma\ndelta\nepsilon\n")
        .unwrap();
    input.flush().unwrap();
    let (on_a, on_b) = (on_a.finish(LIMIT), on_b.finish(LIMIT));
    assert!(on_a.status.success(), "{on_a:?}");
    assert_eq!(
        on_a.stdout, on_b.stdout,
        "same seq, time and data on both nodes"
    );
    let data: Vec<String> = on_a
        .lines()
        .iter()
        .map(|line| {
            let envelope: serde_json::Value = serde_json::from_str(line).unwrap();
            format!("{}:{}", envelope["seq"], envelope["data"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        data,
        ["1:alpha", "2:beta", "3:gamma", "4:delta", "5:epsilon"]
    );
    drop(input);
}

#[test]
fn an_entry_added_with_redis_cli_reaches_consumers_on_both_nodes() {
    let Some(redis) = Redis::start("redis_nodes::redis_cli", Persistence::None) else {
        return;
    };
    let a = Server::start(&["--redis", &redis.url()]);
    let b = Server::start(&["--redis", &redis.url()]);
    let on_a = RunningClient::start(&[&a.url, "--json", "--from", "1", "--count", "1"]);
    let on_b = RunningClient::start(&[&b.url, "--json", "--from", "1", "--count", "1"]);
    redis.cli(&["XADD", "prodcon", "0-*", "data", "hello", "time", "42"]);
    for run in [on_a.finish(LIMIT), on_b.finish(LIMIT)] {
        assert!(run.status.success(), "{run:?}");
        assert_eq!(run.stdout, "{\"seq\":1,\"time\":42,\"data\":\"hello\"}\n");
    }
}

#[test]
// Needs the consumer-client that takes several URLs (`consumer-client URL1 URL2 --reconnect`),
// being built on branch `client`: today's client takes one URL.
#[ignore = "needs the multi-URL consumer-client: consumer-client URL1 URL2 --reconnect"]
fn a_client_holding_both_urls_reads_1_to_n_across_kill_9_of_its_node() {
    let Some(redis) = Redis::start("redis_nodes::kill_9", Persistence::None) else {
        return;
    };
    let url = redis.url();
    // The publisher is a node of its own, so that killing the consumer's node stops no input.
    let _publisher = Server::start(&["--redis", &url, "--source", "counter", "--interval", "2ms"]);
    let a = Server::start(&["--redis", &url]);
    let b = Server::start(&["--redis", &url]);
    let count = "1500";
    let client = RunningClient::start(&[
        &a.url,
        &b.url,
        "--reconnect",
        "--from",
        "1",
        "--count",
        count,
    ]);
    wait_until("the stream passing 300", LIMIT, || {
        redis
            .cli(&["XLEN", "prodcon"])
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
            >= 300
    });
    a.signal("KILL");
    let run = client.finish(LIMIT);
    assert!(run.status.success(), "{run:?}");
    let expected: Vec<String> = (1..=1500).map(|n| n.to_string()).collect();
    assert_eq!(run.lines(), expected, "exactly 1..N, no gap and no repeat");
}

#[test]
fn consumers_stay_connected_while_redis_is_stopped_and_lose_nothing() {
    let Some(redis) = Redis::start("redis_nodes::redis_stopped", Persistence::None) else {
        return;
    };
    let url = redis.url();
    let _publisher = Server::start(&["--redis", &url, "--source", "counter", "--interval", "2ms"]);
    let node = Server::start(&["--redis", &url]);
    // No --reconnect: a dropped connection would fail the run.
    let client = RunningClient::start(&[&node.url, "--from", "1", "--count", "2000"]);
    wait_until("the stream passing 300", LIMIT, || {
        redis
            .cli(&["XLEN", "prodcon"])
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
            >= 300
    });
    redis.signal("STOP");
    // The fault under test is a pause of this length, not a wait for something.
    std::thread::sleep(Duration::from_secs(3));
    redis.signal("CONT");
    let run = client.finish(LIMIT);
    assert!(run.status.success(), "{run:?}");
    let expected: Vec<String> = (1..=2000).map(|n| n.to_string()).collect();
    assert_eq!(run.lines(), expected);
}
