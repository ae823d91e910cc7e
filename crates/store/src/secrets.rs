//! Secrets at rest: AES-256-GCM with a master key kept outside the database.
//!
//! A sealed value is `v1:` + base64(nonce ‖ ciphertext ‖ tag). The row id is
//! the associated data, so a sealed value copied onto another row fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

/// The master key that seals credentials.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl MasterKey {
    /// From 32 key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Aes256Gcm::new(&Key::<Aes256Gcm>::from(bytes)))
    }

    /// From 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).ok()?;
        Some(Self::new(out))
    }

    /// A fresh random key and its hex form (to persist).
    pub fn generate() -> (Self, String) {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        (Self::new(bytes), hex::encode(bytes))
    }

    /// Seal `plaintext`, bound to `row`.
    pub fn seal(&self, row: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source is available");
        let sealed = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: row.as_bytes(),
                },
            )
            .expect("AES-GCM encryption does not fail for in-memory buffers");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// Open a sealed value of `row`; `None` if it was sealed with another key,
    /// for another row, or altered.
    pub fn open(&self, row: &str, sealed: &str) -> Option<Vec<u8>> {
        let bytes = STANDARD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.0
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: row.as_bytes(),
                },
            )
            .ok()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_open_only_with_the_same_key_and_row() {
        let (key, _) = MasterKey::generate();
        let sealed = key.seal("row-1", b"secret");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("secret"));
        assert_eq!(key.open("row-1", &sealed).as_deref(), Some(&b"secret"[..]));
        assert_eq!(key.open("row-2", &sealed), None);
        assert_eq!(MasterKey::generate().0.open("row-1", &sealed), None);
        assert_ne!(
            key.seal("row-1", b"secret"),
            sealed,
            "fresh nonce every time"
        );
        let (_, hex) = MasterKey::generate();
        assert!(MasterKey::from_hex(&hex).is_some());
        assert!(MasterKey::from_hex("short").is_none());
    }
}
