//! Raw TCP access to a WebSocket, for the bytes a WebSocket library would refuse to send.

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A minimal, valid upgrade request for `/`.
pub const UPGRADE_REQUEST: &str = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// Connects to `addr` and completes a WebSocket handshake by hand; panics unless it gets 101.
pub fn handshake(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("the server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(UPGRADE_REQUEST.as_bytes()).unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
    stream
}

/// Reads an HTTP response head, byte by byte so that nothing after it is consumed.
pub fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Plays a server: reads the client's upgrade request on `stream` and accepts it, with `headers`
/// (each ending in CRLF) added to the answer.
pub fn answer_upgrade(stream: &mut TcpStream, headers: &str) {
    let request = read_head(stream);
    let key = request
        .lines()
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
        .expect("the client sends a key");
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{headers}\r\n",
        derive_accept_key(key.trim().as_bytes())
    );
    let _ = stream.write_all(response.as_bytes());
}

/// A frame's first two header bits and opcode, as the tests spell them.
#[derive(Clone, Copy)]
pub struct FrameSpec {
    /// The FIN bit.
    pub fin: bool,
    /// The three RSV bits, as the high nibble's low bits (0 to 7).
    pub rsv: u8,
    /// The opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong, others reserved).
    pub opcode: u8,
    /// Whether to mask the payload, as clients must.
    pub masked: bool,
}

impl FrameSpec {
    /// A final, masked frame with `opcode`: what a well-behaved client sends.
    pub fn client(opcode: u8) -> Self {
        FrameSpec {
            fin: true,
            rsv: 0,
            opcode,
            masked: true,
        }
    }

    /// A final, unmasked frame with `opcode`: what a server sends.
    pub fn server(opcode: u8) -> Self {
        FrameSpec {
            masked: false,
            ..FrameSpec::client(opcode)
        }
    }

    /// The bytes of a frame carrying `payload`.
    pub fn encode(self, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![(u8::from(self.fin) << 7) | (self.rsv << 4) | self.opcode];
        let mask_bit = if self.masked { 0x80 } else { 0 };
        match payload.len() {
            len @ 0..=125 => frame.push(mask_bit | len as u8),
            len @ 126..=65535 => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if self.masked {
            let key = [0x12, 0x34, 0x56, 0x78];
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            frame.extend_from_slice(payload);
        }
        frame
    }
}

/// Reads server frames until a close frame, and returns its code; `None` if the connection ends
/// without one. Data frames before it are skipped.
pub fn close_code(stream: &mut TcpStream) -> Option<u16> {
    loop {
        let (opcode, payload) = next_frame(stream)?;
        if opcode == 8 {
            return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

/// The next server frame: its opcode and payload; `None` if the connection ends first.
pub fn next_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).ok()?;
    let opcode = header[0] & 0x0f;
    let len = match header[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext).ok()?;
            u16::from_be_bytes(ext) as usize
        }
        127 => {
            let mut ext = [0u8; 8];
            stream.read_exact(&mut ext).ok()?;
            u64::from_be_bytes(ext) as usize
        }
        len => len as usize,
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).ok()?;
    Some((opcode, payload))
}
