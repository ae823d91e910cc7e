//! Any string, as a tool name, a property key, or shortened to any budget:
//! no panic, and the exposed forms pass the client patterns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpgate_catalog::naming;

fuzz_target!(|input: (String, u8)| {
    let (raw, max) = input;
    assert!(naming::is_client_safe_tool_name(&naming::exposed_tool_name(&raw)));
    assert!(naming::is_client_safe_property_key(&naming::exposed_property_key(&raw)));
    let fitted = naming::fit(&raw, usize::from(max));
    assert!(fitted == raw || fitted.len() <= usize::from(max));
});
