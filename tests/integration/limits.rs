use integration_tests::proc_stats::{open_fds, resident_kib};
use integration_tests::raw::{self, FrameSpec};
use integration_tests::ws::WsClient;
use integration_tests::{run_client, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn slow_handshakes_are_dropped_and_do_not_delay_other_clients() {
    let server = Server::start(&["--interval", "10ms", "--handshake-timeout", "2s"]);
    let fds_before = open_fds(server.pid());
    // 500 connections that each send one byte of a request a second.
    let mut trickling: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let (first_round, trickling_started) = std::sync::mpsc::channel();
    let trickle = thread::spawn(move || {
        for byte in b"GET / HT".iter().take(4) {
            for stream in &mut trickling {
                let _ = stream.write_all(&[*byte]);
            }
            let _ = first_round.send(());
            thread::sleep(Duration::from_secs(1));
        }
        trickling
    });
    trickling_started.recv_timeout(LIMIT).unwrap();
    let started = Instant::now();
    let run = run_client(&[&server.url, "--count", "3"], Duration::from_secs(5));
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.lines(), ["1", "2", "3"]);
    let served_in = started.elapsed();
    let trickling = trickle.join().unwrap();
    // Each slow handshake is dropped: its socket reads the end, with no answer before it.
    let deadline = Instant::now() + LIMIT;
    for mut stream in trickling {
        let left = deadline.saturating_duration_since(Instant::now());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut [0u8; 64]) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("a slow handshake was not dropped: {other:?}"),
        }
    }
    // And the server holds none of them any more.
    wait_for_fds(&server, fds_before);
    eprintln!("a new client was served in {served_in:?} beside 500 slow handshakes");
}

/// Waits until the server holds no more descriptors than `baseline` (plus a few for the runtime).
fn wait_for_fds(server: &Server, baseline: usize) -> usize {
    let deadline = Instant::now() + LIMIT;
    loop {
        let now = open_fds(server.pid());
        if now <= baseline + 4 {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "open descriptors stayed at {now}, from {baseline}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn past_the_connection_limit_handshakes_get_503_until_a_slot_frees() {
    let server = Server::start(&["--interval", "10ms", "--max-connections", "2"]);
    let first = WsClient::connect(&server.url, &[]).unwrap();
    // A slot is taken before the handshake's answer: both are counted once connected.
    let _second = WsClient::connect(&server.url, &[]).unwrap();
    let mut refused = TcpStream::connect(server.addr).unwrap();
    refused.write_all(raw::UPGRADE_REQUEST.as_bytes()).unwrap();
    let mut answer = String::new();
    refused.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("limit of 2 connections"), "{answer}");
    let run = run_client(&[&server.url, "--count", "1"], LIMIT);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    drop(first);
    // The slot frees once the server has seen the close: 503 until then, then served.
    let deadline = Instant::now() + LIMIT;
    loop {
        let run = run_client(&[&server.url, "--count", "2"], LIMIT);
        if run.status.success() {
            assert_eq!(run.lines(), ["1", "2"]);
            break;
        }
        assert!(run.stderr.contains("503"), "{run:?}");
        assert!(
            Instant::now() < deadline,
            "the freed slot is never used again"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `frames` after a good handshake and returns the close code the server answers with.
fn close_code_after(server: &Server, frames: &[Vec<u8>]) -> Option<u16> {
    let mut stream = raw::handshake(server.addr);
    for frame in frames {
        stream.write_all(frame).unwrap();
    }
    raw::close_code(&mut stream)
}

#[test]
fn bad_frames_get_the_close_code_rfc_6455_gives_them() {
    let server = Server::start(&["--interval", "10ms", "--max-message-size", "4096"]);
    let mut bystander = WsClient::connect(&server.url, &[]).unwrap();
    let text = FrameSpec::client(1);
    let cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        (
            "message over the limit",
            vec![text.encode(&[b'x'; 5000])],
            1009,
        ),
        (
            "fragments adding up over the limit",
            vec![
                FrameSpec { fin: false, ..text }.encode(&[b'x'; 3000]),
                FrameSpec { opcode: 0, ..text }.encode(&[b'x'; 3000]),
            ],
            1009,
        ),
        (
            "unmasked client frame",
            vec![FrameSpec {
                masked: false,
                ..text
            }
            .encode(b"hi")],
            1002,
        ),
        (
            "reserved bits set",
            vec![FrameSpec { rsv: 4, ..text }.encode(b"hi")],
            1002,
        ),
        (
            "unknown opcode",
            vec![FrameSpec::client(3).encode(b"hi")],
            1002,
        ),
        (
            "fragmented control frame",
            vec![FrameSpec {
                fin: false,
                ..FrameSpec::client(9)
            }
            .encode(b"ping")],
            1002,
        ),
        (
            "invalid UTF-8 text",
            vec![text.encode(&[0xff, 0xfe, 0x80])],
            1007,
        ),
    ];
    for (what, frames, code) in cases {
        assert_eq!(close_code_after(&server, &frames), Some(code), "{what}");
    }
    // A small data message is ignored: the connection stays and the stream goes on.
    let mut polite = raw::handshake(server.addr);
    polite.write_all(&text.encode(b"hello")).unwrap();
    polite
        .write_all(&FrameSpec::client(8).encode(&1000u16.to_be_bytes()))
        .unwrap();
    assert_eq!(raw::close_code(&mut polite), Some(1000));
    // Other clients are unaffected: the stream goes on, in order.
    let numbers: Vec<u64> = bystander
        .texts(3, LIMIT)
        .iter()
        .map(|text| text.parse().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{numbers:?}"
    );
}

#[test]
fn ten_thousand_abrupt_connections_leave_nothing_behind() {
    let server = Server::start(&["--interval", "1ms"]);
    let pid = server.pid();
    let churn = |total: usize| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let addr = server.addr;
                thread::spawn(move || {
                    for n in (worker..total).step_by(4) {
                        let Ok(mut stream) = TcpStream::connect(addr) else {
                            continue;
                        };
                        match n % 4 {
                            // Gone before saying anything.
                            0 => {}
                            // Gone mid-handshake.
                            1 => {
                                let _ = stream.write_all(&raw::UPGRADE_REQUEST.as_bytes()[..30]);
                            }
                            // Gone mid-stream, without a close frame.
                            2 => {
                                let _ = stream.write_all(raw::UPGRADE_REQUEST.as_bytes());
                                let _ = stream.read(&mut [0u8; 512]);
                            }
                            // Gone politely, with a close frame.
                            _ => {
                                let _ = stream.write_all(raw::UPGRADE_REQUEST.as_bytes());
                                let _ = stream.read(&mut [0u8; 512]);
                                let close = FrameSpec::client(8).encode(&1000u16.to_be_bytes());
                                let _ = stream.write_all(&close);
                            }
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
    };
    // Warm up first, so that the runtime's threads and the allocator's pools are in place.
    churn(400);
    let fds_before = wait_for_fds(&server, open_fds(pid).min(16));
    let rss_before = resident_kib(pid);
    churn(10_000);
    let fds_after = wait_for_fds(&server, fds_before);
    let rss_after = resident_kib(pid);
    eprintln!(
        "10,000 abrupt connections: open descriptors {fds_before} -> {fds_after}, resident memory {rss_before} KiB -> {rss_after} KiB"
    );
    assert!(
        rss_after < rss_before + 16 * 1024,
        "resident memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    // The server still serves.
    let run = run_client(&[&server.url, "--count", "3"], LIMIT);
    assert!(run.status.success(), "{run:?}");
}

#[test]
fn a_tiny_message_limit_still_lets_control_frames_through() {
    let server = Server::start(&["--interval", "10ms", "--max-message-size", "8"]);
    let mut stream = raw::handshake(server.addr);
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"a reason longer than 8 bytes");
    stream
        .write_all(&FrameSpec::client(8).encode(&close))
        .unwrap();
    assert_eq!(raw::close_code(&mut stream), Some(1000));
    let mut stream = raw::handshake(server.addr);
    let text = FrameSpec::client(1).encode(b"nine byte");
    stream.write_all(&text).unwrap();
    assert_eq!(raw::close_code(&mut stream), Some(1009));
}
