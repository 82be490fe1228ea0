//! The floor: what a broadcast costs when nothing but the system calls are left.
//!
//! Usage: `floor INTERVAL_SECONDS`
//!
//! It listens on 127.0.0.1 port 0 and prints `listening on ws://127.0.0.1:PORT/`; each
//! connection gets an ordinary WebSocket handshake (prodcon.v1 when offered). Then one thread,
//! once per interval (0: back to back), makes the message's frame once, the same bytes
//! producer-server sends (`{"seq":N,"time":MICROS,"data":"N"}` or the plain `N`), and writes it to
//! every socket in turn with one blocking `write`: no queue, no task, no wake-up, no allocation
//! per consumer. The consumers (the bench) read and check it as they do any server, so its
//! latency and CPU per delivery are the limit the servers are measured against.

use async_tungstenite::tungstenite::handshake::server::{Request, Response};
use async_tungstenite::tungstenite::http::HeaderValue;
use common::{subprotocol, Envelope, Format};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One consumer: its socket and the format it asked for.
struct Consumer {
    /// The socket, written with blocking `write` calls.
    stream: TcpStream,
    /// Plain text or prodcon.v1.
    format: Format,
}

fn main() {
    let interval = match std::env::args().nth(1).map(|arg| arg.parse::<f64>()) {
        Some(Ok(seconds)) if seconds >= 0.0 => Duration::from_secs_f64(seconds),
        _ => {
            eprintln!("usage: floor INTERVAL_SECONDS, such as 0.1");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|error| {
        eprintln!("floor: cannot listen on 127.0.0.1: {error}");
        std::process::exit(1);
    });
    let consumers: Arc<Mutex<Vec<Consumer>>> = Arc::default();
    let port = listener.local_addr().map_or(0, |addr| addr.port());
    println!("listening on ws://127.0.0.1:{port}/");
    let accepted = Arc::clone(&consumers);
    thread::spawn(move || accept(&listener, &accepted));
    sweep(&consumers, interval);
}

/// Accepts connections, completes their handshake, and adds them to `consumers`.
// The handshake callback's error type is tungstenite's, large or not.
#[allow(clippy::result_large_err)]
fn accept(listener: &TcpListener, consumers: &Mutex<Vec<Consumer>>) {
    for stream in listener.incoming().flatten() {
        let Ok(kept) = stream.try_clone() else {
            continue;
        };
        let mut format = Format::Plain;
        let answer = |request: &Request, mut response: Response| {
            let offered = request
                .headers()
                .get_all(subprotocol::HEADER)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .any(|name| Some(name.trim()) == Format::JsonV1.subprotocol());
            if let (true, Some(name)) = (offered, Format::JsonV1.subprotocol()) {
                format = Format::JsonV1;
                response
                    .headers_mut()
                    .insert(subprotocol::HEADER, HeaderValue::from_static(name));
            }
            Ok(response)
        };
        if async_tungstenite::tungstenite::accept_hdr(stream, answer).is_ok() {
            let _ = kept.set_nodelay(true);
            consumers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(Consumer {
                    stream: kept,
                    format,
                });
        }
    }
}

/// Writes message after message to every consumer, forever; drops those whose write fails.
fn sweep(consumers: &Mutex<Vec<Consumer>>, interval: Duration) {
    let mut plain = Vec::with_capacity(32);
    let mut json = Vec::with_capacity(128);
    // The pace is kept whatever a sweep takes, as producer-server keeps it: a sweep that
    // outlasts the interval is followed at once by the next, so the floor sends as many messages
    // as the servers are asked to (sleeping a whole interval after each sweep sent half as many
    // at 10,000 consumers, and measured a lighter load).
    let start = Instant::now();
    for seq in 1u64.. {
        if !interval.is_zero() {
            let due = start + interval * u32::try_from(seq).unwrap_or(u32::MAX);
            thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let data = seq.to_string();
        frame(
            &mut json,
            Envelope::now(seq, data.clone()).encode().as_bytes(),
        );
        frame(&mut plain, data.as_bytes());
        let mut consumers = consumers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        consumers.retain_mut(|consumer| {
            let bytes = match consumer.format {
                Format::JsonV1 => &json,
                _ => &plain,
            };
            consumer.stream.write_all(bytes).is_ok()
        });
    }
}

/// An unmasked text frame holding `payload`, as a server sends it (RFC 6455 5.2).
fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.clear();
    out.push(0x81);
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}
