//! JSON-RPC 2.0 framing, MCP message shapes and protocol-version rules.
//!
//! This crate does no I/O. It parses what a client POSTs into [`Message`]s,
//! keeps parameters and results as raw JSON so a gateway can forward what it
//! does not model, and writes responses straight to bytes.

#![warn(missing_docs)]

pub mod error;
pub mod jsonrpc;
pub mod mcp;
pub mod stateless;
pub mod version;

pub use error::{ErrorCode, RpcError};
pub use jsonrpc::{Incoming, Message, ParseError, RequestId};
pub use version::ProtocolVersion;
