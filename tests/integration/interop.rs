use integration_tests::ws::{Received, WsClient};
use integration_tests::{python, run_client, Server};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn websocket_client_without_subprotocol_gets_the_seed_text() {
    let server = Server::start(&["--interval", "10ms"]);
    let mut client = WsClient::connect(&server.url, &[]).unwrap();
    assert_eq!(client.subprotocol, None);
    assert_eq!(client.texts(3, LIMIT), ["1", "2", "3"]);
}

#[test]
fn prodcon_v1_is_chosen_among_other_offers() {
    let server = Server::start(&["--interval", "10ms"]);
    let mut client = WsClient::connect(&server.url, &["chat", "prodcon.v1"]).unwrap();
    assert_eq!(client.subprotocol.as_deref(), Some("prodcon.v1"));
    let text = &client.texts(1, LIMIT)[0];
    assert!(
        text.starts_with(r#"{"seq":1,"time":"#) && text.ends_with(r#","data":"1"}"#),
        "{text}"
    );
}

#[test]
fn plain_http_request_gets_an_answer_not_a_hang() {
    let server = Server::start(&[]);
    for (request, status) in [
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "200"),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "405",
        ),
        (
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "400",
        ),
    ] {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?}: {answer}"
        );
    }
}

#[test]
fn python_seed_consumer_prints_what_producer_server_sends() {
    let Some(python) = python::interpreter() else {
        return;
    };
    let server = Server::start(&["--interval", "10ms"]);
    let out = Command::new(python)
        .arg(python::scripts().join("seed_consumer.py"))
        .args([&server.url, "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n2\n3\n");
}

#[test]
fn consumer_client_prints_what_the_python_seed_producer_sends() {
    let Some(python) = python::interpreter() else {
        return;
    };
    let mut producer = Command::new(python)
        .arg(python::scripts().join("seed_producer.py"))
        .arg("0.01")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(producer.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let plain = run_client(&[&url, "--count", "3"], LIMIT);
    let json = run_client(&[&url, "--count", "2", "--json"], LIMIT);
    let _ = producer.kill();
    let _ = producer.wait();
    assert!(plain.status.success(), "{plain:?}");
    assert_eq!(plain.lines(), ["1", "2", "3"]);
    let lines = json.lines();
    assert!(
        lines[0].starts_with(r#"{"seq":1,"#) && lines[1].ends_with(r#""data":"2"}"#),
        "{lines:?}"
    );
}

#[test]
fn server_close_is_seen_by_a_plain_client() {
    let mut server = Server::start(&["--interval", "10ms"]);
    let mut client = WsClient::connect(&server.url, &[]).unwrap();
    client.texts(1, LIMIT);
    server.signal("TERM");
    let (_, end) = client.until_close(LIMIT);
    assert!(matches!(end, Received::Close(Some((1001, _)))), "{end:?}");
    assert!(server.wait_exit(Duration::from_secs(2)).success());
}
