//! Raw HTTP/1.1 exchanges, for the answers the server gives to requests that are not upgrades.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends `request` as written to `addr` and reads the whole answer, waiting at most `limit` for
/// each read; the server closes the connection after answering.
pub fn exchange(addr: SocketAddr, request: &str, limit: Duration) -> String {
    try_exchange(addr, request, limit)
        .unwrap_or_else(|e| panic!("no complete answer to {request:?}: {e}"))
}

/// [`exchange`], or why there was no answer, such as a server that is gone.
pub fn try_exchange(addr: SocketAddr, request: &str, limit: Duration) -> io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(limit))?;
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
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
