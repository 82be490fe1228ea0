use integration_tests::http::{body, exchange, header};
use integration_tests::Server;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn get_root_is_the_live_page() {
    let server = Server::start(&[]);
    for target in ["/", "/?from=5"] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
        let answer = exchange(server.addr, &request, LIMIT);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert_eq!(
            header(&answer, "Content-Type"),
            Some("text/html; charset=utf-8")
        );
        let page = body(&answer);
        assert_eq!(
            header(&answer, "Content-Length"),
            Some(page.len().to_string().as_str())
        );
        assert!(page.starts_with("<!doctype html>"), "{page}");
        assert!(page.contains("new WebSocket(") && page.contains("\"prodcon.v1\""));
        assert!(page.contains("name=\"viewport\""));
    }
}

#[test]
fn head_root_is_the_head_alone() {
    let server = Server::start(&[]);
    let answer = exchange(server.addr, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", LIMIT);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(body(&answer), "");
    let length: usize = header(&answer, "Content-Length").unwrap().parse().unwrap();
    assert!(length > 1000, "{answer}");
}

#[test]
fn unknown_path_is_404_in_one_sentence() {
    let server = Server::start(&[]);
    let answer = exchange(server.addr, "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n", LIMIT);
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
    let text = body(&answer);
    assert!(
        text.contains("/admin") && text.lines().count() == 1,
        "{text}"
    );
}

#[test]
fn post_is_405_with_allow() {
    let server = Server::start(&[]);
    let request = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
    let answer = exchange(server.addr, request, LIMIT);
    assert!(
        answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{answer}"
    );
    assert_eq!(header(&answer, "Allow"), Some("GET, HEAD"));
    assert_eq!(body(&answer).lines().count(), 1, "{answer}");
    // Logged, as every bad input is: the status is in the line, whatever its wording.
    server.wait_for_log("405", LIMIT);
}
