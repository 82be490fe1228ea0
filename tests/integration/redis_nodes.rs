//! Several producer-server nodes serving one Redis stream, read by real consumer-clients.

use common::ServerFrame;
use integration_tests::process::{unread_in_pipe, ClientRun, RunningClient};
use integration_tests::redis::{closed_port, wait_until, Persistence, Redis};
use integration_tests::ws::{Received, WsClient};
use integration_tests::Server;
use producer_server::message::MAX_DATA_LEN;
use std::io::Write;
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A node publishing its standard input into the Redis at `url`, with `args` besides, and the
/// pipe to its standard input.
fn stdin_node(url: &str, args: &[&str]) -> (Server, ChildStdin) {
    let mut all = vec!["--redis", url, "--source", "stdin"];
    all.extend_from_slice(args);
    let mut node = Server::start_with(&all, Stdio::piped(), "127.0.0.1:0");
    let input = node.take_stdin().expect("stdin is piped");
    (node, input)
}

#[test]
fn options_that_do_not_combine_are_refused_in_one_line() {
    for args in [
        vec!["--source", "none"],
        vec!["--redis", "localhost:6379"],
        vec!["--redis", "http://127.0.0.1:6379"],
        vec!["--stream", "ticks"],
        vec!["--redis", "redis://127.0.0.1:6379", "--interval", "1s"],
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
    let (a, mut input) = stdin_node(&url, &[]);
    let b = Server::start(&["--redis", &url]);
    let on_a = RunningClient::start(&[&a.url, "--json", "--from", "1", "--count", "5"]);
    let on_b = RunningClient::start(&[&b.url, "--json", "--from", "1", "--count", "5"]);
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
        stream_length(&redis) >= 300
    });
    a.signal("KILL");
    let run = client.finish(LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        run.lines(),
        one_to(1500),
        "exactly 1..N, no gap and no repeat"
    );
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
        stream_length(&redis) >= 300
    });
    redis.signal("STOP");
    // The fault under test is a pause of this length, not a wait for something.
    std::thread::sleep(Duration::from_secs(3));
    redis.signal("CONT");
    let run = client.finish(LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.lines(), one_to(2000));
}

#[test]
fn sigterm_adds_every_line_already_read_from_stdin_before_exiting_0() {
    let Some(redis) = Redis::start("redis_nodes::sigterm_adds_every_line", Persistence::None)
    else {
        return;
    };
    let url = redis.url();
    let (mut publisher, mut input) = stdin_node(&url, &["--history", "100000"]);
    // The node reads its input only as fast as it adds it, 256 lines a round trip: when the pipe
    // is empty, it still holds its last read, 64 KiB of short lines (about ten thousand), that
    // take it dozens of round trips to add. A SIGTERM then finds them read and not yet added.
    let lines: u64 = 30_000;
    let text: String = (1..=lines).map(|n| format!("{n}\n")).collect();
    input.write_all(text.as_bytes()).unwrap();
    wait_until("the node reading all its input", LIMIT, || {
        unread_in_pipe(&input) == 0
    });
    let asked = Instant::now();
    publisher.signal("TERM");
    let status = publisher.wait_exit(Duration::from_secs(2));
    assert!(asked.elapsed() < Duration::from_secs(2));
    assert!(status.success(), "{status:?}; stderr:\n{}", publisher.log());
    let data = stream_data(&redis);
    assert_eq!(data.len() as u64, lines, "every line read is in the stream");
    assert_eq!(data, one_to(lines), "in order, once each");
    drop(input);
}

#[test]
fn sigterm_while_redis_is_down_exits_1_in_time_saying_how_many_lines_read_were_not_added() {
    let Some(redis) = Redis::start("redis_nodes::sigterm_redis_down", Persistence::None) else {
        return;
    };
    let url = redis.url();
    let (mut publisher, mut input) = stdin_node(&url, &[]);
    let write = |input: &mut ChildStdin, lines: std::ops::RangeInclusive<u64>| {
        let text: String = lines.map(|n| format!("{n}\n")).collect();
        input.write_all(text.as_bytes()).unwrap();
    };
    write(&mut input, 1..=10);
    wait_until("the first 10 lines in the stream", LIMIT, || {
        stream_length(&redis) == 10
    });
    redis.signal("KILL");
    write(&mut input, 11..=15);
    wait_until("the node reading lines 11 to 15", LIMIT, || {
        unread_in_pipe(&input) == 0
    });
    let asked = Instant::now();
    publisher.signal("TERM");
    let status = publisher.wait_exit(Duration::from_secs(2));
    assert!(asked.elapsed() < Duration::from_secs(2), "the README's 2 s");
    let log = publisher.log();
    assert_eq!(
        status.code(),
        Some(1),
        "lines were lost: {status:?}; stderr:\n{log}"
    );
    // One line names the Redis and counts the 5 lines: whatever its wording, no other line of
    // this log has both.
    let reports: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(&url) && line.split_whitespace().any(|word| word == "5"))
        .collect();
    assert_eq!(reports.len(), 1, "one line counts the lines lost:\n{log}");
    drop(input);
}

/// The `data` of every entry of the stream, in order, as `XRANGE` gives them.
fn stream_data(redis: &Redis) -> Vec<String> {
    let listed = redis.cli(&["XRANGE", "prodcon", "-", "+"]);
    let fields: Vec<&str> = listed.lines().collect();
    // Without a terminal, redis-cli prints each element on a line: id, `data`, its value,
    // `time`, its value.
    fields
        .chunks(5)
        .map(|entry| {
            assert_eq!(entry.get(1), Some(&"data"), "{entry:?}");
            entry[2].to_string()
        })
        .collect()
}

/// The stream's length in `redis`, as `XLEN` says.
fn stream_length(redis: &Redis) -> u64 {
    redis.cli(&["XLEN", "prodcon"]).trim().parse().unwrap_or(0)
}

/// The strings `1` to `n`: what a plain consumer of the counter prints, from 1.
fn one_to(n: u64) -> Vec<String> {
    (1..=n).map(|n| n.to_string()).collect()
}

#[test]
fn redis_killed_and_restarted_from_its_append_only_file_mid_stream_loses_and_repeats_nothing() {
    let Some(mut redis) = Redis::start("redis_nodes::redis_crash", Persistence::AppendOnly) else {
        return;
    };
    let url = redis.url();
    let _publisher = Server::start(&["--redis", &url, "--source", "counter", "--interval", "2ms"]);
    let a = Server::start(&["--redis", &url]);
    let b = Server::start(&["--redis", &url]);
    // No --reconnect: a dropped connection would fail the run.
    let clients =
        [&a, &b].map(|node| RunningClient::start(&[&node.url, "--from", "1", "--count", "1500"]));
    wait_until("the stream passing 300", LIMIT, || {
        stream_length(&redis) >= 300
    });
    redis.crash_and_restart();
    for client in clients {
        let run = client.finish(LIMIT);
        assert!(run.status.success(), "{run:?}");
        assert_eq!(run.lines(), one_to(1500), "exactly 1..N on every node");
    }
}

#[test]
fn the_slow_consumer_policy_holds_on_every_node() {
    let Some(redis) = Redis::start("redis_nodes::slow_consumers", Persistence::None) else {
        return;
    };
    let url = redis.url();
    let (_publisher, mut input) = stdin_node(&url, &[]);
    let node_args = ["--redis", &url, "--slow-timeout", "1s", "--queue", "16"];
    let nodes = [Server::start(&node_args), Server::start(&node_args)];
    let lines: u64 = 2000;
    let count = lines.to_string();
    // A consumer that keeps up gets everything; were it let go while the machine is busy, it
    // resumes where it was.
    let readers = nodes.each_ref().map(|node| {
        RunningClient::start(&[&node.url, "--from", "1", "--count", &count, "--reconnect"])
    });
    // One on each node never reads: were a node waiting for it, its reader would never finish.
    let mut stalled = nodes
        .each_ref()
        .map(|node| WsClient::connect(&format!("{}?from=1", node.url), &["prodcon.v1"]).unwrap());
    // 16 KiB each: far more than the stalled consumers' queues and socket buffers hold.
    let writer = std::thread::spawn(move || {
        let mut out = std::io::BufWriter::new(&mut input);
        for n in 1..=lines {
            writeln!(out, "{n} {}", "x".repeat(16 * 1024)).unwrap();
        }
        drop(out);
        input
    });
    for reader in readers {
        let run = reader.finish(LIMIT);
        assert!(run.status.success(), "{}", run.stderr);
        let numbers: Vec<u64> = run
            .lines()
            .iter()
            .map(|line| line.split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(numbers, (1..=lines).collect::<Vec<_>>(), "1..N in order");
    }
    // Each stalled one gets what reached it, in order, then Close 4000 (or its socket is gone, if
    // the close frame did not fit).
    for stalled in &mut stalled {
        let (texts, end) = stalled.until_close(LIMIT);
        let seqs: Vec<u64> = texts.iter().map(|text| seq_of(text)).collect();
        assert!(
            (seqs.len() as u64) < lines && seqs.iter().zip(1..).all(|(s, n)| *s == n),
            "a strict prefix of the stream, got {} messages",
            seqs.len()
        );
        assert!(
            matches!(end, Received::Close(Some((4000, _))) | Received::Gone(_)),
            "{end:?}"
        );
    }
    drop(writer.join().expect("the input is written"));
}

/// The sequence number of a `prodcon.v1` message frame.
fn seq_of(text: &str) -> u64 {
    match ServerFrame::decode(text) {
        Ok(ServerFrame::Message(envelope)) => envelope.seq,
        other => panic!("not an envelope: {text:?} ({other:?})"),
    }
}

#[test]
fn healthz_answers_503_while_redis_is_away_and_200_once_it_is_back() {
    let Some(redis) = Redis::start("redis_nodes::healthz", Persistence::None) else {
        return;
    };
    let url = redis.url();
    let _publisher = Server::start(&["--redis", &url, "--source", "counter", "--interval", "10ms"]);
    let node = Server::start(&["--redis", &url, "--metrics", "127.0.0.1:0"]);
    let metrics = node.metrics.expect("the node printed its metrics address");
    let health = || {
        let answer = integration_tests::http::exchange(
            metrics,
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            LIMIT,
        );
        answer.split(' ').nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(health(), "200");
    // A stopped Redis keeps its sockets open: the node finds it away once a request goes
    // unanswered, and says so to the load balancer.
    redis.signal("STOP");
    wait_until("/healthz saying 503", LIMIT, || health() == "503");
    redis.signal("CONT");
    wait_until("/healthz saying 200 again", LIMIT, || health() == "200");
}

#[test]
fn entries_too_long_to_serve_are_skipped_and_every_other_reaches_live_and_resuming_consumers() {
    let Some(redis) = Redis::start("redis_nodes::too_long", Persistence::None) else {
        return;
    };
    let node = Server::start(&["--redis", &redis.url()]);
    let live = [
        RunningClient::start(&[&node.url, "--json", "--from", "1", "--count", "5"]),
        RunningClient::start(&[&node.url, "--from", "1", "--count", "5"]),
    ];
    redis.xadd("prodcon", &[("data", b"before")]);
    // Once both have it they have joined: every entry after it reaches them live.
    for client in &live {
        client.wait_for_lines(1, LIMIT);
    }
    let longest = "\u{1}".repeat(MAX_DATA_LEN);
    let entries: [&[u8]; 4] = [
        // Over what a connection's writer takes, plain or not.
        &vec![b'H'; 20 << 20],
        // Over the limit, and 18 MiB once escaped under prodcon.v1: more than a client takes.
        &vec![1; 3 << 20],
        // The longest served: 6 MiB escaped.
        longest.as_bytes(),
        &vec![b'x'; MAX_DATA_LEN + 1],
    ];
    for data in entries {
        redis.xadd("prodcon", &[("data", data)]);
    }
    for n in 1..=3 {
        redis.xadd("prodcon", &[("data", format!("after{n}").as_bytes())]);
    }
    // consumer-client prints data of control characters escaped, one line; --json keeps it whole.
    let longest_printed = common::escaped(&longest).to_string();
    let brief = |data: &str| {
        if data == longest || data == longest_printed {
            "the longest".to_string()
        } else if data.len() > 64 {
            format!("{} other bytes", data.len())
        } else {
            data.to_string()
        }
    };
    let served = [
        "1:before",
        "4:the longest",
        "6:after1",
        "7:after2",
        "8:after3",
    ];
    let [json, plain] = live.map(|client| client.finish(LIMIT));
    assert!(json.status.success(), "{}", json.stderr);
    assert_eq!(messages(&json, brief), served);
    assert!(plain.status.success(), "{}", plain.stderr);
    let plain: Vec<String> = plain.lines().into_iter().map(brief).collect();
    assert_eq!(plain, served.map(|m| m.split_once(':').unwrap().1));
    // Missing from the sequence, as the README says of entries that cannot be served.
    for skipped in ["2-3: skipped by the server", "5: skipped by the server"] {
        assert!(json.stderr.contains(skipped), "{}", json.stderr);
    }

    // Replayed from Redis: past them too, with --reconnect (which would retry forever at an
    // entry that ended its connection).
    for (from, expected) in [("1", &served[..]), ("2", &served[1..])] {
        let count = expected.len().to_string();
        let resumed = RunningClient::start(&[
            &node.url,
            "--json",
            "--reconnect",
            "--from",
            from,
            "--count",
            &count,
        ])
        .finish(LIMIT);
        assert!(resumed.status.success(), "{}", resumed.stderr);
        assert_eq!(messages(&resumed, brief), expected, "from {from}");
        assert!(
            !resumed.stderr.contains("no longer in the server's history"),
            "nothing was trimmed: {}",
            resumed.stderr
        );
    }
    let log = node.log();
    assert!(
        log.contains("entry 0-2 has 20971520 bytes of data"),
        "the first one skipped is named: {log}"
    );
    assert!(!log.contains("write failed"), "{log}");
}

/// `seq:data` for each `prodcon.v1` message a consumer printed, its data told by `brief`.
fn messages(run: &ClientRun, brief: impl Fn(&str) -> String) -> Vec<String> {
    run.lines()
        .into_iter()
        .map(|line| match ServerFrame::decode(line) {
            Ok(ServerFrame::Message(envelope)) => {
                format!("{}:{}", envelope.seq, brief(&envelope.data))
            }
            other => panic!("not a message: {other:?}"),
        })
        .collect()
}
