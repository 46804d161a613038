//! Secrets at rest: the subscriptions' `whsec_` signing secrets are sealed with AES-256-GCM
//! before the store sees them, so that a copy of the SQLite file, a Redis dump or a backup holds
//! no secret a tenant's receiver trusts.
//!
//! - The key: `GATEWAY_SECRETS_KEY`, 32 bytes as 64 hex digits or base64 (standard or URL-safe,
//!   padded or not); `tiktok-gateway secrets new-key` prints one.
//! - A sealed value is `enc:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`: a random 96-bit
//!   nonce per value, the key id (8 hex digits derived from the key) to find the key it was
//!   sealed with, and the subscription's id as associated data, so that a sealed secret copied
//!   onto another subscription does not open.
//! - Rotation: the new key in `GATEWAY_SECRETS_KEY`, the old one in
//!   `GATEWAY_SECRETS_KEY_PREVIOUS`; values sealed with either open, and start-up re-seals every
//!   value not sealed with the current key (plain ones of before sealing too), after which the
//!   previous key can go.
//! - Without `GATEWAY_SECRETS_KEY`: a key is generated once and kept in `secrets-key` (0600) in
//!   the data directory, beside the development key, with a warning; with Zernio's real API key
//!   the warning is loud (the key sits beside what it protects), and with a Redis store start-up
//!   is refused (replicas would each make a key of their own and could not read each other's
//!   secrets).

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::{Config, Environment, StoreUrl};
use crate::store::Store;

pub const KEY_ENV: &str = "GATEWAY_SECRETS_KEY";
pub const PREVIOUS_KEY_ENV: &str = "GATEWAY_SECRETS_KEY_PREVIOUS";
/// The file that keeps the generated key when none is configured.
pub const KEY_FILE: &str = "secrets-key";
const SEALED: &str = "enc:v1:";
const NONCE_LEN: usize = 12;

/// Seals and opens secrets with the current key; opens with the previous one too.
#[derive(Clone)]
pub struct Sealer {
    current: SealingKey,
    previous: Option<SealingKey>,
}

#[derive(Clone)]
struct SealingKey {
    id: String,
    cipher: Aes256Gcm,
}

impl SealingKey {
    fn new(key: &[u8; 32]) -> SealingKey {
        let mut hash = Sha256::new();
        hash.update(b"tiktok-gateway secrets key id\0");
        hash.update(key);
        SealingKey {
            id: hex::encode(&hash.finalize()[..4]),
            cipher: Aes256Gcm::new(key.into()),
        }
    }
}

/// Shows the key ids only.
impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("current", &self.current.id)
            .field("previous", &self.previous.as_ref().map(|k| &k.id))
            .finish()
    }
}

/// Why a stored secret did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "sealed with key {0}, which is neither GATEWAY_SECRETS_KEY nor GATEWAY_SECRETS_KEY_PREVIOUS"
    )]
    UnknownKey(String),
    #[error("the sealed value is damaged or belongs to another object")]
    Damaged,
}

/// A secret opened, and whether its stored form should be sealed again (an older key, or plain).
#[derive(Clone, PartialEq, Eq)]
pub struct Opened {
    pub secret: String,
    pub stale: bool,
}

/// Leaves the secret out.
impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("secret", &"<redacted>")
            .field("stale", &self.stale)
            .finish()
    }
}

impl Sealer {
    pub fn new(current: &[u8; 32], previous: Option<&[u8; 32]>) -> Sealer {
        Sealer {
            current: SealingKey::new(current),
            previous: previous.map(SealingKey::new),
        }
    }

    /// The current key's id, as sealed values name it.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// `secret` sealed with the current key, bound to `context` (the owning object's id).
    pub fn seal(&self, secret: &str, context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: context.as_bytes(),
        };
        // AES-GCM fails only beyond 64 GiB of plaintext; a secret is a few dozen bytes.
        let sealed = self
            .current
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!(
            "{SEALED}{}:{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    /// Whether `stored` is sealed with the current key (nothing to re-seal).
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(SEALED)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.current.id)
    }

    /// The secret `stored` holds: sealed with the current or the previous key, or plain (stored
    /// before secrets were sealed).
    pub fn open(&self, stored: &str, context: &str) -> Result<Opened, OpenError> {
        let Some(rest) = stored.strip_prefix(SEALED) else {
            return Ok(Opened {
                secret: stored.to_owned(),
                stale: true,
            });
        };
        let (id, data) = rest.split_once(':').ok_or(OpenError::Damaged)?;
        let (key, stale) = if id == self.current.id {
            (&self.current, false)
        } else {
            match &self.previous {
                Some(previous) if previous.id == id => (previous, true),
                _ => return Err(OpenError::UnknownKey(id.chars().take(16).collect())),
            }
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| OpenError::Damaged)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError::Damaged);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Damaged)?;
        let plain = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Damaged)?;
        let secret = String::from_utf8(plain).map_err(|_| OpenError::Damaged)?;
        Ok(Opened { secret, stale })
    }
}

/// A key as `GATEWAY_SECRETS_KEY` holds it: 64 hex digits, or base64 of 32 bytes.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let mut key = [0u8; 32];
    if text.len() == 64 && hex::decode_to_slice(text, &mut key).is_ok() {
        return Ok(key);
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        if let Ok(bytes) = engine.decode(text)
            && let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice())
        {
            return Ok(bytes);
        }
    }
    Err(
        "must be 32 bytes: 64 hex digits or base64 (`tiktok-gateway secrets new-key` prints one)"
            .into(),
    )
}

/// A fresh random key, base64.
pub fn new_key() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    STANDARD.encode(key)
}

/// Where the generated key is kept: the data directory, beside the development key.
pub fn key_file(store: &StoreUrl) -> PathBuf {
    let development = crate::config::development_key_file(store);
    development.with_file_name(KEY_FILE)
}

/// The sealer the configuration and the environment give (see the module's comment).
pub fn from_environment(config: &Config, env: &Environment) -> anyhow::Result<Sealer> {
    let read = |name: &str| -> anyhow::Result<Option<[u8; 32]>> {
        match env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(text) => parse_key(text)
                .map(Some)
                .map_err(|why| anyhow::anyhow!("{name}: {why}")),
        }
    };
    let previous = read(PREVIOUS_KEY_ENV)?;
    if let Some(current) = read(KEY_ENV)? {
        return Ok(Sealer::new(&current, previous.as_ref()));
    }
    if previous.is_some() {
        anyhow::bail!("{PREVIOUS_KEY_ENV} is set without {KEY_ENV}: set the new key in {KEY_ENV}");
    }
    if !config.is_sandbox() && matches!(config.store, StoreUrl::Redis(_)) {
        anyhow::bail!(
            "{KEY_ENV} is not set: with a Redis store every replica must seal subscription \
             secrets with the same key; generate one with `tiktok-gateway secrets new-key` and \
             give it to every replica"
        );
    }
    let file = key_file(&config.store);
    let key = kept_key(&file)?;
    if config.is_sandbox() {
        tracing::warn!(file = %file.display(), "{KEY_ENV} is not set: subscription secrets are sealed with a key kept in the data directory (development)");
    } else {
        tracing::error!(file = %file.display(), "{KEY_ENV} is not set: subscription secrets are sealed with a key kept beside the database, so a copy of that directory holds both; set {KEY_ENV} (see docs/operations.md)");
    }
    Ok(Sealer::new(&key, None))
}

/// The key in `file`, made (0600, in a 0700 directory when it is new) when there is none. A file
/// that does not hold a key is an error, never replaced: the secrets sealed with it would be lost.
fn kept_key(file: &Path) -> anyhow::Result<[u8; 32]> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            crate::private_files::narrow(file)?;
            parse_key(&text).map_err(|why| anyhow::anyhow!("{}: {why}", file.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = file.parent() {
                crate::private_files::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            }
            let key = new_key();
            crate::private_files::write_new(file, format!("{key}\n").as_bytes())
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
            parse_key(&key).map_err(|why| anyhow::anyhow!("{why}"))
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", file.display())),
    }
}

/// What a re-seal pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    pub resealed: u32,
    /// Values no configured key opens: left as they are (their deliveries fail until the key
    /// that sealed them is configured again).
    pub unopened: u32,
}

/// Seals again, with the current key, every subscription secret of `tenants` that is plain or
/// sealed with the previous key. A value changed meanwhile (another replica's pass) is left.
pub async fn reseal_subscriptions(
    store: &dyn Store,
    sealer: &Sealer,
    tenants: &[&str],
) -> Result<Resealed, crate::store::StoreError> {
    let mut done = Resealed::default();
    for tenant in tenants {
        for subscription in store.subscriptions(tenant).await? {
            if sealer.is_current(&subscription.secret) {
                continue;
            }
            match sealer.open(&subscription.secret, &subscription.id) {
                Ok(opened) => {
                    let sealed = sealer.seal(&opened.secret, &subscription.id);
                    if store
                        .replace_subscription_secret(
                            tenant,
                            &subscription.id,
                            &subscription.secret,
                            &sealed,
                        )
                        .await?
                    {
                        done.resealed += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(subscription = %subscription.id, error = %e, "a subscription secret does not open");
                    done.unopened += 1;
                }
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [7; 32];
    const B: [u8; 32] = [9; 32];

    #[test]
    fn a_sealed_secret_opens_for_its_object_only() {
        let sealer = Sealer::new(&A, None);
        let sealed = sealer.seal("whsec_abc", "sub_1");
        assert!(sealed.starts_with(&format!("enc:v1:{}:", sealer.key_id())));
        assert!(!sealed.contains("whsec_abc"));
        assert_ne!(
            sealed,
            sealer.seal("whsec_abc", "sub_1"),
            "a nonce per value"
        );
        let opened = sealer.open(&sealed, "sub_1").unwrap();
        assert_eq!(opened.secret, "whsec_abc");
        assert!(!opened.stale);
        assert!(sealer.is_current(&sealed));
        assert_eq!(sealer.open(&sealed, "sub_2"), Err(OpenError::Damaged));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(sealer.open(&tampered, "sub_1"), Err(OpenError::Damaged));
    }

    #[test]
    fn rotation_opens_the_previous_key_and_marks_it_stale() {
        let old = Sealer::new(&A, None);
        let sealed = old.seal("whsec_old", "sub_1");
        let rotated = Sealer::new(&B, Some(&A));
        let opened = rotated.open(&sealed, "sub_1").unwrap();
        assert_eq!(opened.secret, "whsec_old");
        assert!(opened.stale);
        assert!(!rotated.is_current(&sealed));
        let without_previous = Sealer::new(&B, None);
        assert!(matches!(
            without_previous.open(&sealed, "sub_1"),
            Err(OpenError::UnknownKey(_))
        ));
        // Plain values of before sealing open, and are to be sealed.
        let plain = rotated.open("whsec_plain", "sub_9").unwrap();
        assert_eq!(plain.secret, "whsec_plain");
        assert!(plain.stale);
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let sealer = Sealer::new(&A, None);
        let id = sealer.key_id().to_owned();
        for stored in [
            "enc:v1:".to_owned(),
            "enc:v1:nocolon".to_owned(),
            format!("enc:v1:{id}:"),
            format!("enc:v1:{id}:!!!"),
            format!("enc:v1:{id}:AAAA"),
        ] {
            assert!(sealer.open(&stored, "x").is_err(), "{stored}");
        }
    }

    #[test]
    fn keys_are_hex_or_base64_of_32_bytes() {
        let hex_key = hex::encode(A);
        assert_eq!(parse_key(&hex_key).unwrap(), A);
        assert_eq!(parse_key(&STANDARD.encode(A)).unwrap(), A);
        assert_eq!(parse_key(&URL_SAFE_NO_PAD.encode(B)).unwrap(), B);
        assert_eq!(parse_key(&format!(" {}\n", STANDARD.encode(B))).unwrap(), B);
        assert!(parse_key(&STANDARD.encode([1u8; 16])).is_err());
        assert!(parse_key("not a key").is_err());
        assert!(parse_key(&new_key()).is_ok());
    }

    #[test]
    fn the_kept_key_is_made_once_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data").join(KEY_FILE);
        let first = kept_key(&file).unwrap();
        assert_eq!(kept_key(&file).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&file), 0o600);
            assert_eq!(mode(&dir.path().join("data")), 0o700);
        }
        std::fs::write(&file, "garbage").unwrap();
        assert!(kept_key(&file).is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "garbage");
    }
}
