//! Tenant-scoped admin tokens. Only a super-admin mints and revokes them;
//! the secret exists only in the answer that mints it.

use mcpgate_store::{AdminTokenRecord, ApiKey};
use uuid::Uuid;

use super::{AdminContext, Control, ControlError, check};

impl Control<'_> {
    /// The caller is a super-admin, who alone manages admin tokens.
    pub fn require_super(&self, ctx: &AdminContext) -> Result<(), ControlError> {
        if ctx.is_super() {
            Ok(())
        } else {
            Err(ControlError::Forbidden(
                "only a super-admin token (MCPGATE_ADMIN_TOKEN or the bootstrap token) manages admin tokens"
                    .to_owned(),
            ))
        }
    }

    /// Mint an admin token for `tenant` (trimmed; a tenant name), accepted at once.
    pub async fn create_admin_token(
        &self,
        ctx: &AdminContext,
        tenant: &str,
    ) -> Result<(AdminTokenRecord, ApiKey), ControlError> {
        self.require_super(ctx)?;
        let tenant = tenant.trim();
        check::tenant("tenant", tenant)?;
        let (record, key) = self.gw.store.create_admin_token(Some(tenant)).await?;
        self.gw.admin.reload(&self.gw.store).await?;
        tracing::info!(admin_token = %record.id, tenant, prefix = %record.prefix, "admin token created");
        Ok((record, key))
    }

    /// The admin tokens the caller may see: all for a super-admin, else its tenant's.
    pub async fn admin_tokens(
        &self,
        ctx: &AdminContext,
    ) -> Result<Vec<AdminTokenRecord>, ControlError> {
        let mut tokens = self.gw.store.list_admin_tokens().await?;
        tokens.retain(|t| ctx.is_super() || t.tenant == ctx.tenant);
        Ok(tokens)
    }

    /// Revoke admin token `id` (a UUID), refused at once.
    pub async fn revoke_admin_token(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<(), ControlError> {
        self.require_super(ctx)?;
        let id: Uuid = id.parse().map_err(|_| ControlError::NotFound)?;
        if !self.gw.store.revoke_admin_token(id).await? {
            return Err(ControlError::NotFound);
        }
        self.gw.admin.reload(&self.gw.store).await?;
        Ok(())
    }
}
