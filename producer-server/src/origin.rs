//! Which web pages may open a WebSocket here: the defence against cross-site WebSocket hijacking.
//!
//! A browser lets any page it shows open a WebSocket to any server, and says which page asked in
//! the `Origin` header. So by default a handshake that carries an `Origin` is accepted only when
//! that origin names this very server (its host and port match the request's `Host` header, and
//! the host is an IP address or localhost): the built-in page may connect, a page from elsewhere
//! may not. A page served under a host name needs `--allowed-origin`: otherwise a site could
//! point its own name at this server (DNS rebinding) and pass for it. Clients that send no `Origin`
//! (command-line tools, libraries) are not browsers acting for another site, and are accepted.
//! `--allowed-origin` adds origins, or allows all with `*`.

use ::http::uri::Authority;
use std::str::FromStr;

/// An origin as browsers send it, `scheme://host[:port]`, normalised so that equal origins compare
/// equal: lower-case scheme and host, and the scheme's default port written out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http`, `https`, ... in lower case.
    scheme: String,
    /// The host name or IP address in lower case, IPv6 addresses with their brackets.
    host: String,
    /// The port, the scheme's default when the origin names none.
    port: Option<u16>,
}

/// One `--allowed-origin` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigin {
    /// `*`: every origin.
    Any,
    /// Exactly this origin.
    Exact(Origin),
}

/// Why a handshake's origin is refused; the text is the body of the 403 answer.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("Origin {origin} may not connect: only pages of this server may, unless it is started with --allowed-origin {origin}")]
pub struct Refused {
    /// The `Origin` header as the client sent it.
    pub origin: String,
}

/// Why a text is not an origin (an `--allowed-origin` value, say); each says what to write.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadOrigin {
    /// No `://` between a scheme and a host.
    #[error("{0:?} is not an origin such as http://example.com:8080")]
    NoScheme(String),
    /// A bad scheme, a bad host or port, or a path, query, fragment or user name after the host.
    #[error("{0:?} is not an origin: write scheme://host[:port] with no path, such as http://example.com:8080")]
    NotAnOrigin(String),
}

/// Decides whether a handshake with header `origin` (if any) sent to `host` (the `Host` header)
/// may go on, given the `--allowed-origin` values.
pub fn check(
    origin: Option<&str>,
    host: Option<&str>,
    allowed: &[AllowedOrigin],
) -> Result<(), Refused> {
    let Some(text) = origin else {
        return Ok(());
    };
    let refused = || Refused {
        origin: text.to_string(),
    };
    if allowed.contains(&AllowedOrigin::Any) {
        return Ok(());
    }
    // Opaque origins (`null`: data: URLs, sandboxed frames, files) name no site: refused.
    let origin = text.parse::<Origin>().map_err(|_| refused())?;
    // A host name proves nothing: a site can point its own name at this machine (DNS
    // rebinding), and its pages then match their Host. Only an address, or localhost, which no
    // site can claim, makes a matching page this server's own.
    let same_host =
        host.is_some_and(|host| origin.is_host(host)) && origin.is_address_or_localhost();
    if same_host || allowed.contains(&AllowedOrigin::Exact(origin)) {
        Ok(())
    } else {
        Err(refused())
    }
}

impl Origin {
    /// Whether the host is an IP address or `localhost` (or a name under it).
    fn is_address_or_localhost(&self) -> bool {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>().is_ok()
            || self.host == "localhost"
            || self.host.ends_with(".localhost")
    }

    /// Whether this origin's host and port are those of a `Host` header, `host[:port]`. A `Host`
    /// without a port means the default port of the origin's scheme, as a browser would send it.
    fn is_host(&self, host: &str) -> bool {
        let Some((name, port)) = split_authority(host) else {
            return false;
        };
        name.eq_ignore_ascii_case(&self.host) && port.or(default_port(&self.scheme)) == self.port
    }
}

impl FromStr for Origin {
    type Err = BadOrigin;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| BadOrigin::NoScheme(text.to_string()))?;
        // People copy origins from the address bar: a lone trailing slash is harmless.
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !valid_scheme || authority.contains(['/', '?', '#', '@']) {
            return Err(BadOrigin::NotAnOrigin(text.to_string()));
        }
        let (host, port) =
            split_authority(authority).ok_or_else(|| BadOrigin::NotAnOrigin(text.to_string()))?;
        let scheme = scheme.to_ascii_lowercase();
        Ok(Origin {
            port: port.or(default_port(&scheme)),
            host: host.to_ascii_lowercase(),
            scheme,
        })
    }
}

impl FromStr for AllowedOrigin {
    type Err = BadOrigin;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "*" => Ok(AllowedOrigin::Any),
            origin => origin.parse().map(AllowedOrigin::Exact),
        }
    }
}

/// Splits `host[:port]` (`[v6]:port` for IPv6, brackets kept in the host) into the host and the
/// port, if any; `None` if it is not `host[:port]`.
fn split_authority(text: &str) -> Option<(&str, Option<u16>)> {
    let authority = text.parse::<Authority>().ok()?;
    let host = authority.host();
    // `Authority` takes a user name before `@`, and reads a port that is not a number as none:
    // neither belongs in an origin or a `Host` header.
    let port = authority.port_u16();
    let has_port = authority.as_str().len() > host.len();
    if host.is_empty() || text.contains('@') || (has_port && port.is_none()) {
        return None;
    }
    // Borrowed from `text`, not from the parsed `Authority`, which lives only here.
    Some((&text[..host.len()], port))
}

/// The port a URL of `scheme` means when it names none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: Option<&str> = Some("127.0.0.1:8765");

    fn allow(origins: &[&str]) -> Vec<AllowedOrigin> {
        origins.iter().map(|o| o.parse().unwrap()).collect()
    }

    #[test]
    fn same_host_origin_is_allowed() {
        assert_eq!(check(Some("http://127.0.0.1:8765"), HOST, &[]), Ok(()));
        assert_eq!(
            check(Some("https://localhost"), Some("LocalHost:443"), &[]),
            Ok(())
        );
        assert_eq!(
            check(Some("http://[::1]:8765"), Some("[::1]:8765"), &[]),
            Ok(())
        );
    }

    #[test]
    fn foreign_origin_is_refused_and_named() {
        let refused = check(Some("http://evil.example"), HOST, &[]).unwrap_err();
        assert_eq!(refused.origin, "http://evil.example");
        assert!(refused
            .to_string()
            .contains("--allowed-origin http://evil.example"));
        // Same host, other port: another site as far as browsers are concerned.
        assert!(check(Some("http://127.0.0.1:9000"), HOST, &[]).is_err());
        // No Host to compare with.
        assert!(check(Some("http://127.0.0.1:8765"), None, &[]).is_err());
    }

    #[test]
    fn absent_origin_is_allowed() {
        assert_eq!(check(None, HOST, &[]), Ok(()));
        assert_eq!(check(None, None, &[]), Ok(()));
    }

    #[test]
    fn star_allows_everything_even_null() {
        let any = allow(&["*"]);
        assert_eq!(check(Some("http://evil.example"), HOST, &any), Ok(()));
        assert_eq!(check(Some("null"), HOST, &any), Ok(()));
    }

    #[test]
    fn opaque_origin_is_refused_by_default() {
        assert!(check(Some("null"), HOST, &[]).is_err());
    }

    #[test]
    fn explicit_list_allows_exactly_its_origins() {
        let list = allow(&["http://example.com:8080", "https://app.example"]);
        assert_eq!(check(Some("http://example.com:8080"), HOST, &list), Ok(()));
        assert_eq!(check(Some("https://app.example"), HOST, &list), Ok(()));
        assert!(check(Some("http://example.com"), HOST, &list).is_err());
        assert!(check(Some("https://example.com:8080"), HOST, &list).is_err());
        assert!(check(Some("http://app.example"), HOST, &list).is_err());
        // The server's own pages stay allowed alongside the list.
        assert_eq!(check(Some("http://127.0.0.1:8765"), HOST, &list), Ok(()));
    }

    #[test]
    fn scheme_and_host_compare_case_insensitively() {
        let list = allow(&["HTTP://Example.COM:8080/"]);
        assert_eq!(check(Some("http://example.com:8080"), HOST, &list), Ok(()));
        assert_eq!(check(Some("Http://EXAMPLE.com:8080"), HOST, &list), Ok(()));
    }

    #[test]
    fn default_ports_are_written_out() {
        let list = allow(&["http://example.com:80", "https://example.com"]);
        assert_eq!(check(Some("http://example.com"), HOST, &list), Ok(()));
        assert_eq!(check(Some("https://example.com:443"), HOST, &list), Ok(()));
        assert_eq!(
            check(Some("http://127.0.0.1"), Some("127.0.0.1:80"), &[]),
            Ok(())
        );
        assert_eq!(
            check(Some("http://127.0.0.1:80"), Some("127.0.0.1"), &[]),
            Ok(())
        );
    }

    #[test]
    fn a_host_name_matching_its_own_origin_is_not_enough() {
        // DNS rebinding: evil.example now resolves to this server, and its page asks for it.
        let rebound = Some("evil.example:8765");
        assert!(check(Some("http://evil.example:8765"), rebound, &[]).is_err());
        let named = allow(&["http://myhost:8765"]);
        assert_eq!(
            check(Some("http://myhost:8765"), Some("myhost:8765"), &named),
            Ok(())
        );
        assert_eq!(
            check(
                Some("http://app.localhost:8765"),
                Some("app.localhost:8765"),
                &[]
            ),
            Ok(())
        );
    }

    #[test]
    fn bad_allowed_origins_are_refused_with_an_example() {
        for bad in [
            "example.com",
            "http://example.com/app",
            "http://user@example.com",
            "http://:80",
            "http://x:port",
            "http://x:",
            "http://[::1",
            "http://a:1:2",
        ] {
            let error = bad.parse::<AllowedOrigin>().unwrap_err().to_string();
            assert!(
                error.contains(bad) && error.contains(":8080"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets_and_ports() {
        assert_eq!(split_authority("[::1]:8765"), Some(("[::1]", Some(8765))));
        assert_eq!(split_authority("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_authority("Example.com"), Some(("Example.com", None)));
        assert_eq!(split_authority("[::1]:x"), None);
        let origin: Origin = "http://[::1]".parse().unwrap();
        assert_eq!(origin.port, Some(80));
        assert_eq!(origin.host, "[::1]");
    }
}
