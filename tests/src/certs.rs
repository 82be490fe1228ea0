//! Certificates made by the test itself (with rcgen): a root authority, an intermediate one, and
//! server certificates it signs, written as PEM files into a folder removed afterwards.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A private public-key infrastructure: `ca.pem` (the root, for clients to trust), and the
/// server's `cert.pem` (its certificate for `localhost` and `127.0.0.1`, then the intermediate
/// that signed it: a chain) with `key.pem`.
pub struct Pki {
    /// The folder holding the files; removed when dropped.
    dir: PathBuf,
    /// The intermediate authority, which signs the server certificates.
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, as files.
pub struct ServerFiles {
    /// The certificate chain (the server's certificate, then the intermediate).
    pub cert: PathBuf,
    /// Its private key (PKCS#8).
    pub key: PathBuf,
}

impl Pki {
    /// A fresh authority, and a valid server certificate for `localhost` and `127.0.0.1`.
    pub fn new() -> Pki {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "prodcon-pki-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary folder can be made");
        let root = CertifiedIssuer::self_signed(authority("prodcon test root"), key())
            .expect("rcgen signs a root");
        let intermediate =
            CertifiedIssuer::signed_by(authority("prodcon test intermediate"), key(), &root)
                .expect("rcgen signs an intermediate");
        std::fs::write(dir.join("ca.pem"), root.pem()).expect("ca.pem is written");
        let pki = Pki { dir, intermediate };
        pki.server("server", &["localhost", "127.0.0.1"], false);
        pki
    }

    /// The root authority, for clients to trust.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The valid server certificate for `localhost` and `127.0.0.1`.
    pub fn valid(&self) -> ServerFiles {
        self.files("server")
    }

    /// A file in the folder (written by the test, say).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Makes `NAME-cert.pem` and `NAME-key.pem`: a certificate for `names` (host names or IP
    /// addresses) signed by the intermediate, expired since 2020 when `expired`.
    pub fn server(&self, name: &str, names: &[&str], expired: bool) -> ServerFiles {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("valid names");
        params
            .distinguished_name
            .push(DnType::CommonName, "prodcon test server");
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = key();
        let cert = params
            .signed_by(&key, &self.intermediate)
            .expect("rcgen signs a server certificate");
        let files = self.files(name);
        let chain = format!("{}{}", cert.pem(), self.intermediate.pem());
        std::fs::write(&files.cert, chain).expect("the certificate is written");
        std::fs::write(&files.key, key.serialize_pem()).expect("the key is written");
        files
    }

    fn files(&self, name: &str) -> ServerFiles {
        ServerFiles {
            cert: self.dir.join(format!("{name}-cert.pem")),
            key: self.dir.join(format!("{name}-key.pem")),
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The parameters of a certificate authority named `name`.
fn authority(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names is valid");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A new ECDSA P-256 key.
fn key() -> KeyPair {
    KeyPair::generate().expect("rcgen makes a key")
}

/// A path as a string, for command lines.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
