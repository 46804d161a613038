//! Tenant API keys: `tgw_` and 43 characters of base64url (32 random bytes). Only the SHA-256
//! of a whole key is configured, so a leaked config file leaks no key; a presented key is hashed
//! and compared with every configured digest in constant time.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::tenant::{ScopeSet, Tenant};

pub const PREFIX: &str = "tgw_";

/// A fresh key and the hex SHA-256 line that goes into the configuration.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let digest = hex::encode(digest(&key));
    (key, digest)
}

/// The development profile's key, kept across restarts in `file` (mode 0600, created with its
/// directory) so that the `$KEY` of the README keeps working; a file that does not hold a key of
/// this shape is replaced. It only ever opens the sandbox: the profile is off as soon as a
/// Zernio key or a configuration file is given.
pub fn development_key(file: &std::path::Path) -> std::io::Result<(String, String)> {
    if let Ok(text) = std::fs::read_to_string(file) {
        let key = text.trim();
        let body = key.strip_prefix(PREFIX).unwrap_or_default();
        if body.len() == 43 && URL_SAFE_NO_PAD.decode(body).is_ok_and(|b| b.len() == 32) {
            return Ok((key.to_owned(), hex::encode(digest(key))));
        }
    }
    let (key, digest) = generate();
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_files::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut out = options.open(file)?;
    out.write_all(format!("{key}\n").as_bytes())?;
    Ok((key, digest))
}

pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// One configured key.
#[derive(Debug)]
pub struct KeyEntry {
    pub id: String,
    pub digest: [u8; 32],
    pub tenant: Arc<Tenant>,
    pub scopes: ScopeSet,
    pub expires_at: Option<DateTime<Utc>>,
    pub limit: Option<crate::store::RatePolicy>,
}

/// Every configured key.
#[derive(Debug, Default)]
pub struct KeyRing {
    entries: Vec<KeyEntry>,
}

impl KeyRing {
    pub fn new(entries: Vec<KeyEntry>) -> Self {
        KeyRing { entries }
    }

    /// The entry whose digest equals the presented key's. Every entry is compared, in constant
    /// time, so neither the position nor the shared prefix of a near miss shows in the timing.
    pub fn find(&self, presented: &str) -> Option<&KeyEntry> {
        let presented = digest(presented);
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        found
    }
}

/// Parses a configured hex digest (already checked at start-up).
pub fn parse_digest(hex_digest: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_long_random_and_match_their_digest() {
        let (a, digest_a) = generate();
        let (b, _) = generate();
        assert!(a.starts_with(PREFIX));
        assert_eq!(a.len(), PREFIX.len() + 43);
        assert_ne!(a, b);
        assert_eq!(parse_digest(&digest_a), Some(digest(&a)));
    }
}
