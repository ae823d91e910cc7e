//! Tool sources for mcpgate, as pure data: tool names, tool definitions and
//! static toolsets loaded from YAML. Integration definitions, OpenAPI import
//! and scope filtering join this crate with their issue.

pub mod tool;
pub mod toolset;

pub use tool::{Tool, ToolName, ToolNameError};
pub use toolset::{Builtin, StaticTool, Toolset, ToolsetError};
