//! Any document (JSON or YAML) through the public OpenAPI import and tool
//! generation: no panic, no stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpgate_catalog::openapi;

fuzz_target!(|text: &str| {
    let Ok(doc) = openapi::parse_document(text) else {
        return;
    };
    if let Ok(imported) = openapi::import(&doc, &Default::default(), &mut |_, _| {}) {
        let _ = mcpgate_catalog::generate(&imported.integration);
    }
});
