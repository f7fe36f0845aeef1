//! Directory groups (§7.2.2): computer objects and their group membership, nested groups
//! included, read from LDAP or Active Directory over LDAPS or StartTLS, mapped onto hosts by DNS
//! name or name, and refreshed on a schedule. The bind password is stored sealed with a key that
//! lives only in the data directory, and is never logged or returned.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::state::AppState;

/// The settings key that holds the directory configuration.
pub const SETTING: &str = "directory";

/// How the server reaches the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryConfig {
    /// `ldaps://host:636` or `ldap://host:389` with `starttls`.
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    /// The CA that signed the directory's certificate (PEM).
    pub ca_pem: String,
    pub bind_dn: String,
    /// The bind password sealed with the data directory's key (hex of nonce ‖ ciphertext).
    pub sealed_password: String,
    pub base_dn: String,
    pub computer_filter: String,
    pub group_filter: String,
    /// Minutes between refreshes.
    pub refresh_minutes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}")]
    Invalid(String),
    #[error("directory {url}: {message}")]
    Ldap { url: String, message: String },
    #[error("the directory's bind password cannot be unsealed: the data directory's key changed")]
    Unseal,
    #[error("{0}")]
    Store(#[from] patchwarden_store::StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The key that seals secrets at rest: 32 random bytes in `DATA_DIR/secrets.key` (mode 0600), made
/// at first use.
pub fn load_or_create_key(data_dir: &Path) -> Result<[u8; 32], DirectoryError> {
    let path = data_dir.join("secrets.key");
    if let Ok(bytes) = std::fs::read(&path) {
        return bytes
            .try_into()
            .map_err(|_| DirectoryError::Invalid(format!("{} is not a 32-byte key", path.display())));
    }
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| DirectoryError::Invalid("no randomness for the secrets key".into()))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(&key)?;
        file.sync_all()?;
    }
    Ok(key)
}

fn cipher(key: &[u8; 32]) -> Result<LessSafeKey, DirectoryError> {
    UnboundKey::new(&aead::CHACHA20_POLY1305, key)
        .map(LessSafeKey::new)
        .map_err(|_| DirectoryError::Invalid("bad secrets key".into()))
}

/// Seals a secret: a fresh nonce, then ChaCha20-Poly1305.
pub fn seal(key: &[u8; 32], secret: &str) -> Result<String, DirectoryError> {
    let mut nonce = [0u8; 12];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| DirectoryError::Invalid("no randomness for a nonce".into()))?;
    let mut data = secret.as_bytes().to_vec();
    cipher(key)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .map_err(|_| DirectoryError::Invalid("sealing failed".into()))?;
    Ok(hex::encode([nonce.as_slice(), &data].concat()))
}

pub fn unseal(key: &[u8; 32], sealed: &str) -> Result<String, DirectoryError> {
    let bytes = hex::decode(sealed).map_err(|_| DirectoryError::Unseal)?;
    if bytes.len() < 12 + aead::CHACHA20_POLY1305.tag_len() {
        return Err(DirectoryError::Unseal);
    }
    let (nonce, rest) = bytes.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| DirectoryError::Unseal)?;
    let mut data = rest.to_vec();
    let plain = cipher(key)?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .map_err(|_| DirectoryError::Unseal)?;
    String::from_utf8(plain.to_vec()).map_err(|_| DirectoryError::Unseal)
}

impl DirectoryConfig {
    /// Checks a configuration before it is stored: TLS is required (the bind password must not
    /// travel in clear), and the CA must parse.
    pub fn check(&self) -> Result<(), DirectoryError> {
        let ldaps = self.url.starts_with("ldaps://");
        if !ldaps && !self.url.starts_with("ldap://") {
            return Err(DirectoryError::Invalid(format!(
                "url {:?} is not ldaps:// or ldap://",
                self.url
            )));
        }
        if !ldaps && !self.starttls {
            return Err(DirectoryError::Invalid(
                "ldap:// needs starttls: the bind password must not travel in clear".into(),
            ));
        }
        if self.bind_dn.trim().is_empty() || self.base_dn.trim().is_empty() {
            return Err(DirectoryError::Invalid("bind_dn and base_dn are required".into()));
        }
        if self.refresh_minutes == 0 {
            return Err(DirectoryError::Invalid("refresh_minutes must be at least 1".into()));
        }
        tls_config(&self.ca_pem).map(drop)
    }
}

fn tls_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, DirectoryError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| DirectoryError::Invalid(format!("ca_pem: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| DirectoryError::Invalid(format!("ca_pem: {e}")))?;
    }
    if roots.is_empty() {
        return Err(DirectoryError::Invalid("ca_pem holds no certificate".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::Invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A computer object and every group it belongs to, directly or through nested groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computer {
    pub name: String,
    pub dns_name: String,
    pub groups: BTreeSet<String>,
}

/// Group names (`cn`) each member DN belongs to, nested groups followed to the top; cycles end.
pub fn memberships(groups: &[(String, String, Vec<String>)], member: &str) -> BTreeSet<String> {
    let mut containing: HashMap<String, Vec<(&str, &str)>> = HashMap::new();
    for (dn, cn, members) in groups {
        for m in members {
            containing
                .entry(m.to_ascii_lowercase())
                .or_default()
                .push((dn.as_str(), cn.as_str()));
        }
    }
    let mut out = BTreeSet::new();
    let mut seen = HashSet::new();
    let mut pending = vec![member.to_ascii_lowercase()];
    while let Some(dn) = pending.pop() {
        for (group_dn, cn) in containing.get(&dn).into_iter().flatten() {
            if seen.insert(group_dn.to_ascii_lowercase()) {
                out.insert((*cn).to_owned());
                pending.push(group_dn.to_ascii_lowercase());
            }
        }
    }
    out
}

fn ldap_error(url: &str) -> impl Fn(ldap3::LdapError) -> DirectoryError + '_ {
    move |e| DirectoryError::Ldap {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

/// Reads the computers and their groups.
pub async fn read(config: &DirectoryConfig, password: &str) -> Result<Vec<Computer>, DirectoryError> {
    let url = config.url.as_str();
    let err = ldap_error(url);
    let settings = LdapConnSettings::new()
        .set_config(tls_config(&config.ca_pem)?)
        .set_starttls(config.starttls)
        .set_conn_timeout(std::time::Duration::from_secs(30));
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, url).await.map_err(&err)?;
    ldap3::drive!(conn);
    ldap.simple_bind(&config.bind_dn, password)
        .await
        .and_then(ldap3::LdapResult::success)
        .map_err(&err)?;
    let (computers, _) = ldap
        .search(
            &config.base_dn,
            Scope::Subtree,
            &config.computer_filter,
            vec!["cn", "dNSHostName"],
        )
        .await
        .and_then(ldap3::SearchResult::success)
        .map_err(&err)?;
    let (groups, _) = ldap
        .search(
            &config.base_dn,
            Scope::Subtree,
            &config.group_filter,
            vec!["cn", "member"],
        )
        .await
        .and_then(ldap3::SearchResult::success)
        .map_err(&err)?;
    let _ = ldap.unbind().await;
    let first = |e: &SearchEntry, a: &str| e.attrs.get(a).and_then(|v| v.first()).cloned().unwrap_or_default();
    let groups: Vec<(String, String, Vec<String>)> = groups
        .into_iter()
        .map(SearchEntry::construct)
        .map(|e| {
            let cn = first(&e, "cn");
            let members = e.attrs.get("member").cloned().unwrap_or_default();
            (e.dn, cn, members)
        })
        .collect();
    Ok(computers
        .into_iter()
        .map(SearchEntry::construct)
        .map(|e| Computer {
            name: first(&e, "cn"),
            dns_name: first(&e, "dNSHostName"),
            groups: memberships(&groups, &e.dn),
        })
        .collect())
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub computers: usize,
    pub hosts_mapped: usize,
    pub at: i64,
}

/// Reads the directory and gives every host the groups of the computer object that is it: by
/// DNS name (the host's FQDN), else by name; hosts with no computer object have no groups.
pub async fn sync(state: &AppState, now: i64) -> Result<Option<SyncReport>, DirectoryError> {
    let Some(text) = state.store.setting(SETTING).await? else {
        return Ok(None);
    };
    let config: DirectoryConfig =
        serde_json::from_str(&text).map_err(|e| DirectoryError::Invalid(format!("stored directory settings: {e}")))?;
    let password = unseal(&state.secrets_key, &config.sealed_password)?;
    let computers = read(&config, &password).await?;
    let by_dns: HashMap<String, &Computer> = computers
        .iter()
        .filter(|c| !c.dns_name.is_empty())
        .map(|c| (c.dns_name.to_ascii_lowercase(), c))
        .collect();
    let by_name: HashMap<String, &Computer> = computers.iter().map(|c| (c.name.to_ascii_lowercase(), c)).collect();
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let mut mapped = 0;
    let all_facts = state.store.all_host_facts().await?;
    for host in state.store.hosts().await? {
        let facts: serde_json::Value = all_facts
            .get(&host.id)
            .and_then(|f| serde_json::from_str(f).ok())
            .unwrap_or_default();
        let fqdn = facts["fqdn"].as_str().unwrap_or_default().to_ascii_lowercase();
        let computer = by_dns
            .get(&fqdn)
            .or_else(|| by_name.get(&host.hostname.to_ascii_lowercase()))
            .or_else(|| {
                by_name.get(
                    host.hostname
                        .split('.')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase()
                        .as_str(),
                )
            });
        if computer.is_some() {
            mapped += 1;
        }
        groups.push((
            host.id,
            computer.map(|c| c.groups.iter().cloned().collect()).unwrap_or_default(),
        ));
    }
    let audit = patchwarden_store::Audit {
        actor: "directory-sync".into(),
        at: now,
    };
    state.store.set_directory_groups(&audit, &groups).await?;
    let report = SyncReport {
        computers: computers.len(),
        hosts_mapped: mapped,
        at: now,
    };
    state
        .store
        .set_setting(&audit, "directory_last_sync", &json!(report).to_string())
        .await?;
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_groups_are_followed_and_cycles_end() {
        let g = |dn: &str, cn: &str, members: &[&str]| {
            (
                dn.to_owned(),
                cn.to_owned(),
                members.iter().map(|m| (*m).to_owned()).collect(),
            )
        };
        let groups = vec![
            g("cn=ward-pcs,ou=groups", "ward-pcs", &["cn=pc1,ou=computers"]),
            g("cn=clinical,ou=groups", "clinical", &["CN=Ward-PCs,OU=Groups"]),
            g(
                "cn=all,ou=groups",
                "all",
                &["cn=clinical,ou=groups", "cn=loop,ou=groups"],
            ),
            g("cn=loop,ou=groups", "loop", &["cn=all,ou=groups"]),
        ];
        let found = memberships(&groups, "cn=PC1,ou=computers");
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            ["all", "clinical", "loop", "ward-pcs"]
        );
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = [7u8; 32];
        let sealed = seal(&key, "bind password").unwrap();
        assert!(!sealed.contains("bind"));
        assert_eq!(unseal(&key, &sealed).unwrap(), "bind password");
        assert!(matches!(unseal(&[8u8; 32], &sealed), Err(DirectoryError::Unseal)));
        assert_ne!(seal(&key, "bind password").unwrap(), sealed, "a fresh nonce each time");
    }
}
