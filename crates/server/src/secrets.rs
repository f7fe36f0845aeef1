//! Secrets: random tokens, their hashes, and passwords (§7.4: no default passwords; passwords follow
//! a minimum standard). Secrets are never logged; only hashes are stored.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random secret: 32 bytes, hex.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A new random id: 16 bytes, hex.
pub fn id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// SHA-256, hex. Enough for long random tokens, which cannot be guessed; passwords use argon2id.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(data))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must have at least 12 characters")]
    TooShort,
    #[error("password is too easy to guess (strength {score} of 4, at least 3 needed){hint}")]
    TooWeak { score: u8, hint: String },
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Checks a new password against the policy: at least 12 characters and a zxcvbn score of 3.
pub fn check_password(password: &str, user_inputs: &[&str]) -> Result<(), PasswordError> {
    if password.chars().count() < 12 {
        return Err(PasswordError::TooShort);
    }
    let estimate = zxcvbn::zxcvbn(password, user_inputs);
    let score = u8::from(estimate.score());
    if score < 3 {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| format!(": {w}")))
            .unwrap_or_default();
        return Err(PasswordError::TooWeak { score, hint });
    }
    Ok(())
}

/// argon2id with a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_the_policy() {
        assert_eq!(check_password("short", &[]), Err(PasswordError::TooShort));
        assert!(matches!(
            check_password("password1234", &[]),
            Err(PasswordError::TooWeak { .. })
        ));
        assert!(matches!(
            check_password("alicealice12", &["alice"]),
            Err(PasswordError::TooWeak { .. })
        ));
        check_password("correct horse battery staple", &[]).unwrap();
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery staple", &hash));
        assert!(!verify_password("correct horse battery stapler", &hash));
    }
}
