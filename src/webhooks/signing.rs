//! The two signature schemes: Zernio's (`X-Zernio-Signature`, hex HMAC-SHA256 of the raw body)
//! checked on the way in, and Standard Webhooks' (`webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, keyed with the base64 part of a `whsec_` secret) made on the way
//! out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a subscription's secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Bytes of randomness in a subscription secret (Standard Webhooks asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// Whether `signature` (hex, as Zernio sends it) is the HMAC of `body` under `secret`. The
/// comparison takes the same time wherever the first difference is.
pub fn verify_zernio(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let signature = signature.trim();
    // Tolerated: a `sha256=` label, as some senders put one before the hex.
    let hex_part = signature.strip_prefix("sha256=").unwrap_or(signature);
    let Ok(expected) = hex::decode(hex_part) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// A fresh `whsec_` secret.
pub fn new_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The HMAC key of a `whsec_` secret; `None` for a secret that is not one.
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX)?)
        .ok()
        .filter(|k| !k.is_empty())
}

/// The `webhook-signature` value of one attempt.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key_of(secret)?;
    let mut mac = HmacSha256::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zernio_signatures_are_checked_over_the_exact_bytes() {
        // RFC 4231 test case 2.
        let good = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let body = b"what do ya want for nothing?";
        assert!(verify_zernio(b"Jefe", body, good));
        assert!(verify_zernio(b"Jefe", body, &good.to_uppercase()));
        assert!(verify_zernio(b"Jefe", body, &format!("sha256={good}")));
        assert!(!verify_zernio(
            b"Jefe",
            b"what do ya want for nothing!",
            good
        ));
        assert!(!verify_zernio(b"jefe", body, good));
        assert!(!verify_zernio(b"Jefe", body, &good[..62]));
        assert!(!verify_zernio(b"Jefe", body, "not hex"));
        assert!(!verify_zernio(b"Jefe", body, ""));
    }

    #[test]
    fn secrets_are_whsec_base64_of_32_random_bytes() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert_eq!(key_of(&a).map(|k| k.len()), Some(32));
        assert_eq!(key_of("not-a-secret"), None);
    }

    #[test]
    fn standard_webhooks_signature_matches_the_specification_example() {
        // The example of the Standard Webhooks specification (and its reference libraries).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }
}
