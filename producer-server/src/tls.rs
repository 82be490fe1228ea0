//! TLS: the certificate and key given with `--tls-cert` and `--tls-key`, loaded once at start
//! into the acceptor every connection goes through.
//!
//! rustls with the ring provider: no OpenSSL to build or to link. Every problem with the files is
//! found here, before the server listens, and said in one line naming the file.

use common::pem_file;
use futures_rustls::TlsAcceptor;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{Error as RustlsError, InconsistentKeys, ServerConfig};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A certificate or key file that cannot serve, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct TlsFileError {
    /// The file at fault, as given on the command line.
    pub file: PathBuf,
    /// What is wrong with it and what to do.
    pub problem: String,
}

impl TlsFileError {
    fn new(file: &Path, problem: impl Into<String>) -> Self {
        TlsFileError {
            file: file.to_path_buf(),
            problem: problem.into(),
        }
    }
}

/// The acceptor for connections on a TLS port, from a PEM certificate chain (the server's
/// certificate first, then any intermediates) and its PEM private key (PKCS#8, PKCS#1 RSA or
/// SEC1 EC).
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsFileError> {
    let chain = read_chain(cert_file)?;
    let key = read_key(key_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFileError::new(cert_file, format!("no TLS version available: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| match error {
            RustlsError::InconsistentKeys(InconsistentKeys::KeyMismatch) => TlsFileError::new(
                key_file,
                format!(
                    "this key does not match the certificate in {}; give the key the certificate was made for",
                    cert_file.display()
                ),
            ),
            RustlsError::InvalidCertificate(why) => TlsFileError::new(
                cert_file,
                format!("the first certificate cannot be used: {why:?}"),
            ),
            other => TlsFileError::new(
                key_file,
                format!("not a usable private key ({other}); give an RSA, ECDSA or Ed25519 key in PEM"),
            ),
        })?;
    // WebSocket upgrades and the page are HTTP/1.1; a browser offering h2 falls back to it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The PEM certificates in `file`, in order.
fn read_chain(file: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let bytes = read(file, "certificate chain")?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsFileError::new(file, not_pem(&e, "CERTIFICATE")))?;
    if chain.is_empty() {
        return Err(TlsFileError::new(
            file,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the server's certificate chain in PEM",
        ));
    }
    Ok(chain)
}

/// The first PEM private key in `file`.
fn read_key(file: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let bytes = read(file, "private key")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsFileError::new(
            file,
            "holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY); give the certificate's key in PEM",
        ),
        other => TlsFileError::new(file, not_pem(&other, "PRIVATE KEY")),
    })
}

/// The whole of `file`, meant to hold a PEM `what`, or why it cannot be read.
fn read(file: &Path, what: &str) -> Result<Vec<u8>, TlsFileError> {
    File::open(file).and_then(pem_file::read).map_err(|error| {
        let problem = match error.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "permission denied: the server cannot read it".to_string()
            }
            std::io::ErrorKind::FileTooLarge => format!(
                "larger than {}, far more than a PEM {what} holds; is it the right file?",
                pem_file::MAX_LEN_TEXT
            ),
            _ => format!("cannot read it: {error}"),
        };
        TlsFileError::new(file, problem)
    })
}

/// Why PEM text could not be read, for a file meant to hold `what`.
fn not_pem(error: &pem::Error, what: &str) -> String {
    format!("not valid PEM ({error}); expected -----BEGIN {what}----- sections")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named() {
        let Err(error) = acceptor(Path::new("/nonexistent/cert.pem"), Path::new("key.pem")) else {
            panic!("a missing certificate file must fail");
        };
        assert_eq!(error.file, Path::new("/nonexistent/cert.pem"));
        assert_eq!(error.to_string(), "/nonexistent/cert.pem: no such file");
    }

    #[test]
    fn an_endless_file_is_refused_not_read_whole() {
        let Err(error) = acceptor(Path::new("/dev/zero"), Path::new("key.pem")) else {
            panic!("/dev/zero must fail");
        };
        assert_eq!(error.file, Path::new("/dev/zero"));
        assert!(
            error.problem.starts_with("larger than 1 MiB")
                && error.problem.contains("certificate chain"),
            "{error}"
        );
    }

    #[test]
    fn text_that_is_not_pem_holds_no_certificate() {
        let dir = std::env::temp_dir().join(format!("prodcon-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("cert.pem");
        std::fs::write(&file, "hello\n").unwrap();
        let error = read_chain(&file).unwrap_err();
        assert!(error.problem.contains("no PEM certificate"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
