//! consumer-client facing servers that misbehave: it exits with one clear line, never panics and
//! never hangs.

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use integration_tests::raw::{self, FrameSpec};
use integration_tests::run_client;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
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
    let request = raw::read_head(stream);
    let key = request
        .lines()
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
        .expect("the client sends a key");
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: prodcon.v1\r\n\r\n",
        derive_accept_key(key.trim().as_bytes())
    );
    stream.write_all(response.as_bytes()).unwrap();
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
