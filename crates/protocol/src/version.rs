//! MCP protocol versions and the negotiation rule.

use std::fmt;

/// A protocol version of the initialize-handshake era that mcpgate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// Streamable HTTP, sessions, JSON-RPC batching.
    V2025_03_26,
    /// Batching removed; `MCP-Protocol-Version` header required.
    V2025_06_18,
    /// Newest handshake-era version.
    V2025_11_25,
}

impl ProtocolVersion {
    /// Every supported version, oldest first.
    pub const ALL: [Self; 3] = [Self::V2025_03_26, Self::V2025_06_18, Self::V2025_11_25];
    /// The version offered when a client asks for one we do not speak.
    pub const LATEST: Self = Self::V2025_11_25;
    /// What a request without `MCP-Protocol-Version` is assumed to speak.
    pub const ASSUMED_WITHOUT_HEADER: Self = Self::V2025_03_26;

    /// The wire string, e.g. `2025-06-18`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
        }
    }

    /// Parse a wire string; `None` for versions we do not speak.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The version to answer an `initialize` that asked for `requested`:
    /// the same one when we speak it, else our latest (the client decides
    /// whether it can live with that).
    pub fn negotiate(requested: &str) -> Self {
        Self::parse(requested).unwrap_or(Self::LATEST)
    }

    /// JSON-RPC batches are only part of 2025-03-26.
    pub const fn allows_batches(self) -> bool {
        matches!(self, Self::V2025_03_26)
    }

    /// A stable one-byte code, for compact encodings such as session ids.
    pub const fn code(self) -> u8 {
        match self {
            Self::V2025_03_26 => 1,
            Self::V2025_06_18 => 2,
            Self::V2025_11_25 => 3,
        }
    }

    /// Inverse of [`ProtocolVersion::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.code() == code)
    }

    /// The supported versions as wire strings, for error data.
    pub fn supported_strings() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.as_str()).collect()
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_supported_and_offers_latest_otherwise() {
        assert_eq!(
            ProtocolVersion::negotiate("2025-06-18"),
            ProtocolVersion::V2025_06_18
        );
        assert_eq!(
            ProtocolVersion::negotiate("2024-11-05"),
            ProtocolVersion::V2025_11_25
        );
        assert_eq!(
            ProtocolVersion::negotiate("garbage"),
            ProtocolVersion::LATEST
        );
    }

    #[test]
    fn only_2025_03_26_allows_batches() {
        let allowed: Vec<_> = ProtocolVersion::ALL
            .into_iter()
            .filter(|v| v.allows_batches())
            .collect();
        assert_eq!(allowed, vec![ProtocolVersion::V2025_03_26]);
    }

    #[test]
    fn codes_round_trip() {
        for v in ProtocolVersion::ALL {
            assert_eq!(ProtocolVersion::from_code(v.code()), Some(v));
        }
        assert_eq!(ProtocolVersion::from_code(0), None);
    }
}
