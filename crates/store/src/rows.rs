//! Reading rows back: the shared decoders every aggregate uses, which
//! turn what does not decode into [`StoreError::Corrupt`].

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use mcpgate_catalog::UrlProvenance;

pub(crate) fn corrupt(table: &'static str, message: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table,
        message: message.to_string(),
    }
}

pub(crate) fn to_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("a model value serializes")
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    table: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(table, e.to_string()))
}

pub(crate) fn parse_id<T: std::str::FromStr>(
    table: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| corrupt(table, format!("bad id {text:?}")))
}

/// The `url_provenance` column of a row.
pub(crate) fn parse_provenance(
    table: &'static str,
    r: &AnyRow,
) -> Result<UrlProvenance, StoreError> {
    r.try_get::<String, _>("url_provenance")?
        .parse()
        .map_err(|e: String| corrupt(table, e))
}
