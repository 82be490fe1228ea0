use integration_tests::certs::{arg, Pki, ServerFiles};
use integration_tests::{http, python, run_client, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

/// A TLS server with `files`, counting every 10 ms.
fn tls_server(files: &ServerFiles, extra: &[&str]) -> Server {
    let mut args = vec![
        "--interval",
        "10ms",
        "--tls-cert",
        arg(&files.cert),
        "--tls-key",
        arg(&files.key),
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// The one line of `text`.
fn one_line(text: &str) -> &str {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got {text:?}");
    lines[0]
}

/// consumer-client trusts the test's root with --ca and follows the chain the server sends
/// (server certificate, then the intermediate), by IP address and by name.
#[test]
fn consumer_client_streams_over_wss_with_the_test_ca() {
    let pki = Pki::new();
    let server = tls_server(&pki.valid(), &[]);
    assert!(server.url.starts_with("wss://127.0.0.1:"), "{}", server.url);
    let by_name = format!("wss://localhost:{}/", server.addr.port());
    let ca = pki.ca();
    for url in [server.url.as_str(), by_name.as_str()] {
        let ca = arg(&ca);
        let run = run_client(&[url, "--ca", ca, "--count", "3"], LIMIT);
        assert!(run.status.success(), "{url}: {run:?}");
        assert_eq!(run.lines(), ["1", "2", "3"], "{url}");
    }
}

/// Among several URLs, ws:// and wss:// mix and --ca serves every wss:// one: the client passes
/// over a ws:// URL with nothing listening and streams from the TLS server it trusts with --ca.
#[test]
fn several_urls_mix_ws_and_wss_with_one_ca() {
    let pki = Pki::new();
    let server = tls_server(&pki.valid(), &[]);
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("ws://{}/", free.local_addr().unwrap());
    drop(free);
    let ca = pki.ca();
    let run = run_client(
        &[&dead, &server.url, "--ca", arg(&ca), "--count", "3"],
        LIMIT,
    );
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.lines(), ["1", "2", "3"]);
    let passed_over = one_line(&run.stderr);
    assert!(
        passed_over.contains(&dead) && passed_over.contains(&server.url),
        "{passed_over}"
    );
}

/// Python's websockets, with an ssl context that trusts the test's root, completes a real TLS
/// handshake (OpenSSL on its side) and reads the seed's plain text.
#[test]
fn python_websockets_reads_wss_trusting_the_test_ca() {
    let Some(python) = python::interpreter() else {
        return;
    };
    let pki = Pki::new();
    let server = tls_server(&pki.valid(), &[]);
    let out = Command::new(python)
        .arg(python::scripts().join("tls_consumer.py"))
        .args([&server.url, arg(&pki.ca()), "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("TLSv1."), "{stdout}");
    assert_eq!(lines[1..], ["1", "2", "3"], "{stdout}");
}

/// Without --ca the test's private root is unknown: one line naming the URL and the reason,
/// exit 1, and no retry even with --reconnect, since a retry would fail the same way.
#[test]
fn an_unknown_authority_is_one_line_and_not_retried() {
    let pki = Pki::new();
    let server = tls_server(&pki.valid(), &[]);
    for args in [vec![server.url.as_str()], vec![&server.url, "--reconnect"]] {
        let started = Instant::now();
        let run = run_client(&args, LIMIT);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {run:?}");
        let line = one_line(&run.stderr);
        assert!(line.contains(&server.url), "{line}");
        assert!(
            line.contains("unknown issuer") && line.contains("--ca"),
            "{line}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} retried"
        );
        assert_eq!(run.stdout, "");
    }
}

/// A certificate for another name, or one that expired, is refused in one line saying which.
#[test]
fn wrong_name_and_expired_certificates_are_one_line_each() {
    let pki = Pki::new();
    let cases = [
        (
            pki.server("other", &["example.invalid"], false),
            "wrong name",
        ),
        (pki.server("old", &["127.0.0.1"], true), "expired"),
    ];
    for (files, why) in cases {
        let server = tls_server(&files, &[]);
        let run = run_client(&[&server.url, "--ca", arg(&pki.ca())], LIMIT);
        assert_eq!(run.status.code(), Some(1), "{why}: {run:?}");
        let line = one_line(&run.stderr);
        assert!(line.contains(&server.url) && line.contains(why), "{line}");
    }
}

/// A plain HTTP request on a TLS port is answered at once with a plain 400 saying to use TLS;
/// consumer-client with ws:// reports it in one line. Nobody waits for a handshake timeout.
#[test]
fn plain_clients_on_a_tls_port_are_refused_at_once() {
    let pki = Pki::new();
    let server = tls_server(&pki.valid(), &["--handshake-timeout", "30s"]);
    let started = Instant::now();
    let answer = http::exchange(server.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", LIMIT);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(
        http::body(&answer).contains("use https:// or wss://"),
        "{answer}"
    );

    let plain = format!("ws://{}/", server.addr);
    let run = run_client(&[&plain], LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let line = one_line(&run.stderr);
    assert!(line.contains("400") && line.contains("wss://"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the refusals took {:?}",
        started.elapsed()
    );
}

/// A client that starts a TLS handshake and stalls is dropped at --handshake-timeout.
#[test]
fn a_stalled_tls_handshake_counts_against_the_handshake_timeout() {
    let pki = Pki::new();
    let server = tls_server(&pki.valid(), &["--handshake-timeout", "1s"]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    // The first bytes of a TLS record header, then nothing.
    stream.write_all(&[0x16, 0x03, 0x01]).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
    };
    let waited = started.elapsed();
    assert!(closed, "the server sent something to a stalled handshake");
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(5)).contains(&waited),
        "dropped after {waited:?}, not at the 1s handshake timeout"
    );
}

/// Certificate and key files that cannot serve: exit 1 and one line naming the file and the
/// problem, before listening.
#[test]
fn bad_certificate_or_key_files_are_one_line_naming_the_file() {
    let pki = Pki::new();
    let valid = pki.valid();
    let other = pki.server("other", &["127.0.0.1"], false);
    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "hello, not PEM\n").unwrap();
    let missing = pki.path("missing.pem");
    let cases = [
        (&missing, &valid.key, &missing, "no such file"),
        (&garbage, &valid.key, &garbage, "no PEM certificate"),
        (&valid.cert, &garbage, &garbage, "no PEM private key"),
        (&valid.cert, &other.key, &other.key, "does not match"),
    ];
    for (cert, key, named, problem) in cases {
        let out = Command::new(integration_tests::binaries::binary("producer-server"))
            .args(["--addr", "127.0.0.1:0", "--tls-cert", arg(cert)])
            .args(["--tls-key", arg(key)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{problem}: {stderr}");
        let line = one_line(&stderr);
        assert!(
            line.contains(arg(named)) && line.contains(problem),
            "{problem}: {line}"
        );
        assert!(out.stdout.is_empty(), "it must not listen: {problem}");
    }
}

/// How long a program may take to refuse an endless certificate, key or authority file: it reads
/// at most 1 MiB of it, a matter of milliseconds. Short, because a program that read such a file
/// whole would fill the machine's memory until killed.
const QUICK: Duration = Duration::from_secs(5);

/// A certificate or key file that never ends (`/dev/zero`) is refused at once, in one line naming
/// it, exit 1, before listening: not read into memory without end.
#[test]
fn an_endless_certificate_or_key_file_is_refused_at_once() {
    let pki = Pki::new();
    let valid = pki.valid();
    let endless = std::path::Path::new("/dev/zero");
    for (cert, key) in [(endless, valid.key.as_path()), (&valid.cert, endless)] {
        let started = Instant::now();
        let mut server = harness::process::Guard::spawn(
            Command::new(integration_tests::binaries::binary("producer-server"))
                .args(["--addr", "127.0.0.1:0", "--tls-cert", arg(cert)])
                .args(["--tls-key", arg(key)])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped()),
        )
        .unwrap();
        // Killed when the guard goes, should it still be reading.
        let status = server.wait(QUICK);
        let took = started.elapsed();
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(1),
            "{cert:?} {key:?}: still running after {took:?}, or not exit 1"
        );
        let mut stderr = String::new();
        let pipe = server.child().stderr.as_mut().expect("stderr is piped");
        pipe.read_to_string(&mut stderr).unwrap();
        let line = one_line(&stderr);
        // The limit, not "out of memory", which a capped address space would also give.
        assert!(
            line.contains("/dev/zero") && line.contains("1 MiB"),
            "{line}"
        );
        let mut stdout = String::new();
        let pipe = server.child().stdout.as_mut().expect("stdout is piped");
        pipe.read_to_string(&mut stdout).unwrap();
        assert_eq!(stdout, "", "it must not listen");
    }
}

/// consumer-client with `--ca /dev/zero` stops at once, in one line naming the file, exit 1.
#[test]
fn an_endless_ca_file_is_refused_at_once() {
    let run = run_client(&["wss://127.0.0.1:1/", "--ca", "/dev/zero"], QUICK);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let line = one_line(&run.stderr);
    assert!(
        line.contains("--ca /dev/zero") && line.contains("1 MiB"),
        "{line}"
    );
    assert!(!line.contains("cannot connect"), "{line}");
}
