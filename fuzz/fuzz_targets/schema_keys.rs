//! Any JSON as an upstream's inputSchema: renaming never panics, every key
//! it leaves passes, and restoring arguments along it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpgate_catalog::naming::is_client_safe_property_key;
use mcpgate_catalog::schema_keys::{make_client_safe, property_keys, restore_arguments};

fuzz_target!(|input: (&[u8], &[u8])| {
    let Ok(schema) = serde_json::from_slice::<serde_json::Value>(input.0) else {
        return;
    };
    let mut exposed = schema.clone();
    make_client_safe(&mut exposed);
    assert!(property_keys(&exposed).iter().all(|k| is_client_safe_property_key(k)));
    if let Ok(mut arguments) = serde_json::from_slice::<serde_json::Value>(input.1) {
        restore_arguments(&schema, &mut arguments);
    }
});
