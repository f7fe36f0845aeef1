//! TLS by default (§7.4, DESIGN "TLS between agent and server"): without a configured certificate the
//! server makes its own CA and server certificate at first start, keeps them in the data directory
//! (keys 0600), and prints the CA's fingerprint for agents to pin at enrollment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("making a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{}: no {what} in this PEM file", path.display())]
    Pem { path: PathBuf, what: &'static str },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// What the server serves with.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    pub config: Arc<rustls::ServerConfig>,
    /// The CA certificate (PEM) agents pin, and its SHA-256 fingerprint.
    pub ca_pem: String,
    pub ca_fingerprint: String,
}

/// SHA-256 of a DER certificate, as colon-separated upper-case hex (`AB:CD:…`).
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write(path: &Path, data: &str, secret: bool) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    std::io::Write::write_all(&mut file, data.as_bytes()).map_err(io)
}

/// Loads the server's TLS material from `dir`, making a CA and a certificate for `names` first if
/// there is none. An existing CA is kept: re-enrolling every agent is never needed.
pub fn load_or_create(dir: &Path, names: &[String]) -> Result<TlsMaterial, TlsError> {
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let (ca_cert, ca_key, cert, key) = (
        dir.join("ca.pem"),
        dir.join("ca.key"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    if !ca_cert.exists() {
        let ca_keys = KeyPair::generate()?;
        let ca_certificate = ca_params()?.self_signed(&ca_keys)?;
        write(&ca_key, &ca_keys.serialize_pem(), true)?;
        write(&ca_cert, &ca_certificate.pem(), false)?;
    }
    if !cert.exists() {
        // The issuer is rebuilt from the same name and key: certificates it signs verify against
        // the CA certificate agents already pinned.
        let ca_keys = KeyPair::from_pem(&String::from_utf8_lossy(&read(&ca_key)?))?;
        let issuer = ca_params()?.self_signed(&ca_keys)?;
        let server_keys = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().map_or("patchwarden", String::as_str));
        for name in names {
            params.subject_alt_names.push(match name.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(name.clone().try_into()?),
            });
        }
        let certificate = params.signed_by(&server_keys, &issuer, &ca_keys)?;
        write(&key, &server_keys.serialize_pem(), true)?;
        write(
            &cert,
            &format!("{}{}", certificate.pem(), String::from_utf8_lossy(&read(&ca_cert)?)),
            false,
        )?;
    }
    load(&cert, &key, &ca_cert)
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "patchwarden CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(ca)
}

/// Loads a certificate chain, its key and the CA that agents pin.
pub fn load(cert: &Path, key: &Path, ca: &Path) -> Result<TlsMaterial, TlsError> {
    let chain: Vec<_> = rustls_pemfile::certs(&mut &read(cert)?[..])
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: cert.to_owned(),
            what: "certificate",
        });
    }
    let private_key = rustls_pemfile::private_key(&mut &read(key)?[..])
        .ok()
        .flatten()
        .ok_or_else(|| TlsError::Pem {
            path: key.to_owned(),
            what: "private key",
        })?;
    let ca_bytes = read(ca)?;
    let ca_der = rustls_pemfile::certs(&mut &ca_bytes[..])
        .find_map(Result::ok)
        .ok_or_else(|| TlsError::Pem {
            path: ca.to_owned(),
            what: "certificate",
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)?;
    Ok(TlsMaterial {
        config: Arc::new(config),
        ca_pem: String::from_utf8_lossy(&ca_bytes).into_owned(),
        ca_fingerprint: fingerprint(&ca_der),
    })
}
