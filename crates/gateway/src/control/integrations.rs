//! Integrations: REST APIs described as tools, created from an mcpgate
//! definition or imported from an OpenAPI document. Bundled ones (from the
//! config directory) are everyone's and not editable here.

use mcpgate_catalog::openapi::{self, ImportOptions, Skipped};
use mcpgate_catalog::{DefinitionError, Integration, UrlProvenance};
use mcpgate_store::{IntegrationId, IntegrationRecord, Loaded, Origin};
use serde_json::Value;

use super::{AdminContext, Control, ControlError, DEFAULT_TENANT, egress};

/// An integration as an admin writes it (create, or replace in full).
#[derive(Debug, Clone, Default)]
pub struct IntegrationSource {
    /// An mcpgate definition; give this or `openapi`.
    pub definition: Option<Value>,
    /// An OpenAPI 3 document (JSON, or YAML/JSON text).
    pub openapi: Option<Value>,
    /// Overrides the name.
    pub name: Option<String>,
    /// Overrides the base URL (an OpenAPI document's servers).
    pub base_url: Option<String>,
}

/// An integration made from an [`IntegrationSource`], with what its import
/// found odd and the operations it left out.
#[derive(Debug)]
pub struct Converted {
    /// The stored record.
    pub record: IntegrationRecord,
    /// Warnings of the import.
    pub warnings: Vec<String>,
    /// Operations the import skipped, and why.
    pub skipped: Vec<Skipped>,
}

fn definition_error(e: DefinitionError, field: &str) -> ControlError {
    let at = if e.path.is_empty() {
        field.to_owned()
    } else {
        format!("{field}.{}", e.path)
    };
    ControlError::invalid(&at, e.message)
}

/// Bundled integrations are everyone's; the rest belong to their tenant.
fn visible(ctx: &AdminContext, r: &IntegrationRecord) -> bool {
    r.origin == Origin::Config || ctx.sees(&r.tenant)
}

impl Control<'_> {
    /// Make an integration of a source written by `by`, its URLs checked
    /// against the egress policy.
    fn convert(
        &self,
        source: IntegrationSource,
        by: UrlProvenance,
    ) -> Result<(Integration, Vec<String>, Vec<Skipped>), ControlError> {
        let base_url_given = source.base_url.is_some();
        match (source.definition, source.openapi) {
            (Some(def), None) => {
                let mut integration =
                    Integration::from_json(def).map_err(|e| definition_error(e, "definition"))?;
                if let Some(name) = source.name {
                    integration.name = name;
                }
                if let Some(url) = source.base_url {
                    integration.base_url = url;
                }
                integration
                    .validate()
                    .map_err(|e| definition_error(e, "definition"))?;
                egress::check_integration(
                    &self.gw.egress,
                    if base_url_given {
                        "base_url"
                    } else {
                        "definition.base_url"
                    },
                    "definition.auth.token_url",
                    &integration,
                    by,
                )?;
                Ok((integration, Vec::new(), Vec::new()))
            }
            (None, Some(doc)) => {
                let doc = match doc {
                    Value::String(text) => openapi::parse_document(&text)
                        .map_err(|e| definition_error(e, "openapi"))?,
                    other => other,
                };
                let imported = openapi::import(
                    &doc,
                    &ImportOptions {
                        name: source.name,
                        base_url: source.base_url,
                    },
                    &mut |_, _| {},
                )
                .map_err(|e| definition_error(e, "openapi"))?;
                // Named as the request's fields: `base_url` overrides the
                // document's servers.
                egress::check_integration(
                    &self.gw.egress,
                    if base_url_given {
                        "base_url"
                    } else {
                        "openapi.servers"
                    },
                    "openapi.components.securitySchemes",
                    &imported.integration,
                    by,
                )?;
                Ok((imported.integration, imported.warnings, imported.skipped))
            }
            _ => Err(ControlError::invalid(
                "definition",
                "give exactly one of definition (an mcpgate integration) or openapi (an OpenAPI 3 document)",
            )),
        }
    }

    /// Create an integration in the caller's tenant (`current` is `None`)
    /// or replace `current` (from [`Self::editable_integration`]); live at once.
    pub async fn save_integration(
        &self,
        ctx: &AdminContext,
        current: Option<&IntegrationRecord>,
        source: IntegrationSource,
    ) -> Result<Converted, ControlError> {
        let by = ctx.url_provenance();
        let (integration, warnings, skipped) = self.convert(source, by)?;
        let store = &self.gw.store;
        let record = match current {
            None => {
                store
                    .create_integration(ctx.tenant(), integration, by)
                    .await?
            }
            Some(current) => store
                .update_integration(current.id, integration, by)
                .await?
                .ok_or(ControlError::NotFound)?,
        };
        self.reload_index().await?;
        if current.is_none() {
            tracing::info!(integration = %record.id, name = %record.definition.name, warnings = warnings.len(), "integration created");
        }
        Ok(Converted {
            record,
            warnings,
            skipped,
        })
    }

    /// Every integration, those the caller sees among the records that read.
    pub async fn list_integrations(
        &self,
        ctx: &AdminContext,
    ) -> Result<Loaded<IntegrationRecord>, ControlError> {
        let mut loaded = self.gw.store.load_integrations().await?;
        loaded.records.retain(|r| visible(ctx, r));
        Ok(loaded)
    }

    /// The integration `id` (a UUID) if the caller may see it.
    pub async fn integration(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<IntegrationRecord, ControlError> {
        let id: IntegrationId = id.parse().map_err(|_| ControlError::NotFound)?;
        self.gw
            .store
            .get_integration(id)
            .await?
            .filter(|r| visible(ctx, r))
            .ok_or(ControlError::NotFound)
    }

    /// An integration visible to the caller, by id or name (the caller's
    /// own first, then the bundled one of that name).
    pub async fn find_integration(
        &self,
        ctx: &AdminContext,
        key: &str,
    ) -> Result<Option<IntegrationRecord>, ControlError> {
        if key.parse::<IntegrationId>().is_ok() {
            return match self.integration(ctx, key).await {
                Ok(r) => Ok(Some(r)),
                Err(_) => Ok(None),
            };
        }
        for tenant in [ctx.tenant(), DEFAULT_TENANT] {
            if let Some(r) = self
                .gw
                .store
                .find_integration(tenant, key)
                .await?
                .filter(|r| visible(ctx, r))
            {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// The integration `id` if the caller may see and change it: a
    /// bundled one is changed in its file, a conflict here.
    pub async fn editable_integration(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<IntegrationRecord, ControlError> {
        let record = self.integration(ctx, id).await?;
        if record.origin == Origin::Config {
            return Err(ControlError::Conflict(format!(
                "integration {:?} is bundled from the config directory; change its file instead",
                record.definition.name
            )));
        }
        Ok(record)
    }

    /// Delete the integration `id` (one the caller may change), effective at once.
    pub async fn delete_integration(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<(), ControlError> {
        let record = self.editable_integration(ctx, id).await?;
        if !self.gw.store.delete_integration(record.id).await? {
            return Err(ControlError::NotFound);
        }
        self.reload_index().await
    }

    /// The tool names the gateway built from integration `id`.
    pub fn integration_tools(&self, id: IntegrationId) -> Vec<String> {
        self.gw
            .index
            .integration(id)
            .map(|e| e.tool_names.clone())
            .unwrap_or_default()
    }
}
