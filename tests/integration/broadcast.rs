use common::{Envelope, ServerFrame};
use integration_tests::proc_stats::{has_connection_from, tcp_ports};
use integration_tests::process::RunningClient;
use integration_tests::ws::{Received, WsClient};
use integration_tests::{ClientRun, Server};
use std::io::Write;
use std::process::{ChildStdin, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn envelope(text: &str) -> Envelope {
    match ServerFrame::decode(text) {
        Ok(ServerFrame::Message(envelope)) => envelope,
        other => panic!("not an envelope: {text:?} ({other:?})"),
    }
}

/// Checks that `run` printed lines `1 ...`, `2 ...`, ... up to `count`, each once, in order.
fn assert_numbered_lines(run: &ClientRun, count: u64) {
    let numbers: Vec<u64> = run
        .lines()
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let in_order = numbers.iter().zip(1..).all(|(n, expected)| *n == expected);
    assert!(
        numbers.len() as u64 == count && in_order,
        "expected lines 1 to {count} in order, got {} lines",
        numbers.len()
    );
}

/// A server of standard input with `args` besides, and the pipe to its standard input.
fn stdin_server(args: &[&str]) -> (Server, ChildStdin) {
    let mut all = vec!["--source", "stdin"];
    all.extend_from_slice(args);
    let mut server = Server::start_with(&all, Stdio::piped(), "127.0.0.1:0");
    let stdin = server.take_stdin().unwrap();
    (server, stdin)
}

/// A stdin server and `n` consumer-clients (with `client_args`) that all have line 1: from then
/// on, each of them receives every line the test writes.
fn stdin_server_with_consumers(
    server_args: &[&str],
    n: usize,
    client_args: &[&str],
) -> (Server, ChildStdin, Vec<RunningClient>) {
    let (server, mut stdin) = stdin_server(server_args);
    writeln!(stdin, "1").unwrap();
    // From 1: whenever each joins, line 1 is in history for it.
    let clients: Vec<RunningClient> = (0..n)
        .map(|_| {
            let mut args = vec![server.url.as_str(), "--from", "1"];
            args.extend_from_slice(client_args);
            RunningClient::start(&args)
        })
        .collect();
    for client in &clients {
        client.wait_for_lines(1, LIMIT);
    }
    (server, stdin, clients)
}

#[test]
fn fifty_consumers_receive_the_identical_sequence() {
    let server = Server::start(&["--broadcast", "--interval", "10ms"]);
    let clients: Vec<RunningClient> = (0..50)
        .map(|_| RunningClient::start(&[&server.url, "--from", "1", "--count", "40", "--json"]))
        .collect();
    let runs: Vec<_> = clients.into_iter().map(|c| c.finish(LIMIT)).collect();
    for run in &runs {
        assert!(run.status.success(), "{run:?}");
    }
    // One producer: the same sequence numbers with the same data and the same time stamps.
    let first = &runs[0].stdout;
    let seqs: Vec<u64> = first.lines().map(|l| envelope(l).seq).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    assert!(runs.iter().all(|run| &run.stdout == first));
}

#[test]
fn late_joiners_start_at_the_live_edge_in_order() {
    let server = Server::start(&["--broadcast", "--interval", "10ms"]);
    let mut early = WsClient::connect(&server.url, &["prodcon.v1"]).unwrap();
    let mut seen = 0;
    while seen < 30 {
        seen = envelope(&early.texts(1, LIMIT)[0]).seq;
    }
    let mut late = WsClient::connect(&server.url, &["prodcon.v1"]).unwrap();
    let seqs: Vec<u64> = late
        .texts(5, LIMIT)
        .iter()
        .map(|t| envelope(t).seq)
        .collect();
    assert!(
        seqs[0] > seen,
        "joined at the live edge, not from 1: {seqs:?}"
    );
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[test]
fn three_terminals_reading_one_pipe_each_get_every_line_like_tee() {
    // Default options, no --reconnect: the stream goes at the pace of the slowest consumer.
    let (mut server, mut stdin, clients) = stdin_server_with_consumers(&[], 3, &[]);
    let lines: Vec<String> = (1..=200_000).map(|n| n.to_string()).collect();
    let writer = std::thread::spawn(move || {
        let mut out = std::io::BufWriter::new(&mut stdin);
        for line in &lines[1..] {
            writeln!(out, "{line}").unwrap();
        }
        drop(out);
        lines
    });
    let runs: Vec<ClientRun> = clients.into_iter().map(|c| c.finish(LIMIT)).collect();
    let lines = writer.join().unwrap();
    for run in runs {
        assert!(
            run.status.success(),
            "Close 1000 ends the client normally: {}",
            run.stderr
        );
        assert!(
            run.lines() == lines,
            "every line, in order ({} printed)",
            run.lines().len()
        );
    }
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn stdin_lines_reach_every_consumer_then_close_1000_and_the_server_exits_0() {
    let (mut server, mut stdin, clients) = stdin_server_with_consumers(&[], 10, &[]);
    let mut plain = WsClient::connect(&format!("{}?from=1", server.url), &[]).unwrap();
    assert_eq!(plain.texts(1, LIMIT), ["1"]);
    let plain = std::thread::spawn(move || plain.until_close(LIMIT));
    let mut lines: Vec<String> = vec!["1".to_string()];
    lines.extend((2..=10_000).map(|n| format!("line {n} · ünïcödé")));
    for line in &lines[1..] {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    for client in clients {
        let run = client.finish(LIMIT);
        assert!(
            run.status.success(),
            "Close 1000 ends the client normally: {}",
            run.stderr
        );
        assert_eq!(run.lines(), lines, "every line, in order");
    }
    let (mut texts, end) = plain.join().unwrap();
    texts.insert(0, "1".to_string());
    assert_eq!(texts, lines);
    assert!(matches!(end, Received::Close(Some((1000, _)))), "{end:?}");
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn a_stopped_consumer_is_let_go_after_the_slow_timeout_and_the_others_get_everything() {
    let slow_timeout = Duration::from_secs(2);
    let (mut server, stdin, mut clients) =
        stdin_server_with_consumers(&["--slow-timeout", "2s", "--queue", "64"], 3, &[]);
    let stopped = clients.pop().unwrap();
    let stopped_port = tcp_ports(stopped.pid())[0];
    stopped.signal("STOP");
    // 20,000 lines of 4 KiB: far more than the stopped consumer's queue and socket buffers hold.
    let lines: Vec<String> = (2..=20_000)
        .map(|n| format!("{n} {}", "x".repeat(4096)))
        .collect();
    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        let mut out = std::io::BufWriter::new(stdin);
        for line in &lines {
            let _ = writeln!(out, "{line}");
        }
    });
    // The server drops the stopped consumer's connection once it has waited the slow timeout and
    // given it its second to take what it was owed.
    let deadline = slow_timeout + Duration::from_secs(1) + Duration::from_secs(2);
    while has_connection_from(server.pid(), stopped_port) {
        assert!(
            started.elapsed() < deadline,
            "still connected after {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let waited = started.elapsed();
    assert!(
        waited >= slow_timeout,
        "let go after {waited:?}, before the slow timeout"
    );
    for client in clients {
        let run = client.finish(LIMIT);
        assert!(run.status.success(), "{}", run.stderr);
        assert_numbered_lines(&run, 20_000);
    }
    writer.join().unwrap();
    // Woken, it prints what reached it, in order, and says it was cut off.
    stopped.signal("CONT");
    let run = stopped.finish(LIMIT);
    assert!(!run.status.success(), "{run:?}");
    let count = run.lines().len() as u64;
    assert!(count < 20_000);
    assert_numbered_lines(&run, count);
    assert!(server.wait_exit(LIMIT).success());
}

#[test]
fn with_slow_timeout_zero_a_full_consumer_is_let_go_at_once() {
    let (mut server, stdin, clients) = stdin_server_with_consumers(
        &["--slow-timeout", "0", "--queue", "16"],
        1,
        &["--count", "3000", "--reconnect"],
    );
    // It never reads; were the stream waiting for it, the other consumer would never finish.
    // That one may be let go too, whenever the pipe outruns it: it resumes from history.
    let mut stalled =
        WsClient::connect(&format!("{}?from=1", server.url), &["prodcon.v1"]).unwrap();
    let mut stdin = stdin;
    writeln!(stdin, "2 {}", "x".repeat(16 * 1024)).unwrap();
    let writer = std::thread::spawn(move || {
        for n in 3..=3000 {
            let _ = writeln!(stdin, "{n} {}", "x".repeat(16 * 1024));
        }
        stdin
    });
    for client in clients {
        let run = client.finish(LIMIT);
        assert!(run.status.success(), "{}", run.stderr);
        assert_numbered_lines(&run, 3000);
    }
    // The stalled one gets what reached it, in order, then its end: Close 4000 if it fitted.
    let (texts, end) = stalled.until_close(LIMIT);
    let seqs: Vec<u64> = texts.iter().map(|t| envelope(t).seq).collect();
    assert!(
        seqs.len() < 3000 && seqs.iter().zip(1..).all(|(s, n)| *s == n),
        "{}",
        seqs.len()
    );
    assert!(
        matches!(end, Received::Close(Some((4000, _))) | Received::Gone(_)),
        "{end:?}"
    );
    drop(writer.join());
    server.signal("TERM");
    server.wait_exit(LIMIT);
}

#[test]
fn at_interval_zero_the_hub_takes_the_pace_of_its_consumers() {
    let server = Server::start(&["--broadcast", "--interval", "0"]);
    let clients: Vec<RunningClient> = (0..3)
        .map(|_| RunningClient::start(&[&server.url, "--count", "100000"]))
        .collect();
    for client in clients {
        let run = client.finish(LIMIT);
        assert!(run.status.success(), "{}", run.stderr);
        let numbers: Vec<u64> = run.lines().iter().map(|l| l.parse().unwrap()).collect();
        assert_eq!(numbers.len(), 100_000);
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "no gap, no repeat"
        );
    }
}

#[test]
fn a_consumer_reading_in_spurts_gets_every_message_in_order() {
    // A reader that stops fills its socket: the hub, which writes into it while its session has
    // nothing to send, then hands it back and queues the rest; once the reader has caught up, it
    // is written into directly again. Lines of 1,000 bytes, so that a spurt of reading empties
    // the socket's buffers and the session waits again. Every switch keeps the order.
    let (mut server, mut stdin) = stdin_server(&["--slow-timeout", "30s"]);
    let filler = "x".repeat(1000);
    let writer = std::thread::spawn(move || {
        let mut out = std::io::BufWriter::new(&mut stdin);
        for n in 1..=24_000 {
            writeln!(out, "{n} {filler}").unwrap();
        }
    });
    let mut client = WsClient::connect(&server.url, &[]).unwrap();
    let mut next = 1;
    for _ in 0..6 {
        for text in client.texts(4_000, LIMIT) {
            let seq: u64 = text.split(' ').next().unwrap().parse().unwrap();
            assert_eq!(seq, next, "every line once, in order");
            next += 1;
        }
        // The pause under test, not a wait for something.
        std::thread::sleep(Duration::from_millis(100));
    }
    writer.join().unwrap();
    let (rest, end) = client.until_close(LIMIT);
    assert!(
        rest.is_empty() && matches!(end, Received::Close(Some((1000, _)))),
        "{end:?}"
    );
    assert!(server.wait_exit(LIMIT).success());
}

#[test]
fn a_lone_consumer_of_a_big_input_is_never_too_slow() {
    let (mut server, mut stdin) = stdin_server(&["--queue", "8"]);
    // Written before anyone connects: standard input is read once the first consumer is there,
    // and then no faster than it takes lines, so a lone consumer gets everything, however small
    // its queue and however fast the input.
    let lines: Vec<String> = (1..=5000)
        .map(|n| format!("{n} {}", "y".repeat(2000)))
        .collect();
    let writer = std::thread::spawn(move || {
        for line in &lines {
            let _ = writeln!(stdin, "{line}");
        }
    });
    let run = RunningClient::start(&[&server.url]).finish(LIMIT);
    writer.join().unwrap();
    assert!(run.status.success(), "{}", run.stderr);
    assert_numbered_lines(&run, 5000);
    assert!(server.wait_exit(LIMIT).success());
}

#[test]
fn a_line_of_invalid_utf8_that_outgrows_a_message_once_replaced_comes_whole_in_several() {
    let (mut server, mut stdin, clients) = stdin_server_with_consumers(&[], 1, &["--json"]);
    // 600 KiB of bytes that are not UTF-8: each is sent as U+FFFD, three bytes, 1.8 MB in all,
    // past the 1 MiB a message may hold.
    let invalid = 600 * 1024;
    stdin.write_all(&vec![0xff; invalid]).unwrap();
    stdin.write_all(b"\nafter\n").unwrap();
    drop(stdin);
    let run = clients.into_iter().next().unwrap().finish(LIMIT);
    assert!(run.status.success(), "{}", run.stderr);
    let data: Vec<String> = run
        .lines()
        .iter()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["data"].as_str().unwrap().to_string()
        })
        .collect();
    let largest = data.iter().map(String::len).max().unwrap_or(0);
    assert!(
        largest <= producer_server::message::MAX_DATA_LEN,
        "a message of {largest} bytes"
    );
    assert!(data.len() >= 4, "{} messages", data.len());
    assert_eq!(data[0], "1");
    assert_eq!(data[data.len() - 1], "after");
    assert!(
        data[1..data.len() - 1].concat() == "\u{fffd}".repeat(invalid),
        "the line's pieces do not make it whole"
    );
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}
