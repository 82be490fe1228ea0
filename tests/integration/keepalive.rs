use integration_tests::binaries::binary;
use integration_tests::process::RunningClient;
use integration_tests::raw;
use integration_tests::ws::WsClient;
use integration_tests::Server;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn a_peer_that_stops_answering_pings_is_dropped() {
    let server = Server::start(&[
        "--interval",
        "1h",
        "--ping-interval",
        "200ms",
        "--max-connections",
        "1",
    ]);
    // A raw socket reads the pings but, unlike a WebSocket library, never answers them.
    let mut silent = raw::handshake(server.addr);
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    let dropped = loop {
        match silent.read(&mut buffer) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false
            }
            Err(_) => break true,
        }
    };
    let after = started.elapsed();
    assert!(dropped, "still connected after {after:?}");
    // Two ping intervals, and some slack for a busy machine.
    assert!(
        after < Duration::from_secs(5),
        "dropped only after {after:?}"
    );
    // Its connection slot is free again: the only one there is.
    let deadline = Instant::now() + LIMIT;
    while let Err(error) = WsClient::connect(&server.url, &[]) {
        assert!(Instant::now() < deadline, "the slot stays taken: {error}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_consumer_that_reads_answers_pings_and_stays() {
    // Each message comes seven ping intervals after the one before: a client that did not
    // answer pings would be dropped, and consumer-client would exit 1, before the third.
    let server = Server::start(&["--interval", "1500ms", "--ping-interval", "200ms"]);
    let run = integration_tests::run_client(&[&server.url, "--count", "3"], LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.lines(), ["1", "2", "3"]);
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

/// Pipe capacity of the client's output: the smallest Linux gives, so that a few hundred lines
/// fill it.
const SMALL_PIPE: libc::c_int = 4096;

#[test]
fn a_reader_that_stops_reading_the_output_is_not_taken_for_a_silent_server() {
    // A message every 5 ms, as JSON lines of some 60 bytes: the pipe fills within a second, and
    // the client then waits on its output, not on the server, which goes on sending.
    let server = Server::start(&["--interval", "5ms"]);
    let count = 600;
    let mut client = Command::new(binary("consumer-client"))
        .args([
            server.url.as_str(),
            "--json",
            "--count",
            &count.to_string(),
            "--silence-timeout",
            "1s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("consumer-client starts");
    let stdout = client.stdout.take().expect("stdout is piped");
    // SAFETY: fcntl on a descriptor this process owns, with an integer argument.
    let resized = unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, SMALL_PIPE) };
    assert!(resized >= SMALL_PIPE, "F_SETPIPE_SZ failed");
    // The reader looks away for three times the silence limit, as a terminal held by Ctrl-S or
    // a pager does: this pause is what the test is about, not a wait for something to happen.
    std::thread::sleep(Duration::from_secs(3));
    let seqs: Vec<u64> = BufReader::new(stdout)
        .lines()
        .map(|line| {
            let line = line.unwrap();
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            value["seq"].as_u64().unwrap()
        })
        .collect();
    let status = harness::process::wait_for(&mut client, LIMIT);
    let mut stderr = String::new();
    let _ = client.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(
        seqs.iter().copied().eq(1..=count),
        "every message once, in order: got {} lines, the last {:?}; stderr: {stderr}",
        seqs.len(),
        seqs.last()
    );
    assert!(
        status.is_some_and(|status| status.success()),
        "{status:?}; stderr: {stderr}"
    );
}
