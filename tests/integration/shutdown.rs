use integration_tests::binaries::binary;
use integration_tests::ws::{Received, WsClient};
use integration_tests::Server;
use integration_tests::{http, raw};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

/// A consumer-client whose output the test reads as it comes, to know it is connected: it has
/// printed a message. Killed when dropped.
struct Consumer {
    /// The process.
    child: Child,
    /// Its stdout, a line at a time, from a thread that ends with it.
    lines: mpsc::Receiver<String>,
}

impl Consumer {
    /// Starts consumer-client on `url` and waits until it has printed its first message.
    fn connected(url: &str) -> Consumer {
        let mut child = Command::new(binary("consumer-client"))
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("consumer-client starts");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let consumer = Consumer { child, lines };
        consumer
            .lines
            .recv_timeout(LIMIT)
            .expect("consumer-client prints a first message");
        consumer
    }

    /// Waits for it to exit, at most `limit`.
    fn finish(mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting on a child works") {
                return status;
            }
            assert!(Instant::now() < deadline, "consumer-client did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn closes_clients_with_1001_and_exits_0(signal: &str) {
    let mut server = Server::start(&["--interval", "10ms"]);
    let mut plain = WsClient::connect(&server.url, &[]).unwrap();
    let mut json = WsClient::connect(&server.url, &["prodcon.v1"]).unwrap();
    let consumer = Consumer::connected(&server.url);
    // Each has received something: all three are connected.
    let mut received = plain.texts(2, LIMIT);
    json.texts(2, LIMIT);
    let asked = Instant::now();
    server.signal(signal);
    let (rest, end) = plain.until_close(LIMIT);
    assert!(matches!(end, Received::Close(Some((1001, _)))), "{end:?}");
    // What the queue held went out before the close, in order, with nothing left out.
    received.extend(rest);
    let numbers: Vec<u64> = received.iter().map(|t| t.parse().unwrap()).collect();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
    let (_, end) = json.until_close(LIMIT);
    assert!(matches!(end, Received::Close(Some((1001, _)))), "{end:?}");
    let status = server.wait_exit(Duration::from_secs(2));
    assert!(status.success(), "{status:?}");
    assert!(asked.elapsed() < Duration::from_secs(2));
    let status = consumer.finish(LIMIT);
    assert!(status.success(), "a 1001 close is a normal end: {status:?}");
}

#[test]
fn sigint_closes_every_client_with_1001_and_exits_0() {
    closes_clients_with_1001_and_exits_0("INT");
}

#[test]
fn sigterm_closes_every_client_with_1001_and_exits_0() {
    closes_clients_with_1001_and_exits_0("TERM");
}

/// A WebSocket connection to the server at `addr`, `--interval 0`, that never reads, returned
/// once the server can send it no more: its goodbye then takes the server's whole limit.
fn stalled_consumer(addr: SocketAddr) -> TcpStream {
    let stalled = raw::handshake(addr);
    // Stalled for good once what the server sent and nobody read stops growing: the buffers
    // between them are full, and the server's writer waits.
    let mut unread = vec![0u8; 16 << 20];
    let mut before = 0;
    let deadline = Instant::now() + LIMIT;
    loop {
        thread::sleep(Duration::from_millis(50));
        let now = stalled.peek(&mut unread).unwrap();
        if now > 0 && now == before {
            return stalled;
        }
        assert!(
            Instant::now() < deadline,
            "unread bytes kept growing: {now}"
        );
        before = now;
    }
}

#[test]
fn shutdown_with_a_client_that_never_reads_still_exits_in_time() {
    let mut server = Server::start(&["--interval", "0"]);
    let stalled = stalled_consumer(server.addr);
    server.signal("INT");
    assert!(server.wait_exit(Duration::from_secs(2)).success());
    drop(stalled);
}

/// A load balancer polling `/healthz` learns that the server is going as soon as SIGTERM is
/// given, while the goodbye to a consumer that does not read still holds the server up.
#[test]
fn healthz_says_503_from_the_moment_shutdown_begins() {
    let mut server = Server::start(&["--interval", "0", "--metrics", "127.0.0.1:0"]);
    let metrics = server.metrics.expect("--metrics prints its address");
    let health = || http::try_exchange(metrics, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", LIMIT);
    let serving = health().unwrap();
    assert!(serving.starts_with("HTTP/1.1 200"), "{serving}");
    let stalled = stalled_consumer(server.addr);
    server.signal("TERM");
    let deadline = Instant::now() + LIMIT;
    let stopping = loop {
        let answer = health().unwrap_or_else(|e| panic!("the server left before a 503: {e}"));
        if !answer.starts_with("HTTP/1.1 200") {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "still 200 after SIGTERM: {answer}"
        );
    };
    assert!(stopping.starts_with("HTTP/1.1 503"), "{stopping}");
    assert!(
        http::body(&stopping).contains("shutting down"),
        "{stopping}"
    );
    assert!(server.wait_exit(LIMIT).success());
    drop(stalled);
}
