//! What the tests and the bench need to know of a `redis-server` they started.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Whether a Redis on `port` of 127.0.0.1 answers `PING` with `PONG`: it is up and has loaded
/// its data (a Redis still loading answers `LOADING`).
pub fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0; 7];
    let read = stream.read(&mut answer).unwrap_or(0);
    answer[..read].starts_with(b"+PONG")
}
