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
        vec!["ws://127.0.0.1:9/", "wss://127.0.0.1:9/"],
    ] {
        let run = run_client(&args, LIMIT);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {run:?}");
        let line = one_line(&run.stderr);
        assert!(line.starts_with("consumer-client: "), "{line}");
    }
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
        (["--interval", "fast"], "--interval"),
        (["--queue", "0"], "--queue"),
        (["--addr", "localhost"], "--addr"),
    ] {
        let out = Command::new(integration_tests::binaries::binary("producer-server"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(one_line(&stderr).contains(flag), "{stderr}");
    }
}
