//! producer-server facing peers that attack it: each attack runs as raw sockets against the
//! built server, and each test measures what a user would see (resident memory, descriptors, the
//! time a fresh client waits, the lines written to the log).

use integration_tests::proc_stats::{open_fds, resident_kib};
use integration_tests::process::RunningClient;
use integration_tests::raw::{self, FrameSpec};
use integration_tests::{run_client, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

/// The status line of the server's answer to `request`, sent in one write.
fn status_of(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.write_all(request).unwrap();
    let head = raw::read_head(&mut stream);
    head.lines().next().unwrap_or_default().to_string()
}

/// An upgrade request for `target`, with `extra` header lines (each ending in CRLF).
fn upgrade_request(target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// An upgrade request whose head is exactly `len` bytes, padded with a header.
fn upgrade_of_len(len: usize) -> String {
    let bare = upgrade_request("/", "X-Pad: \r\n").len();
    let padded = upgrade_request("/", &format!("X-Pad: {}\r\n", "p".repeat(len - bare)));
    assert_eq!(padded.len(), len);
    padded
}

#[test]
fn the_head_limit_is_exact_whatever_the_write_pattern() {
    let server = Server::start(&[]);
    assert!(status_of(server.addr, upgrade_of_len(16 * 1024).as_bytes()).contains(" 101 "));
    for len in [16 * 1024 + 1, 17 * 1024, 64 * 1024] {
        let status = status_of(server.addr, upgrade_of_len(len).as_bytes());
        assert!(
            status.contains(" 400 "),
            "{len} bytes in one write: {status}"
        );
    }
    // The same head, a few bytes a write.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    for piece in upgrade_of_len(17 * 1024).as_bytes().chunks(700) {
        if stream.write_all(piece).is_err() {
            break;
        }
    }
    assert!(raw::read_head(&mut stream).contains(" 400 "));
}

#[test]
fn malformed_and_pipelined_upgrades_get_400_with_the_reason() {
    let server = Server::start(&[]);
    let good = upgrade_request("/", "");
    let cases = [
        good.replace("dGhlIHNhbXBsZSBub25jZQ==", "hello"),
        good.replace("dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAAAA"),
        good.replace("Sec-WebSocket-Version: 13\r\n", ""),
        good.replace("Version: 13", "Version: 8"),
        good.replace("Sec-WebSocket-Key", "X-Key"),
        good.replace("Connection: Upgrade", "Connection: keep-alive"),
        good.replace("HTTP/1.1", "HTTP/1.0"),
        good.replace("GET", "POST"),
        format!("{good}{good}"),
        format!("{good}\u{81}\u{85}abcd12345"),
    ];
    for request in cases {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 400 "),
            "{request:?}: {answer:?}"
        );
        let reason = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        assert!(
            reason.trim().len() > 10,
            "{request:?}: no reason in {answer:?}"
        );
    }
    // The server still upgrades a good request.
    assert!(status_of(server.addr, good.as_bytes()).contains(" 101 "));
}

#[test]
fn upgrades_are_served_on_the_root_only() {
    let server = Server::start(&[]);
    for target in ["*", "/x", "/..", "/index.html", "//"] {
        let status = status_of(server.addr, upgrade_request(target, "").as_bytes());
        assert!(status.contains(" 404 "), "{target}: {status}");
    }
    for target in ["/", "/?from=3"] {
        let status = status_of(server.addr, upgrade_request(target, "").as_bytes());
        assert!(status.contains(" 101 "), "{target}: {status}");
    }
}

/// The lines of `log` about the connection from local port `port`.
fn lines_of_port(log: &str, port: u16) -> usize {
    let peer = format!("127.0.0.1:{port}:");
    log.lines().filter(|line| line.contains(&peer)).count()
}

#[test]
fn nothing_a_peer_sends_reaches_the_log_raw() {
    let server = Server::start(&["--interval", "10ms"]);
    let nasty = "\x1b[2J\r\nforged line\x07\u{2028}\u{2029}\u{200f}\u{61c}\u{202e}";
    let mut ports = Vec::new();
    // A close reason.
    let mut ws = raw::handshake(server.addr);
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(nasty.as_bytes());
    ws.write_all(&FrameSpec::client(8).encode(&close)).unwrap();
    assert_eq!(raw::close_code(&mut ws), Some(1000));
    let ws_port = ws.local_addr().unwrap().port();
    // A request target, an Origin, a Host, a bad upgrade: each one refused.
    let requests = [
        format!("GET /{nasty} HTTP/1.1\r\nHost: x\r\n\r\n"),
        upgrade_request("/", "Origin: http://e\x1bvil\r\n"),
        upgrade_request("/", "Origin: http://evil.example\x1b[31m\r\n"),
        upgrade_request("/x\x1b", ""),
        upgrade_request("/", "").replace("Host: 127.0.0.1", "Host: h\x1b[2J"),
        upgrade_request("/", "").replace("dGhlIHNhbXBsZSBub25jZQ==", "\x1b[2J"),
        "\x16\x03\x01\x1b[2J\r\n\r\n".to_string(),
    ];
    for request in &requests {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        ports.push(stream.local_addr().unwrap().port());
        stream.write_all(request.as_bytes()).unwrap();
        let _ = stream.read_to_end(&mut Vec::new());
    }
    // Every event is logged (the WebSocket's two: opened, closed), each in one line.
    let deadline = Instant::now() + LIMIT;
    while lines_of_port(&server.log(), ws_port) < 2
        || ports.iter().any(|&p| lines_of_port(&server.log(), p) < 1)
    {
        assert!(Instant::now() < deadline, "{}", server.log());
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(200));
    let log = server.log();
    assert_eq!(lines_of_port(&log, ws_port), 2, "{log}");
    for port in ports {
        assert_eq!(lines_of_port(&log, port), 1, "{log}");
    }
    let raw_control = log
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || breaks_or_reorders_a_line(c))
        .count();
    assert_eq!(raw_control, 0, "{log:?}");
}

/// Line and paragraph separators, and the format characters a peer sent above.
fn breaks_or_reorders_a_line(c: char) -> bool {
    matches!(
        c,
        '\u{2028}' | '\u{2029}' | '\u{200f}' | '\u{61c}' | '\u{202e}'
    )
}

#[test]
fn a_bad_from_is_escaped_once_in_the_log() {
    let server = Server::start(&[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let port = stream.local_addr().unwrap().port();
    let request = upgrade_request("/?from=%1b%5b2J%E2%80%A8%5c", "");
    stream.write_all(request.as_bytes()).unwrap();
    assert!(raw::read_head(&mut stream).contains(" 400 "));
    let deadline = Instant::now() + LIMIT;
    while lines_of_port(&server.log(), port) < 1 {
        assert!(Instant::now() < deadline, "{}", server.log());
        thread::sleep(Duration::from_millis(20));
    }
    let log = server.log();
    assert!(log.contains(r"\u{1b}[2J\u{2028}\\"), "{log}");
    assert!(!log.contains(r"\\u{"), "escaped twice: {log}");
}

/// A masked ping carrying 125 bytes, the most a control frame holds.
fn big_ping() -> Vec<u8> {
    FrameSpec::client(9).encode(&[b'p'; 125])
}

#[test]
fn a_peer_that_floods_pings_and_never_reads_is_dropped_within_a_mebibyte() {
    let server = Server::start(&["--broadcast", "--interval", "0"]);
    let pid = server.pid();
    // Fill the history first, so that it does not count as the attack's memory.
    let run = run_client(&[&server.url, "--count", "12000"], LIMIT);
    assert!(run.status.success(), "{run:?}");
    thread::sleep(Duration::from_millis(300));
    let before = resident_kib(pid);
    let mut attacker = raw::handshake(server.addr);
    attacker
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let burst: Vec<u8> = (0..64).flat_map(|_| big_ping()).collect();
    let started = Instant::now();
    let mut peak = before;
    let mut sent = 0u64;
    let dropped = loop {
        if attacker.write_all(&burst).is_err() {
            break true;
        }
        sent += 64;
        peak = peak.max(resident_kib(pid));
        if started.elapsed() > LIMIT || sent > 2_000_000 {
            break false;
        }
    };
    let after = resident_kib(pid);
    eprintln!(
        "{sent} pings of 125 bytes in {:?}, never reading: server memory {before} KiB, peak {peak} KiB, then {after} KiB",
        started.elapsed()
    );
    assert!(dropped, "the connection was not dropped after {sent} pings");
    assert!(
        peak <= before + 1024,
        "server memory grew from {before} KiB to {peak} KiB"
    );
    // Others are still served.
    let run = run_client(&[&server.url, "--count", "3"], LIMIT);
    assert!(run.status.success(), "{run:?}");
}

/// The default `--max-pending` for the server's limit of open files, as `pending.rs` computes it.
fn default_max_pending(pid: u32) -> usize {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let soft: usize = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(1024);
    (soft / 4).clamp(16, 4096)
}

/// Times a fresh client's handshake, from connect to the 101.
fn fresh_handshake(addr: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(raw::UPGRADE_REQUEST.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let head = raw::read_head(&mut stream);
    if !head.starts_with("HTTP/1.1 101") {
        return Err(format!("no upgrade: {head:?}"));
    }
    Ok(started.elapsed())
}

#[test]
fn idle_connections_reopened_as_fast_as_dropped_do_not_keep_a_fresh_client_out() {
    const IDLE: usize = 5000;
    // The attack needs as many descriptors here as the server has connections.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let server = Server::start(&[]);
    let pid = server.pid();
    let bound = default_max_pending(pid);
    let fds_before = open_fds(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicUsize::new(0));
    let reopened = Arc::new(AtomicUsize::new(0));
    let attack_deadline = Instant::now() + Duration::from_secs(60);
    let addr = server.addr;
    // Each task keeps one idle connection open, and opens another as soon as the server
    // drops it, until told to stop (or, whatever happens, after a minute).
    let attackers: Vec<_> = (0..IDLE)
        .map(|_| {
            let (stop, open, reopened) = (stop.clone(), open.clone(), reopened.clone());
            async_std::task::spawn(async move {
                use async_std::io::ReadExt;
                let mut first = true;
                while !stop.load(Ordering::Relaxed) && Instant::now() < attack_deadline {
                    let Ok(mut stream) = async_std::net::TcpStream::connect(addr).await else {
                        async_std::task::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    if first {
                        open.fetch_add(1, Ordering::Relaxed);
                        first = false;
                    } else {
                        reopened.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut byte = [0u8; 1];
                    let read = stream.read(&mut byte);
                    let _ = async_std::future::timeout(Duration::from_millis(500), read).await;
                }
            })
        })
        .collect();
    let deadline = Instant::now() + LIMIT;
    while open.load(Ordering::Relaxed) < IDLE {
        assert!(
            Instant::now() < deadline,
            "the idle connections did not all open"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let mut waits = Vec::new();
    let mut most_fds = 0;
    // Five tries spread over more than --handshake-timeout (10 s), so that the connections the
    // server would otherwise drop all at once are part of the attack too.
    for _ in 0..5 {
        thread::sleep(Duration::from_millis(2200));
        most_fds = most_fds.max(open_fds(pid));
        waits.push(fresh_handshake(server.addr));
    }
    stop.store(true, Ordering::Relaxed);
    let reopens = reopened.load(Ordering::Relaxed);
    async_std::task::block_on(async {
        for attacker in attackers {
            attacker.await;
        }
    });
    eprintln!(
        "{IDLE} idle connections, {reopens} reopened after being dropped; at most {most_fds} descriptors in the server (--max-pending {bound}); fresh handshakes: {waits:?}"
    );
    for wait in &waits {
        match wait {
            Ok(wait) => assert!(*wait < Duration::from_secs(1), "{waits:?}"),
            Err(error) => panic!("a fresh client failed: {error}; {waits:?}"),
        }
    }
    assert!(
        most_fds <= fds_before + bound + 256 + 16,
        "{most_fds} descriptors for a bound of {bound}"
    );
}

#[test]
fn churn_from_one_peer_cannot_flood_the_log() {
    let server = Server::start(&[]);
    let churn_for = Duration::from_secs(12);
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (addr, refused) = (server.addr, refused.clone());
            thread::spawn(move || {
                let request = upgrade_request("/nowhere", "");
                for _ in 0..200_000 {
                    if started.elapsed() > churn_for {
                        break;
                    }
                    if status_of(addr, request.as_bytes()).contains(" 404 ") {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let refused = refused.load(Ordering::Relaxed);
    let (shown, summarised) = wait_until_counted(&server, refused);
    let lines = server.log().lines().count();
    eprintln!(
        "{refused} refusals in {churn_for:?}: {lines} log lines ({shown} of connections, the others summarised)"
    );
    assert!(refused > 1000, "the churn was too slow to test anything");
    assert_eq!(shown + summarised, refused, "every refusal is counted");
    assert!(lines <= 150, "{lines} lines for {churn_for:?} of churn");
}

#[test]
fn churn_asking_from_beyond_history_or_ahead_cannot_flood_the_log() {
    let server = Server::start(&[
        "--broadcast",
        "--interval",
        "1ms",
        "--history",
        "10",
        "--slow-timeout",
        "60s",
    ]);
    // Twenty live messages: the first of them is no longer in a history of 10.
    let run = run_client(&[&server.url, "--count", "20"], LIMIT);
    assert!(run.status.success(), "{run:?}");
    let churn_for = Duration::from_secs(12);
    let started = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let addr = server.addr;
            thread::spawn(move || {
                let mut served = 0;
                while started.elapsed() < churn_for {
                    join_from_beyond_history(addr);
                    join_ahead_of_the_stream(addr);
                    served += 2;
                }
                served
            })
        })
        .collect();
    let served: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    // Each churned connection: connected, beyond history or ahead, disconnected; and the
    // client's two lines. At least: history moving on during a replay is a second loss to tell.
    let events = 3 * served + 2;
    let (shown, summarised) = wait_until_counted(&server, events);
    let lines = server.log().lines().count();
    eprintln!(
        "{served} connections in {churn_for:?}, at least {events} events: {lines} log lines ({shown} of connections, {summarised} summarised)"
    );
    assert!(served > 300, "the churn was too slow to test anything");
    assert!(lines <= 150, "{lines} lines for {churn_for:?} of churn");
}

/// A consumer asking from 1, which history lost: the loss is logged before the first message
/// it gets is sent.
fn join_from_beyond_history(addr: SocketAddr) {
    let mut ws = upgraded(addr, "/?from=1");
    let frame = raw::next_frame(&mut ws);
    assert!(matches!(frame, Some((1, _))), "a message, not {frame:?}");
}

/// A consumer asking from the last sequence number there can be: once its ping is answered, its
/// session runs, so the hub has taken its join.
fn join_ahead_of_the_stream(addr: SocketAddr) {
    let mut ws = upgraded(addr, "/?from=9007199254740991");
    ws.write_all(&FrameSpec::client(9).encode(b"p")).unwrap();
    let frame = raw::next_frame(&mut ws);
    assert!(matches!(frame, Some((10, _))), "a pong, not {frame:?}");
}

/// A WebSocket to `target`, its 101 read.
fn upgraded(addr: SocketAddr, target: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream
        .write_all(upgrade_request(target, "").as_bytes())
        .unwrap();
    let head = raw::read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{target}: {head}");
    stream
}

/// Waits until the log shows or summarises `events` lines of 127.0.0.1 (a window's summary may
/// come from its timer, after the churn); how many it shows, and how many it summarises.
fn wait_until_counted(server: &Server, events: usize) -> (usize, usize) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let (shown, summarised) = connection_lines(&server.log());
        if shown + summarised >= events {
            return (shown, summarised);
        }
        assert!(
            Instant::now() < deadline,
            "{events} events, {shown} lines and {summarised} summarised:\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The lines of `log` about one connection of 127.0.0.1, and those its summaries left out.
fn connection_lines(log: &str) -> (usize, usize) {
    let shown = log.lines().filter(|l| names_a_connection(l)).count();
    let summarised = log
        .lines()
        .filter(|l| l.contains(" 127.0.0.1: "))
        .filter_map(|l| l.rsplit_once('(').map(|(_, counts)| counts))
        .flat_map(|counts| counts.split(|c: char| !c.is_ascii_digit()))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    (shown, summarised)
}

/// Whether a log line is about one connection: it names the peer with its port. (A summary
/// line names the address alone.)
fn names_a_connection(line: &str) -> bool {
    line.split("127.0.0.1:")
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// A peer that begins a message and never ends it: empty continuation frames as fast as the
/// socket takes them (nothing grows, no limit trips), reading all it is sent so that it is no
/// deaf peer. Runs until `stop`; counts the bytes it sent.
fn flood_empty_fragments(addr: SocketAddr, stop: Arc<AtomicBool>, sent: Arc<AtomicUsize>) {
    let mut stream = raw::handshake(addr);
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = stream.try_clone().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    let begun = FrameSpec {
        fin: false,
        ..FrameSpec::client(1)
    };
    let continued = FrameSpec {
        fin: false,
        ..FrameSpec::client(0)
    };
    let flood = continued.encode(b"").repeat(50_000);
    let started = Instant::now();
    if stream.write_all(&begun.encode(b"x")).is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) && started.elapsed() < LIMIT {
        if stream.write_all(&flood).is_err() {
            return;
        }
        sent.fetch_add(flood.len(), Ordering::Relaxed);
    }
}

#[test]
fn peers_flooding_empty_fragments_stop_neither_the_stream_nor_the_shutdown() {
    let mut server = Server::start(&["--broadcast", "--interval", "20ms"]);
    let consumer = RunningClient::start(&[&server.url]);
    consumer.wait_for_lines(5, LIMIT);
    // One flooding peer per executor thread (one per core): each could hold a thread.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let attackers: Vec<_> = (0..2)
        .map(|_| {
            let (addr, stop, sent) = (server.addr, Arc::clone(&stop), Arc::clone(&sent));
            thread::spawn(move || flood_empty_fragments(addr, stop, sent))
        })
        .collect();
    let deadline = Instant::now() + LIMIT;
    while sent.load(Ordering::Relaxed) < 20 << 20 {
        assert!(Instant::now() < deadline, "the attack did not get going");
        thread::sleep(Duration::from_millis(5));
    }
    // 50 messages take a second at 20 ms; the attack goes on meanwhile.
    consumer.wait_for_lines(consumer.lines_so_far() + 50, Duration::from_secs(10));
    let during = sent.load(Ordering::Relaxed);
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.join().unwrap();
    }
    eprintln!("the attackers had sent {during} bytes of empty fragments");
    assert!(status.success(), "{status:?}");
}
