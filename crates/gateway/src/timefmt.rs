//! Timestamps on the wire: RFC 3339, UTC, millisecond precision. One
//! definition, the store's time module; re-exported here under the names
//! the gateway uses.

pub use mcpgate_store::time::{
    now_unix_ms as now_ms, parse_rfc3339, rfc3339_from_ms, rfc3339_ms, unix_ms,
};
