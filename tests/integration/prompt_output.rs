//! consumer-client's pacing as a reader of its output sees it: however the client gathers
//! messages to save wake-ups, a message is printed while the stream pauses after it, not held
//! until more come. The server here writes one frame per system call, as Python's `websockets`
//! and Node's `ws` do, and waits, silent, until the client has printed what it sent.

use integration_tests::binaries::binary;
use integration_tests::raw::{self, FrameSpec};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

/// How long the silent server waits for the client to print what it sent; far more than any
/// pause of the client, so that only a message held back for good fails the test.
const LIMIT: Duration = Duration::from_secs(10);

/// Messages of the steady stream before the first silence.
const TRICKLE: u64 = 300;

/// Writes message `seq` as one unmasked text frame, in one system call.
fn send(stream: &mut TcpStream, seq: u64) {
    let text = format!(r#"{{"seq":{seq},"time":0,"data":"{seq}"}}"#);
    let frame = FrameSpec::server(1).encode(text.as_bytes());
    stream.write_all(&frame).unwrap();
}

/// Serves one connection: `TRICKLE` messages back to back, silence until `printed` says the
/// client printed the last, then one more message, and silence again until it is printed.
fn serve(listener: TcpListener, printed: Receiver<u64>) {
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_nodelay(true).unwrap();
    raw::answer_upgrade(&mut stream, "Sec-WebSocket-Protocol: prodcon.v1\r\n");
    for seq in 1..=TRICKLE {
        send(&mut stream, seq);
    }
    // Dropping the connection on a timeout ends the client, and with it the test's reading.
    if printed.recv_timeout(LIMIT) != Ok(TRICKLE) {
        return;
    }
    send(&mut stream, TRICKLE + 1);
    let _ = printed.recv_timeout(LIMIT);
}

#[test]
fn each_message_is_printed_while_the_server_is_silent_after_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (printed_tx, printed_rx) = mpsc::channel();
    let server = thread::spawn(move || serve(listener, printed_rx));
    let mut client = Command::new(binary("consumer-client"))
        .args([url.as_str(), "--count", &(TRICKLE + 1).to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("consumer-client starts");
    let stdout = BufReader::new(client.stdout.take().expect("stdout is piped"));
    let mut lines = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if line == TRICKLE.to_string() || line == (TRICKLE + 1).to_string() {
            let _ = printed_tx.send(line.parse().unwrap());
        }
        lines.push(line);
    }
    let status = client.wait().unwrap();
    server.join().unwrap();
    let mut stderr = String::new();
    let _ = client.stderr.take().unwrap().read_to_string(&mut stderr);
    let expected: Vec<String> = (1..=TRICKLE + 1).map(|seq| seq.to_string()).collect();
    assert_eq!(
        lines, expected,
        "every message, each printed before the next was sent; stderr: {stderr}"
    );
    assert!(status.success(), "{status}; stderr: {stderr}");
}
