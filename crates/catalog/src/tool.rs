//! A tool as MCP clients see it, and its validated name.

use serde::Serialize;
use serde_json::value::RawValue;
use std::fmt;

/// A tool name that satisfies the MCP naming rule: 1–128 characters from
/// `A–Z a–z 0–9 _ - .`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ToolName(String);

/// Why a string is not a valid [`ToolName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolNameError {
    /// Empty string.
    #[error("a tool name must not be empty")]
    Empty,
    /// Longer than 128 characters.
    #[error("a tool name must be at most 128 characters (got {0})")]
    TooLong(usize),
    /// A character outside the allowed set.
    #[error("a tool name may only use A-Z a-z 0-9 _ - . (found {0:?})")]
    BadChar(char),
}

impl ToolName {
    /// The longest name the MCP spec allows.
    pub const MAX_LEN: usize = 128;

    /// Validate and wrap a name.
    pub fn new(name: impl Into<String>) -> Result<Self, ToolNameError> {
        let name = name.into();
        if name.is_empty() {
            return Err(ToolNameError::Empty);
        }
        if name.len() > Self::MAX_LEN {
            return Err(ToolNameError::TooLong(name.len()));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(ToolNameError::BadChar(c));
        }
        Ok(Self(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tool definition in MCP's wire shape. Schemas stay raw JSON so that what
/// a definition says reaches the client unchanged.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// Unique name within a server.
    pub name: ToolName,
    /// Display title (2025-06-18+ clients show it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does, for the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments; always `type: object`.
    pub input_schema: Box<RawValue>,
    /// Behaviour hints (`readOnlyHint`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Box<RawValue>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_character_set_and_length() {
        assert!(ToolName::new("list_all_hubspot_contacts").is_ok());
        assert!(ToolName::new("a.b-c_D9").is_ok());
        assert_eq!(ToolName::new(""), Err(ToolNameError::Empty));
        assert_eq!(ToolName::new("a b"), Err(ToolNameError::BadChar(' ')));
        assert_eq!(ToolName::new("x/y"), Err(ToolNameError::BadChar('/')));
        assert_eq!(
            ToolName::new("a".repeat(129)),
            Err(ToolNameError::TooLong(129))
        );
        assert!(ToolName::new("a".repeat(128)).is_ok());
    }
}
