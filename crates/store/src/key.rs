//! API keys: generated once, shown once, stored only as SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// The SHA-256 of a key's secret; the only form in which a key is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Hash a presented token.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Hex form, as stored.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse the stored hex form.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    /// Constant-time comparison, so the time taken says nothing about how
    /// much of a hash matched.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyHash {
    // Even a hash is not printed whole: logs are not a place for key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &hex::encode(&self.0[..4]))
    }
}

/// A freshly minted key. The secret lives only in this value; drop it once
/// it has been shown to the user.
pub struct ApiKey {
    /// The full secret token (`mcpg_…`).
    pub secret: String,
    /// What is stored.
    pub hash: KeyHash,
    /// A short, non-secret prefix that identifies the key in lists and logs.
    pub prefix: String,
}

impl ApiKey {
    /// The fixed, readable start of every token.
    pub const TOKEN_PREFIX: &'static str = "mcpg_";
    /// How many leading characters of a token are its visible prefix.
    pub const VISIBLE_PREFIX_LEN: usize = 12;

    /// Mint a key from 32 bytes of OS randomness.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let secret = format!("{}{}", Self::TOKEN_PREFIX, URL_SAFE_NO_PAD.encode(bytes));
        let hash = KeyHash::of(&secret);
        let prefix = secret[..Self::VISIBLE_PREFIX_LEN].to_owned();
        Self {
            secret,
            hash,
            prefix,
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_unique_url_safe_and_hash_to_their_hash() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("mcpg_"));
        assert_eq!(a.secret.len(), 5 + 43);
        assert!(
            a.secret
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert!(KeyHash::of(&a.secret).ct_eq(&a.hash));
        assert!(!a.hash.ct_eq(&b.hash));
        assert!(a.secret.starts_with(&a.prefix));
    }

    #[test]
    fn hex_round_trip_and_debug_hides_hash() {
        let h = KeyHash::of("x");
        assert_eq!(KeyHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(KeyHash::from_hex("zz"), None);
        assert!(format!("{h:?}").len() < 24);
        let k = ApiKey::generate();
        assert!(!format!("{k:?}").contains(&k.secret));
    }
}
