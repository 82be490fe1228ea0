//! `wss://`: TLS with rustls (ring provider, no OpenSSL), verified against the system's roots
//! and any `--ca` given; and the byte stream of a connection, plain or TLS.
//!
//! The system's roots come from `rustls-native-certs`, which reads the operating system's own
//! store (`/etc/ssl/certs` on Debian, the `ca-certificates` package): it needs no network, follows
//! the authorities the operator installs there, and is refreshed with the system, where a copy
//! compiled into the binary (`webpki-roots`) would age with it.

use crate::error::ClientError;
use crate::runtime::TcpStream;
use common::pem_file;
use futures::future::Either;
use futures_rustls::client::TlsStream;
use futures_rustls::TlsConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, Error as RustlsError, RootCertStore};
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A connection's bytes: plain TCP for `ws://` (left), TLS over it for `wss://` (right), read
/// and written alike through `Either`'s own `AsyncRead` and `AsyncWrite`. TLS is boxed:
/// rustls's state is a few KiB.
pub type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// The TLS client for `wss://` URLs: the system's roots, and the certificate authorities in
/// `ca` (PEM) when given.
pub fn connector(ca: Option<&Path>) -> Result<TlsConnector, ClientError> {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    for error in &system.errors {
        log::debug!("some of the system's certificate authorities cannot be read: {error}");
    }
    let (added, ignored) = roots.add_parsable_certificates(system.certs);
    log::debug!("{added} system certificate authorities ({ignored} unusable)");
    if let Some(file) = ca {
        for authority in read_authorities(file)? {
            roots.add(authority).map_err(|error| {
                ClientError::Ca(format!(
                    "--ca {}: not a usable certificate authority: {error}",
                    file.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ClientError::Ca(format!("no TLS version available: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The PEM certificates in `file`.
fn read_authorities(file: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let problem = |what: String| ClientError::Ca(format!("--ca {}: {what}", file.display()));
    let bytes = File::open(file)
        .and_then(pem_file::read)
        .map_err(|error| match error.kind() {
            io::ErrorKind::FileTooLarge => problem(format!(
                "larger than {}, far more than PEM certificate authorities hold; is it the right file?",
                pem_file::MAX_LEN_TEXT
            )),
            _ => problem(format!("cannot read it: {error}")),
        })?;
    let authorities = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| problem(format!("not valid PEM: {error}")))?;
    if authorities.is_empty() {
        return Err(problem(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(authorities)
}

/// Runs the TLS handshake over `tcp` with the server named `host`.
pub async fn secure(tcp: TcpStream, host: &str, connector: &TlsConnector) -> io::Result<Stream> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let stream = connector.connect(name, tcp).await?;
    Ok(Either::Right(Box::new(stream)))
}

/// Why a TLS handshake failed, in words, when `error` is a TLS failure rather than the network's.
/// Such a failure comes back the same on every attempt: it is not worth retrying.
pub fn failure(error: &io::Error) -> Option<String> {
    let tls = error.get_ref()?.downcast_ref::<RustlsError>()?;
    let reason = match tls {
        RustlsError::InvalidCertificate(why) => match why {
            CertificateError::UnknownIssuer => "the server's certificate is not signed by a trusted authority (unknown issuer); for a private authority, pass it with --ca FILE".to_string(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the server's certificate is not valid for this host name (wrong name); connect with a name the certificate lists".to_string()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired; the server needs a new one".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (is this machine's clock right?)".to_string()
            }
            CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                "the server's certificate is a certificate authority's (CA:TRUE), which cannot be a server's own; make a server certificate (CA:FALSE) signed by it".to_string()
            }
            CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                "the server's certificate does not check out against the trusted authority of its issuer's name (bad signature, or one made with another kind of key): is it signed by another authority of the same name? Pass the one that signed it with --ca FILE".to_string()
            }
            CertificateError::Other(other) => {
                format!("the server's certificate was refused: {}", other.0)
            }
            other => format!("the server's certificate was refused: {other}"),
        },
        RustlsError::InvalidMessage(_) | RustlsError::InappropriateMessage { .. } => {
            "the server does not speak TLS on this port; is it ws:// rather than wss://?".to_string()
        }
        RustlsError::AlertReceived(alert) => {
            format!("the server refused the TLS handshake ({alert:?})")
        }
        other => other.to_string(),
    };
    Some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_errors_are_not_tls_failures() {
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        assert!(failure(&reset).is_none());
        let unknown = io::Error::new(
            io::ErrorKind::InvalidData,
            RustlsError::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert!(failure(&unknown).unwrap().contains("--ca"));
    }

    #[test]
    fn a_signature_that_does_not_check_out_is_told_in_words() {
        // What rustls reports when an authority of the same name (a system certificate for
        // localhost, say) is taken for the issuer: its own text is the variant's Debug form.
        let mismatch = CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id: vec![0x2a, 0x86, 0x48],
            public_key_algorithm_id: vec![0x2a, 0x86, 0x48],
        };
        for why in [CertificateError::BadSignature, mismatch] {
            let error = io::Error::new(
                io::ErrorKind::InvalidData,
                RustlsError::InvalidCertificate(why),
            );
            let text = failure(&error).unwrap();
            assert!(text.contains("--ca"), "{text}");
            assert!(!text.contains('{') && !text.contains('\n'), "{text}");
        }
    }

    #[test]
    fn an_endless_ca_file_is_refused_not_read_whole() {
        let Err(error) = connector(Some(Path::new("/dev/zero"))) else {
            panic!("--ca /dev/zero must fail");
        };
        assert!(error
            .to_string()
            .starts_with("--ca /dev/zero: larger than 1 MiB"));
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let Err(error) = connector(Some(Path::new("/nonexistent/ca.pem"))) else {
            panic!("a missing --ca file must fail");
        };
        assert!(error
            .to_string()
            .starts_with("--ca /nonexistent/ca.pem: cannot read it"));
    }
}
