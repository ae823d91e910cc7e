//! A client's POST body: parsing never panics, and every answer the gateway
//! writes for it is JSON that strict parsers read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpgate_protocol::jsonrpc::{self, Incoming, Message};
use mcpgate_protocol::{RpcError, stateless};

fuzz_target!(|body: &[u8]| {
    let messages = match jsonrpc::parse(body) {
        Ok(Incoming::Single(m)) => vec![m],
        Ok(Incoming::Batch(ms)) => ms,
        Err(e) => {
            let _ = e.to_error();
            return;
        }
    };
    for m in messages {
        let (id, error) = match &m {
            Ok(Message::Request { id, method, params }) => {
                let _ = stateless::request_meta(params.as_deref());
                let _ = stateless::expected_name(method, params.as_deref());
                (Some(id), RpcError::method_not_found(method))
            }
            Ok(_) => continue,
            Err(invalid) => (invalid.id.as_ref(), invalid.to_error()),
        };
        let answer = jsonrpc::error_body(id, &error);
        assert!(serde_json::from_slice::<serde_json::Value>(&answer).is_ok());
    }
});
