//! HTTPS to the server, and only HTTPS: the CA is pinned at enrollment by its SHA-256 fingerprint,
//! and every later connection trusts that CA alone (§7.4, DESIGN "TLS between agent and server").

use std::io::{Read, Write};
use std::sync::Arc;

use patchwarden_proto::{EnrollRequest, EnrollResponse, ErrorBody, JobResult, Report, ReportResponse};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::Digest;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the server URL must start with https:// (found {0:?})")]
    NotHttps(String),
    #[error("cannot reach the server: {0}")]
    Network(String),
    #[error("the server refused ({status} {code}): {message}")]
    Refused { status: u16, code: String, message: String },
    #[error("the server's CA has fingerprint {found}, not the {expected} given: refusing to trust it")]
    WrongFingerprint { expected: String, found: String },
    #[error("the server's answer is not what was expected: {0}")]
    Answer(String),
    #[error("TLS: {0}")]
    Tls(String),
}

impl ClientError {
    /// Whether trying again later may work (the network, the server down, a server error).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Network(_) => true,
            ClientError::Refused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// `AB:CD:…`, from any spelling (case, colons or none).
pub fn normalize_fingerprint(text: &str) -> String {
    let hex: String = text
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hex.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

fn fingerprint(der: &[u8]) -> String {
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any certificate: used once, to fetch the CA whose fingerprint is then checked.
#[derive(Debug)]
struct FetchOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for FetchOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn agent(config: rustls::ClientConfig) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .tls_config(Arc::new(config))
        .timeout_connect(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120))
        .build()
}

fn check_https(base: &str) -> Result<String, ClientError> {
    if !base.starts_with("https://") {
        return Err(ClientError::NotHttps(base.to_owned()));
    }
    Ok(base.trim_end_matches('/').to_owned())
}

/// Fetches the server's CA and checks it against the fingerprint an administrator gave.
pub fn fetch_ca(base: &str, expected_fingerprint: &str) -> Result<String, ClientError> {
    let base = check_https(base)?;
    let provider = provider();
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(FetchOnly(provider)))
        .with_no_client_auth();
    let pem = agent(config)
        .get(&format!("{base}/api/v1/agent/ca"))
        .call()
        .map_err(error)?
        .into_string()
        .map_err(|e| ClientError::Answer(e.to_string()))?;
    let der = rustls_pemfile::certs(&mut pem.as_bytes())
        .find_map(Result::ok)
        .ok_or_else(|| ClientError::Answer("no certificate in the CA answer".into()))?;
    let (expected, found) = (normalize_fingerprint(expected_fingerprint), fingerprint(&der));
    if expected != found {
        return Err(ClientError::WrongFingerprint { expected, found });
    }
    Ok(pem)
}

/// A client that trusts only the pinned CA.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
}

fn error(e: ureq::Error) -> ClientError {
    match e {
        ureq::Error::Status(status, response) => {
            let text = response.into_string().unwrap_or_default();
            match serde_json::from_str::<ErrorBody>(&text) {
                Ok(body) => ClientError::Refused {
                    status,
                    code: body.error.code,
                    message: body.error.message,
                },
                Err(_) => ClientError::Refused {
                    status,
                    code: "http".into(),
                    message: text.chars().take(200).collect(),
                },
            }
        }
        ureq::Error::Transport(t) => ClientError::Network(t.to_string()),
    }
}

impl Client {
    pub fn new(base: &str, ca_pem: &str) -> Result<Client, ClientError> {
        let base = check_https(base)?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()).filter_map(Result::ok) {
            roots.add(cert).map_err(|e| ClientError::Tls(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(ClientError::Tls("the pinned CA file holds no certificate".into()));
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            agent: agent(config),
            base,
        })
    }

    pub fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, ClientError> {
        let response = self
            .agent
            .post(&format!("{}/api/v1/agent/enroll", self.base))
            .send_json(request)
            .map_err(error)?;
        response.into_json().map_err(|e| ClientError::Answer(e.to_string()))
    }

    /// Fetches a file from the server's patch store (at most 256 MiB). The caller checks it.
    pub fn patch_file(&self, host_id: &str, credential: &str, sha256: &str) -> Result<Vec<u8>, ClientError> {
        let response = self
            .agent
            .get(&format!(
                "{}/api/v1/agent/hosts/{host_id}/patch-files/{sha256}",
                self.base
            ))
            .set("Authorization", &format!("Bearer {credential}"))
            .call()
            .map_err(error)?;
        let mut bytes = Vec::new();
        response
            .into_reader()
            .take(256 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| ClientError::Answer(e.to_string()))?;
        Ok(bytes)
    }

    /// Tells the server what became of a job.
    pub fn job_result(
        &self,
        host_id: &str,
        credential: &str,
        job: &str,
        result: &JobResult,
    ) -> Result<(), ClientError> {
        self.agent
            .post(&format!("{}/api/v1/agent/hosts/{host_id}/jobs/{job}", self.base))
            .set("Authorization", &format!("Bearer {credential}"))
            .send_json(result)
            .map_err(error)?;
        Ok(())
    }

    /// Delivers one report, gzip-compressed.
    pub fn send(&self, host_id: &str, credential: &str, report: &Report) -> Result<ReportResponse, ClientError> {
        let json = serde_json::to_vec(report).map_err(|e| ClientError::Answer(e.to_string()))?;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&json)
            .and_then(|()| gzip.flush())
            .map_err(|e| ClientError::Answer(e.to_string()))?;
        let body = gzip.finish().map_err(|e| ClientError::Answer(e.to_string()))?;
        let response = self
            .agent
            .post(&format!("{}/api/v1/agent/hosts/{host_id}/reports", self.base))
            .set("Authorization", &format!("Bearer {credential}"))
            .set("Content-Type", "application/json")
            .set("Content-Encoding", "gzip")
            .send_bytes(&body)
            .map_err(error)?;
        let mut text = String::new();
        response
            .into_reader()
            .take(1 << 20)
            .read_to_string(&mut text)
            .map_err(|e| ClientError::Answer(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| ClientError::Answer(e.to_string()))
    }
}
