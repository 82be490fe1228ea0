use common::{Envelope, ServerFrame};
use integration_tests::process::RunningClient;
use integration_tests::ws::{Received, WsClient};
use integration_tests::{ClientRun, Server};
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

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
    std::thread::sleep(Duration::from_millis(300));
    let mut client = WsClient::connect(&server.url, &["prodcon.v1"]).unwrap();
    let seqs: Vec<u64> = client
        .texts(5, LIMIT)
        .iter()
        .map(|t| envelope(t).seq)
        .collect();
    assert!(
        seqs[0] > 10,
        "joined at the live edge, not from 1: {seqs:?}"
    );
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[test]
fn stdin_lines_reach_every_consumer_then_close_1000_and_the_server_exits_0() {
    let mut server = Server::start_with(&["--source", "stdin"], Stdio::piped(), "127.0.0.1:0");
    // A consumer that falls a queue behind the burst is dropped as slow: --reconnect brings it
    // back for the rest, from history, even after the end of input.
    let clients: Vec<RunningClient> = (0..10)
        .map(|_| RunningClient::start(&[&server.url, "--reconnect"]))
        .collect();
    let mut plain = WsClient::connect(&server.url, &[]).unwrap();
    server.wait_for_log("11 open", LIMIT);
    // Read on a thread, as a client does: one that reads nothing would be dropped as slow.
    let plain = std::thread::spawn(move || plain.until_close(LIMIT));
    let lines: Vec<String> = (1..=10_000)
        .map(|n| format!("line {n} · ünïcödé"))
        .collect();
    let mut stdin = server.take_stdin().unwrap();
    for line in &lines {
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
    let (texts, end) = plain.join().unwrap();
    assert_eq!(texts, lines);
    assert!(matches!(end, Received::Close(Some((1000, _)))), "{end:?}");
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn a_consumer_that_never_reads_is_closed_as_slow_while_a_fast_one_gets_everything() {
    let mut server = Server::start_with(
        &["--source", "stdin", "--queue", "1024"],
        Stdio::piped(),
        "127.0.0.1:0",
    );
    let mut stalled = WsClient::connect(&server.url, &["prodcon.v1"]).unwrap();
    // --reconnect: should this one lag a whole queue behind on a busy machine, it comes back
    // from history, and the output below still proves nothing was lost.
    let fast = RunningClient::start(&[&server.url, "--count", "3000", "--reconnect"]);
    server.wait_for_log("2 open", LIMIT);
    // 3,000 lines of 16 KiB, one a millisecond: an easy pace for a reader (its queue holds a
    // second of them), and far more than the stalled client's socket buffers and queue hold.
    let mut stdin = server.take_stdin().unwrap();
    let writer = std::thread::spawn(move || {
        for n in 1..=3000 {
            let _ = writeln!(stdin, "{n} {}", "x".repeat(16 * 1024));
            std::thread::sleep(Duration::from_millis(1));
        }
        stdin
    });
    let run = fast.finish(LIMIT);
    assert!(run.status.success(), "{}", run.stderr);
    assert_numbered_lines(&run, 3000);
    server.wait_for_log("too slow", LIMIT);
    // The stalled consumer gets what its queue held, in order, then Close 4000.
    let (texts, end) = stalled.until_close(LIMIT);
    let seqs: Vec<u64> = texts.iter().map(|t| envelope(t).seq).collect();
    assert!(
        !seqs.is_empty() && seqs[0] == 1,
        "{:?}",
        &seqs[..seqs.len().min(5)]
    );
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(seqs.len() < 3000);
    assert!(matches!(end, Received::Close(Some((4000, _)))), "{end:?}");
    drop(writer.join());
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
    assert!(!server.log().contains("too slow"), "{}", server.log());
}

#[test]
fn standard_input_goes_at_the_pace_of_the_fastest_consumer() {
    let mut server = Server::start_with(
        &["--source", "stdin", "--queue", "8"],
        Stdio::piped(),
        "127.0.0.1:0",
    );
    // Written before anyone connects: standard input is read once the first consumer is there,
    // and then no faster than it takes lines, so a lone consumer is never too slow, however
    // small its queue and however fast the input.
    let lines: Vec<String> = (1..=5000)
        .map(|n| format!("{n} {}", "y".repeat(2000)))
        .collect();
    let mut stdin = server.take_stdin().unwrap();
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
    assert!(!server.log().contains("too slow"), "{}", server.log());
}
