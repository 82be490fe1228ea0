//! Raw HTTP/1.1 exchanges, for the answers the server gives to requests that are not upgrades.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends `request` as written to `addr` and reads the whole answer, waiting at most `limit` for
/// each read; the server closes the connection after answering.
pub fn exchange(addr: SocketAddr, request: &str, limit: Duration) -> String {
    let mut stream = TcpStream::connect(addr).expect("the server accepts");
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .unwrap_or_else(|e| panic!("no complete answer to {request:?}: {e}; got {answer:?}"));
    answer
}

/// The value of header `name` in a raw `answer`, if present.
pub fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The body of a raw `answer`.
pub fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}
