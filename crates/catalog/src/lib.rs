//! Tool sources for mcpgate, as pure data: integration definitions, tool
//! generation and naming, scopes, credentials, and static toolsets.

#![warn(missing_docs)]

pub mod credentials;
pub mod defs;
pub mod integration;
pub mod listing;
pub mod naming;
pub mod openapi;
#[cfg(test)]
mod proptests;
pub mod provenance;
pub mod schema_keys;
pub mod scope;
#[cfg(any(test, feature = "proptest"))]
pub mod strategies;
mod suggest;
pub mod tool;
pub mod tools;
pub mod toolset;

pub use credentials::Credentials;
pub use integration::{AuthSpec, DefinitionError, HttpMethod, Integration, MethodKind, Pagination};
pub use provenance::{UrlProvenance, account_url_provenance};
pub use scope::{Scope, ScopeConfig, ScopeError, ScopeProblem};
pub use suggest::nearest;
pub use tool::{Tool, ToolName, ToolNameError};
pub use tools::{GeneratedTool, Operation, generate, tool_names};
pub use toolset::{Builtin, StaticTool, Toolset, ToolsetError};
