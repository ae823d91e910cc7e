//! Signed, self-describing session ids.
//!
//! A session id carries the server it belongs to, the negotiated protocol
//! version, when it was issued and a random nonce, followed by an
//! HMAC-SHA256 over all of that. Any replica holding the key can validate it
//! without shared memory; only *terminated* sessions need remembering, and
//! only until they would have expired anyway.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::DashMap;
use hmac::{Hmac, KeyInit, Mac};
use mcpgate_protocol::ProtocolVersion;
use mcpgate_protocol::mcp::method;
use mcpgate_store::ServerId;
use sha2::Sha256;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

const FORMAT: u8 = 2;
const PAYLOAD_LEN: usize = 1 + 16 + 1 + 1 + 8 + 16;
const MAC_LEN: usize = 32;

/// The HMAC key that signs session ids.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// Wrap 32 key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parse the hex form used in config, env and the key file.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).ok()?;
        Some(Self(out))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut out = [0u8; 32];
        getrandom::fill(&mut out).expect("the OS random source is available");
        Self(out)
    }

    /// Hex form, for persisting.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }

    /// A 32-byte key for another purpose, derived as
    /// `HMAC-SHA256(session key, purpose)` (the HKDF-Expand step of RFC 5869
    /// §2.3 for one block), so every replica configured with the same
    /// session secret derives the same key and none of them reveals this one.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(purpose.as_bytes());
        mac.update(&[1]);
        mac.finalize().into_bytes().into()
    }
}

/// Prefix of a sealed upstream `requestState` (see [`SessionKey::seal_state`]).
const STATE_PREFIX: &str = "mcpg-ps-";

impl SessionKey {
    /// Wrap a stateless upstream's `requestState` for the client holding
    /// key `owner`: the state itself plus an HMAC binding it to that key, so
    /// any replica can check it and hand it back, and no other key can use it.
    pub fn seal_state(&self, owner: Uuid, state: &str) -> String {
        let mut mac = self.mac();
        mac.update(b"request-state\0");
        mac.update(owner.as_bytes());
        mac.update(state.as_bytes());
        let mut sealed = mac.finalize().into_bytes().to_vec();
        sealed.extend_from_slice(state.as_bytes());
        format!("{STATE_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    /// Whether `value` is a state sealed by [`seal_state`](Self::seal_state)
    /// (valid or not).
    pub fn is_sealed_state(value: &str) -> bool {
        value.starts_with(STATE_PREFIX)
    }

    /// The upstream state inside `sealed`, when this key sealed it for `owner`.
    pub fn open_state(&self, owner: Uuid, sealed: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix(STATE_PREFIX)?)
            .ok()?;
        if bytes.len() < MAC_LEN {
            return None;
        }
        let (tag, state) = bytes.split_at(MAC_LEN);
        let mut mac = self.mac();
        mac.update(b"request-state\0");
        mac.update(owner.as_bytes());
        mac.update(state);
        mac.verify_slice(tag).ok()?;
        String::from_utf8(state.to_vec()).ok()
    }
}

/// A validated session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The server the session was opened on.
    pub server: ServerId,
    /// The version negotiated at `initialize`.
    pub version: ProtocolVersion,
    /// What the client declared it can do for servers ([`ClientCaps`] bits).
    pub caps: u8,
    /// Seconds since the epoch when it was issued.
    pub issued_at: i64,
    /// Random part; identifies the session when it is terminated.
    pub nonce: [u8; 16],
}

/// Client capabilities a session remembers, as bits.
pub struct ClientCaps;

impl ClientCaps {
    /// `sampling`: the client answers `sampling/createMessage`.
    pub const SAMPLING: u8 = 1;
    /// `elicitation`: the client answers `elicitation/create`.
    pub const ELICITATION: u8 = 2;
    /// `roots`: the client answers `roots/list`.
    pub const ROOTS: u8 = 4;

    /// The bits of an `initialize` request's `capabilities` object.
    pub fn from_json(capabilities: &serde_json::Value) -> u8 {
        let has = |k: &str| capabilities.get(k).is_some_and(|v| !v.is_null());
        (if has("sampling") { Self::SAMPLING } else { 0 })
            | (if has("elicitation") {
                Self::ELICITATION
            } else {
                0
            })
            | (if has("roots") { Self::ROOTS } else { 0 })
    }

    /// The capabilities object the bits stand for (`{"sampling": {}}`, …).
    pub fn to_json(bits: u8) -> serde_json::Value {
        let mut caps = serde_json::Map::new();
        for (bit, name) in [
            (Self::SAMPLING, "sampling"),
            (Self::ELICITATION, "elicitation"),
            (Self::ROOTS, "roots"),
        ] {
            if bits & bit != 0 {
                caps.insert(name.into(), serde_json::json!({}));
            }
        }
        serde_json::Value::Object(caps)
    }

    /// The capability a server-to-client request needs, if it is one we relay.
    pub fn needed_for(method: &str) -> Option<u8> {
        match method {
            method::SAMPLING_CREATE_MESSAGE => Some(Self::SAMPLING),
            method::ELICITATION_CREATE => Some(Self::ELICITATION),
            method::ROOTS_LIST => Some(Self::ROOTS),
            _ => None,
        }
    }
}

/// Why a session id is refused (all map to HTTP 404 but one: a malformed
/// header is the client's bug, not an expired session; we still answer 404
/// so a client re-initializes instead of giving up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not one of ours (bad encoding or signature).
    #[error("unknown session")]
    Unknown,
    /// Issued for a different server.
    #[error("session belongs to another server")]
    OtherServer,
    /// Older than the session lifetime.
    #[error("session expired")]
    Expired,
    /// Terminated by DELETE.
    #[error("session terminated")]
    Ended,
}

/// Issues and validates session ids; remembers terminated ones.
pub struct Sessions {
    key: SessionKey,
    ttl: Duration,
    ended: DashMap<[u8; 16], i64>,
}

impl Sessions {
    /// The key that signs session ids (and seals request states).
    pub fn key(&self) -> &SessionKey {
        &self.key
    }

    /// A session manager with a signing key and a session lifetime.
    pub fn new(key: SessionKey, ttl: Duration) -> Self {
        Self {
            key,
            ttl,
            ended: DashMap::new(),
        }
    }

    /// Issue a new session id.
    pub fn issue(&self, server: ServerId, version: ProtocolVersion, caps: u8) -> (String, Session) {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).expect("the OS random source is available");
        let session = Session {
            server,
            version,
            caps,
            issued_at: OffsetDateTime::now_utc().unix_timestamp(),
            nonce,
        };
        (self.encode(&session), session)
    }

    fn encode(&self, s: &Session) -> String {
        let mut buf = Vec::with_capacity(PAYLOAD_LEN + MAC_LEN);
        buf.push(FORMAT);
        buf.extend_from_slice(s.server.0.as_bytes());
        buf.push(s.version.code());
        buf.push(s.caps);
        buf.extend_from_slice(&s.issued_at.to_be_bytes());
        buf.extend_from_slice(&s.nonce);
        let mut mac = self.key.mac();
        mac.update(&buf);
        buf.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// Validate a presented session id for `server`.
    pub fn validate(&self, id: &str, server: ServerId) -> Result<Session, SessionError> {
        let mut buf = [0u8; PAYLOAD_LEN + MAC_LEN + 2];
        let n = URL_SAFE_NO_PAD
            .decode_slice(id.as_bytes(), &mut buf)
            .map_err(|_| SessionError::Unknown)?;
        if n != PAYLOAD_LEN + MAC_LEN || buf[0] != FORMAT {
            return Err(SessionError::Unknown);
        }
        let (payload, tag) = buf[..n].split_at(PAYLOAD_LEN);
        let mut mac = self.key.mac();
        mac.update(payload);
        // verify_slice compares in constant time.
        mac.verify_slice(tag).map_err(|_| SessionError::Unknown)?;

        let server_id = ServerId(Uuid::from_slice(&payload[1..17]).expect("16 bytes"));
        let version = ProtocolVersion::from_code(payload[17]).ok_or(SessionError::Unknown)?;
        let caps = payload[18];
        let issued_at = i64::from_be_bytes(payload[19..27].try_into().expect("8 bytes"));
        let nonce: [u8; 16] = payload[27..43].try_into().expect("16 bytes");
        if server_id != server {
            return Err(SessionError::OtherServer);
        }
        if OffsetDateTime::now_utc().unix_timestamp() - issued_at > self.ttl.as_secs() as i64 {
            return Err(SessionError::Expired);
        }
        if self.ended.contains_key(&nonce) {
            return Err(SessionError::Ended);
        }
        Ok(Session {
            server: server_id,
            version,
            caps,
            issued_at,
            nonce,
        })
    }

    /// When a session would expire on its own.
    pub fn expires_at(&self, s: &Session) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(s.issued_at + self.ttl.as_secs() as i64)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Record a terminated session (its nonce and natural expiry).
    pub fn mark_ended(&self, nonce: [u8; 16], expires_at: OffsetDateTime) {
        self.ended.insert(nonce, expires_at.unix_timestamp());
    }

    /// Forget terminated sessions that would have expired by now.
    pub fn purge_ended(&self) {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.ended.retain(|_, exp| *exp >= now);
    }
}

/// The log level each session asked for with `logging/setLevel`, until the
/// session would expire. Kept in the process that served the request (a
/// replica that did not serve it forwards no log lines for that session).
#[derive(Default)]
pub struct LogLevels(DashMap<[u8; 16], (mcpgate_protocol::mcp::LogLevel, i64)>);

impl LogLevels {
    /// Record `level` for the session `nonce`, which expires at `expires_at`.
    pub fn set(
        &self,
        nonce: [u8; 16],
        level: mcpgate_protocol::mcp::LogLevel,
        expires_at: OffsetDateTime,
    ) {
        self.0.insert(nonce, (level, expires_at.unix_timestamp()));
    }

    /// The level the session asked for; `None` if it never asked.
    pub fn get(&self, nonce: &[u8; 16]) -> Option<mcpgate_protocol::mcp::LogLevel> {
        self.0.get(nonce).map(|e| e.0)
    }

    /// Forget an ended session's level.
    pub fn forget(&self, nonce: &[u8; 16]) {
        self.0.remove(nonce);
    }

    /// Forget the levels of sessions that have expired.
    pub fn purge_expired(&self) {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.0.retain(|_, (_, exp)| *exp >= now);
    }
}

/// Hex of a nonce, as stored.
pub fn nonce_hex(nonce: &[u8; 16]) -> String {
    hex::encode(nonce)
}

/// Parse a stored nonce.
pub fn nonce_from_hex(s: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(SessionKey::generate(), Duration::from_secs(3600))
    }

    #[test]
    fn sealed_states_open_only_for_their_key_and_unaltered() {
        let key = SessionKey::generate();
        let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = key.seal_state(owner, "v1.upstream-state");
        assert!(SessionKey::is_sealed_state(&sealed));
        assert_eq!(
            key.open_state(owner, &sealed).as_deref(),
            Some("v1.upstream-state")
        );
        assert_eq!(key.open_state(other, &sealed), None, "another key");
        assert_eq!(SessionKey::generate().open_state(owner, &sealed), None);
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(key.open_state(owner, &tampered), None);
        assert_eq!(key.open_state(owner, "mcpg-ps-"), None);
        assert_eq!(key.open_state(owner, "v1.upstream-state"), None);
    }

    #[test]
    fn issued_ids_validate_and_are_visible_ascii() {
        let s = sessions();
        let server = ServerId::new();
        let (id, issued) = s.issue(server, ProtocolVersion::V2025_06_18, ClientCaps::SAMPLING);
        assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert_eq!(s.validate(&id, server), Ok(issued));
    }

    #[test]
    fn tampered_foreign_and_other_server_ids_are_refused() {
        let s = sessions();
        let server = ServerId::new();
        let (id, _) = s.issue(server, ProtocolVersion::V2025_11_25, 0);
        let mut bytes = id.clone().into_bytes();
        let last = bytes.len() - 5;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(s.validate(&tampered, server), Err(SessionError::Unknown));
        assert_eq!(s.validate("garbage", server), Err(SessionError::Unknown));
        assert_eq!(
            s.validate(&id, ServerId::new()),
            Err(SessionError::OtherServer)
        );
        // Another replica with another key cannot vouch for it.
        assert_eq!(sessions().validate(&id, server), Err(SessionError::Unknown));
    }

    #[test]
    fn a_second_replica_with_the_same_key_accepts_it() {
        let key = SessionKey::generate();
        let a = Sessions::new(key.clone(), Duration::from_secs(60));
        let b = Sessions::new(key, Duration::from_secs(60));
        let server = ServerId::new();
        let (id, _) = a.issue(server, ProtocolVersion::V2025_03_26, ClientCaps::ROOTS);
        assert_eq!(
            b.validate(&id, server).unwrap().version,
            ProtocolVersion::V2025_03_26
        );
    }

    #[test]
    fn ended_and_expired_sessions_are_refused() {
        let s = sessions();
        let server = ServerId::new();
        let (id, sess) = s.issue(server, ProtocolVersion::V2025_11_25, 0);
        s.mark_ended(sess.nonce, s.expires_at(&sess));
        assert_eq!(s.validate(&id, server), Err(SessionError::Ended));

        let short = Sessions::new(SessionKey::generate(), Duration::from_secs(0));
        let (id, _) = short.issue(server, ProtocolVersion::V2025_11_25, 0);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(short.validate(&id, server), Err(SessionError::Expired));
    }
}
