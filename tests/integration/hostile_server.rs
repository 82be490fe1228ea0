//! consumer-client facing servers that misbehave: it exits with one clear line, never panics,
//! never hangs, never lets the server grow its memory or write to the terminal.

use integration_tests::binaries::binary;
use integration_tests::process::RunningClient;
use integration_tests::raw::{self, FrameSpec};
use integration_tests::{proc_stats, run_client, ClientRun};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

/// A server on 127.0.0.1 that runs `script` on each of its first few connections.
fn scripted_server(script: fn(TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming().take(4).flatten() {
            thread::spawn(move || script(stream));
        }
    });
    url
}

/// Reads the client's upgrade request and accepts it, choosing `prodcon.v1`.
fn accept_upgrade(stream: &mut TcpStream) {
    raw::answer_upgrade(stream, "Sec-WebSocket-Protocol: prodcon.v1\r\n");
}

/// Keeps `stream` open (and silent) long enough for any client timeout in these tests.
fn hold(stream: TcpStream) {
    thread::sleep(Duration::from_secs(15));
    drop(stream);
}

/// Runs consumer-client against a server running `script`, and checks it fails in one line that
/// names the URL and contains `cause`.
fn fails_with(script: fn(TcpStream), extra: &[&str], cause: &str) {
    let url = scripted_server(script);
    // Built before the clock starts: the first test of a process builds the binaries, which
    // takes longer than the client is given.
    binary("consumer-client");
    let started = Instant::now();
    let mut args = vec![url.as_str()];
    args.extend_from_slice(extra);
    let run = run_client(&args, LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains(&url) && lines[0].contains(cause),
        "{}",
        lines[0]
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn garbage_instead_of_a_handshake() {
    fails_with(
        |mut stream| {
            raw::read_head(&mut stream);
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n");
            hold(stream);
        },
        &[],
        "handshake failed",
    );
}

#[test]
fn no_answer_to_the_handshake() {
    fails_with(
        hold,
        &["--silence-timeout", "500ms"],
        "no answer to the WebSocket handshake",
    );
}

#[test]
fn invalid_json_under_prodcon_v1() {
    fails_with(
        |mut stream| {
            accept_upgrade(&mut stream);
            let frame = FrameSpec {
                masked: false,
                ..FrameSpec::client(1)
            }
            .encode(b"{\"seq\":");
            let _ = stream.write_all(&frame);
            hold(stream);
        },
        &[],
        "invalid frame",
    );
}

#[test]
fn a_frame_announcing_a_terabyte() {
    fails_with(
        |mut stream| {
            accept_upgrade(&mut stream);
            let mut header = vec![0x81, 127];
            header.extend_from_slice(&(1u64 << 40).to_be_bytes());
            let _ = stream.write_all(&header);
            hold(stream);
        },
        &[],
        "too long",
    );
}

#[test]
fn a_server_stalled_mid_frame() {
    fails_with(
        |mut stream| {
            accept_upgrade(&mut stream);
            let _ = stream.write_all(&[0x81, 100, b'{', b'"']);
            hold(stream);
        },
        &["--silence-timeout", "500ms"],
        "went silent",
    );
}

/// A message begun and never ended: empty continuation frames, as fast as the socket takes them.
/// No message ever comes, nothing grows, and the client is never short of bytes to read.
#[test]
fn a_server_flooding_empty_fragments() {
    fails_with(
        |mut stream| {
            accept_upgrade(&mut stream);
            let _ = stream.write_all(
                &FrameSpec {
                    fin: false,
                    ..FrameSpec::server(1)
                }
                .encode(b"x"),
            );
            let continuation = FrameSpec {
                fin: false,
                ..FrameSpec::server(0)
            }
            .encode(b"");
            let flood = continuation.repeat(50_000);
            let started = Instant::now();
            while started.elapsed() < LIMIT && stream.write_all(&flood).is_ok() {}
        },
        &["--silence-timeout", "1s"],
        "went silent",
    );
}

#[test]
fn a_binary_frame() {
    fails_with(
        |mut stream| {
            accept_upgrade(&mut stream);
            let frame = FrameSpec {
                masked: false,
                ..FrameSpec::client(2)
            }
            .encode(&[0, 1, 2]);
            let _ = stream.write_all(&frame);
            hold(stream);
        },
        &[],
        "binary frame",
    );
}

/// Runs consumer-client against a server running `script`, with a silence timeout far beyond
/// the test's limit, and checks it fails by itself with exit code 1 and one line naming the URL.
fn fails_at_once_in_one_line(script: fn(TcpStream)) -> ClientRun {
    let url = scripted_server(script);
    let run = run_client(&[url.as_str(), "--silence-timeout", "1h"], LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains(&url), "{}", lines[0]);
    run
}

#[test]
fn an_extension_the_client_never_offered() {
    fails_at_once_in_one_line(|mut stream| {
        raw::answer_upgrade(
            &mut stream,
            "Sec-WebSocket-Protocol: prodcon.v1\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
        );
        hold(stream);
    });
}

#[test]
fn a_subprotocol_the_client_never_offered() {
    fails_at_once_in_one_line(|mut stream| {
        raw::answer_upgrade(&mut stream, "Sec-WebSocket-Protocol: evil.v9\r\n");
        hold(stream);
    });
}

#[test]
fn a_subprotocol_chosen_when_the_client_offered_none() {
    // The first answer picks none, so the client asks again offering none; the second picks one.
    static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);
    fails_at_once_in_one_line(|mut stream| {
        if CONNECTIONS.fetch_add(1, Ordering::SeqCst) == 0 {
            raw::answer_upgrade(&mut stream, "");
        } else {
            raw::answer_upgrade(&mut stream, "Sec-WebSocket-Protocol: prodcon.v1\r\n");
        }
        hold(stream);
    });
    assert_eq!(CONNECTIONS.load(Ordering::SeqCst), 2);
}

/// Text with every trick a server could play on a terminal: escape sequences (clear the screen,
/// set the window title), a carriage return and a line feed that would forge a second line.
const TERMINAL_TRICKS: &str = "go away\u{1b}[2J\r\nconsumer-client: all is well\u{1b}]0;pwned\u{7}";

/// Checks that `stderr` is one line with no control character in it.
fn one_clean_line(stderr: &str) {
    let line = stderr.strip_suffix('\n').unwrap_or(stderr);
    assert!(
        !line.chars().any(char::is_control),
        "a control character reached stderr: {stderr:?}"
    );
}

#[test]
fn a_refusal_body_reaches_the_terminal_escaped() {
    let run = fails_at_once_in_one_line(|mut stream| {
        raw::read_head(&mut stream);
        let response = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{TERMINAL_TRICKS}",
            TERMINAL_TRICKS.len()
        );
        let _ = stream.write_all(response.as_bytes());
        hold(stream);
    });
    one_clean_line(&run.stderr);
}

#[test]
fn a_close_reason_reaches_the_terminal_escaped() {
    let run = fails_at_once_in_one_line(|mut stream| {
        accept_upgrade(&mut stream);
        let mut payload = 4001u16.to_be_bytes().to_vec();
        payload.extend_from_slice(&TERMINAL_TRICKS.as_bytes()[..TERMINAL_TRICKS.len().min(123)]);
        let close = FrameSpec {
            masked: false,
            ..FrameSpec::client(8)
        }
        .encode(&payload);
        let _ = stream.write_all(&close);
        hold(stream);
    });
    one_clean_line(&run.stderr);
}

#[test]
fn data_reaches_the_terminal_one_escaped_line_a_message() {
    let url = scripted_server(|mut stream| {
        accept_upgrade(&mut stream);
        for (seq, data) in [(1, TERMINAL_TRICKS), (2, "ok")] {
            let data = serde_json::to_string(data).unwrap();
            let envelope = format!(r#"{{"seq":{seq},"time":1,"data":{data}}}"#);
            let _ = stream.write_all(&FrameSpec::server(1).encode(envelope.as_bytes()));
        }
        hold(stream);
    });
    for extra in [None, Some("--json")] {
        let mut args = vec![url.as_str(), "--count", "2"];
        args.extend(extra);
        let run = run_client(&args, LIMIT);
        assert!(run.status.success(), "{run:?}");
        let lines = run.lines();
        assert_eq!(lines.len(), 2, "{extra:?}: {:?}", run.stdout);
        assert!(
            lines.iter().all(|line| common::shows_as_is(line)) && !run.stdout.contains('\r'),
            "{extra:?}: a control, separator or format character reached stdout: {:?}",
            run.stdout
        );
        match extra {
            None => assert_eq!(lines[1], "ok"),
            // Still the server's data, to a JSON reader.
            Some(_) => {
                let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
                assert_eq!(first["data"], TERMINAL_TRICKS);
            }
        }
    }
}

/// Set once the flooding server has accepted the client: memory is measured from then on.
static FLOODING: AtomicBool = AtomicBool::new(false);

#[test]
fn a_server_that_floods_pings_and_never_reads_cannot_grow_the_client() {
    let url = scripted_server(|mut stream| {
        accept_upgrade(&mut stream);
        FLOODING.store(true, Ordering::SeqCst);
        let ping = FrameSpec {
            masked: false,
            ..FrameSpec::client(9)
        }
        .encode(&[b'p'; 125]);
        let burst = ping.repeat(512);
        // Never reads a byte; stops when the client has gone, or at the test's limit.
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline && stream.write_all(&burst).is_ok() {}
    });
    let client = RunningClient::start(&[&url, "--silence-timeout", "2s"]);
    let deadline = Instant::now() + LIMIT;
    while !FLOODING.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the client never connected");
        thread::sleep(Duration::from_millis(5));
    }
    let baseline = proc_stats::resident_kib(client.pid());
    let (mut peak, mut samples) = (baseline, 0);
    // A process that has exited shows no resident memory.
    while Instant::now() < deadline {
        let now = proc_stats::resident_kib(client.pid());
        if now == 0 {
            break;
        }
        peak = peak.max(now);
        samples += 1;
        thread::sleep(Duration::from_millis(10));
    }
    let run = client.finish(LIMIT);
    assert!(
        samples >= 20,
        "the flood was not watched for long: {samples} samples"
    );
    assert!(
        peak <= baseline + 1024,
        "resident memory grew from {baseline} KiB to {peak} KiB"
    );
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}
