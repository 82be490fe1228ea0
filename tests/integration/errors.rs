use integration_tests::{run_client, Server};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// A port with nothing listening on it (just released by us).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn one_line(text: &str) -> &str {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got {text:?}");
    lines[0]
}

#[test]
fn client_with_nothing_listening_names_the_address() {
    let url = format!("ws://127.0.0.1:{}/", free_port());
    let run = run_client(&[&url], LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let line = one_line(&run.stderr);
    assert!(
        line.contains(&url) && line.contains("cannot connect"),
        "{line}"
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn client_rejects_bad_arguments_with_exit_code_2_in_one_line() {
    for args in [
        vec!["--from", "0"],
        vec!["--count", "many"],
        vec!["http://127.0.0.1:8765/"],
        vec!["nonsense"],
        vec![
            "ws://127.0.0.1:9/",
            "wss://127.0.0.1:9/",
            "http://127.0.0.1:9/",
        ],
    ] {
        let run = run_client(&args, LIMIT);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {run:?}");
        let line = one_line(&run.stderr);
        assert!(line.starts_with("consumer-client: "), "{line}");
    }
}

/// A port that is not one (over 65535, or 0) is a bad argument named in one line, refused
/// before any connection: the client once went to the scheme's default port instead.
#[test]
fn a_url_with_a_port_out_of_range_is_refused_before_connecting() {
    for url in [
        "ws://127.0.0.1:99999/",
        "ws://127.0.0.1:65536/",
        "ws://127.0.0.1:0/",
        "wss://127.0.0.1:99999/",
    ] {
        let run = run_client(&[url], LIMIT);
        assert_eq!(run.status.code(), Some(2), "{url}: {run:?}");
        let line = one_line(&run.stderr);
        assert!(
            line.starts_with("consumer-client: ") && line.contains(url),
            "{url}: {line}"
        );
        assert!(!line.contains("cannot connect"), "{url}: {line}");
        assert_eq!(run.stdout, "", "{url}");
    }
}

/// wss:// is a URL like ws://, alone or among several: with nothing listening the client tries
/// each and exits 1 naming the last, never 2 as for a bad argument.
#[test]
fn ws_and_wss_urls_are_accepted_together() {
    let plain = format!("ws://127.0.0.1:{}/", free_port());
    let secure = format!("wss://127.0.0.1:{}/", free_port());
    let run = run_client(&[&plain, &secure], LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one line per URL: {run:?}");
    assert!(
        lines[1].contains(&secure) && lines[1].contains("cannot connect"),
        "{}",
        lines[1]
    );
}

#[test]
fn a_bad_url_is_answered_with_what_a_valid_one_looks_like() {
    for url in ["nonsense", "http://127.0.0.1:8765/"] {
        let run = run_client(&[url], LIMIT);
        assert!(one_line(&run.stderr).contains("ws://"), "{url}: {run:?}");
    }
}

#[test]
fn handshake_refusal_is_reported_with_the_server_reason() {
    let server = Server::start(&[]);
    let url = format!("{}?from=soon", server.url);
    let run = run_client(&[&url], LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let line = one_line(&run.stderr);
    assert!(line.contains("400") && line.contains("`from`"), "{line}");
}

#[test]
fn port_in_use_is_one_line_saying_what_to_do() {
    let first = Server::start(&[]);
    let second = Command::new(integration_tests::binaries::binary("producer-server"))
        .args(["--addr", &first.addr.to_string()])
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    let line = one_line(&stderr);
    assert!(
        line.contains("cannot listen on") && line.contains("--addr"),
        "{line}"
    );
}

#[test]
fn bad_server_flag_is_one_line_naming_it() {
    for (args, flag) in [
        (&["--interval", "fast"][..], "--interval"),
        (&["--queue", "0"], "--queue"),
        (&["--max-connections", "0"], "--max-connections"),
        (&["--addr", "localhost"], "--addr"),
        (&["--source", "stdin", "--interval", "1s"], "--interval"),
        // A missing option is named, not left after a colon on a line of its own.
        (&["--tls-cert", "cert.pem"], "--tls-key"),
    ] {
        let out = Command::new(integration_tests::binaries::binary("producer-server"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = one_line(&stderr);
        assert!(line.contains(flag), "{line}");
        // Our own words, not the parser's.
        assert!(!line.contains("non-zero type"), "{line}");
    }
}

#[test]
fn an_address_not_on_this_machine_gets_its_own_advice() {
    // 203.0.113.0/24 is reserved for documentation: no machine has it.
    let out = Command::new(integration_tests::binaries::binary("producer-server"))
        .args(["--addr", "203.0.113.5:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = one_line(&stderr);
    assert!(
        line.contains("not on this machine") && line.contains("0.0.0.0:0"),
        "{line}"
    );
    assert!(!line.contains("stop whatever uses"), "{line}");
}

#[test]
fn a_host_name_address_is_resolved_and_served() {
    let server = Server::start_with(&[], std::process::Stdio::null(), "localhost:0");
    assert!(server.addr.ip().is_loopback(), "{}", server.addr);
    let run = run_client(&[&server.url, "--count", "1"], LIMIT);
    assert_eq!(run.lines(), ["1"], "{run:?}");
}

/// An option written without its value, last or before another option, is a usage error naming
/// it, never a server that starts with the option's default.
#[test]
fn server_option_without_its_value_is_refused_naming_it() {
    for (args, option) in [
        (&["--addr", "127.0.0.1:0", "--queue"][..], "--queue"),
        (&["--queue", "--addr", "127.0.0.1:0"], "--queue"),
        (&["--addr", "127.0.0.1:0", "--interval"], "--interval"),
        (
            &["--ping-interval", "--broadcast", "--addr", "127.0.0.1:0"],
            "--ping-interval",
        ),
    ] {
        let mut server = harness::process::Guard::spawn(
            Command::new(integration_tests::binaries::binary("producer-server"))
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped()),
        )
        .unwrap();
        // A server that took the default would listen on: the deadline ends it (it is killed
        // on drop) and fails the test.
        let status = server.wait(LIMIT);
        assert_eq!(status.and_then(|s| s.code()), Some(2), "{args:?} ran on");
        let mut stderr = String::new();
        let pipe = server.child().stderr.as_mut().expect("stderr is piped");
        std::io::Read::read_to_string(pipe, &mut stderr).unwrap();
        let line = one_line(&stderr);
        assert!(
            line.starts_with("producer-server: ") && line.contains(option),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn client_option_without_its_value_is_refused_naming_it() {
    for (args, option) in [
        (
            &["ws://127.0.0.1:9/", "--silence-timeout"][..],
            "--silence-timeout",
        ),
        (
            &["--silence-timeout", "--json", "ws://127.0.0.1:9/"],
            "--silence-timeout",
        ),
        (&["ws://127.0.0.1:9/", "--count"], "--count"),
        (&["--from", "--reconnect", "ws://127.0.0.1:9/"], "--from"),
    ] {
        let run = run_client(args, LIMIT);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {run:?}");
        let line = one_line(&run.stderr);
        assert!(
            line.starts_with("consumer-client: ") && line.contains(option),
            "{args:?}: {line}"
        );
    }
}
