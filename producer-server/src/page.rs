//! The answers to plain HTTP requests (no WebSocket upgrade): `GET /` is the built-in live page,
//! which connects back to this server; anything else gets a status and one sentence, at once.

use crate::http::PlainResponse;

/// The live page: self-contained (inline script and style, nothing fetched from elsewhere) so
/// that it works offline and on any network the server is reachable from.
pub const PAGE: &str = include_str!("page.html");

/// Headers of the page. The policy lets it load nothing from anywhere and connect only back to
/// its own server, so even a script injected into it could not send data elsewhere.
const PAGE_HEADERS: &str = "Cache-Control: no-cache\r\n\
    X-Content-Type-Options: nosniff\r\n\
    Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n";

/// The answer to a request for `target` with `method` that is not a WebSocket upgrade.
pub fn answer(method: &str, target: &str) -> PlainResponse {
    let head_only = method == "HEAD";
    let mut answer = if method != "GET" && !head_only {
        let mut answer = PlainResponse::text(
            "405 Method Not Allowed",
            format!(
                "{method} is not served here: use GET for the live page at / or for a WebSocket"
            ),
        );
        answer.extra_headers = "Allow: GET, HEAD\r\n";
        answer
    } else if is_root(target) {
        PlainResponse {
            status: "200 OK",
            content_type: "text/html; charset=utf-8",
            extra_headers: PAGE_HEADERS,
            body: PAGE.into(),
            head_only: false,
        }
    } else {
        PlainResponse::text(
            "404 Not Found",
            format!("Nothing is served at {target}: the live page is at / and WebSocket clients connect to /"),
        )
    };
    answer.head_only = head_only;
    answer
}

/// Whether `target` is the root, with or without a query (the page takes `?from=N` too).
pub fn is_root(target: &str) -> bool {
    target == "/" || target.starts_with("/?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_the_page_with_or_without_a_query() {
        for target in ["/", "/?from=7"] {
            let answer = answer("GET", target);
            assert_eq!(answer.status, "200 OK");
            assert!(answer.content_type.starts_with("text/html"));
            assert!(answer.body.contains("prodcon.v1"));
        }
    }

    #[test]
    fn head_gets_the_head_alone() {
        let answer = answer("HEAD", "/");
        assert_eq!(answer.status, "200 OK");
        assert!(answer.head_only);
        assert!(!answer.body.is_empty(), "the length is that of the body");
    }

    #[test]
    fn unknown_paths_are_404() {
        for target in ["/index.html", "/favicon.ico", "//", "/x?y"] {
            let answer = answer("GET", target);
            assert_eq!(answer.status, "404 Not Found", "{target}");
            assert!(answer.body.contains(target));
        }
    }

    #[test]
    fn other_methods_are_405_with_allow() {
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            let answer = answer(method, "/");
            assert_eq!(answer.status, "405 Method Not Allowed");
            assert!(answer.extra_headers.contains("Allow: GET, HEAD"));
            assert!(answer.body.starts_with(method));
        }
    }

    #[test]
    fn page_is_self_contained() {
        for outside in ["src=\"http", "href=\"http", "//cdn", "@import", "url("] {
            assert!(
                !PAGE.contains(outside),
                "the page refers outside: {outside}"
            );
        }
    }
}
