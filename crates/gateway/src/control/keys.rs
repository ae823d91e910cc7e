//! A server's API keys: add, revoke, rotate. A key's secret exists only in
//! the answer that mints it (the store keeps its hash); every change is
//! effective on this gateway at once.

use mcpgate_store::{KeyRecord, ServerId};
use uuid::Uuid;

use super::{Control, ControlError, check};

/// The longest grace period a revoked or rotated key keeps working: a week.
const MAX_GRACE_SECS: u64 = 7 * 24 * 3600;

/// A grace period in seconds (absent: none), at most a week; errors name
/// `grace_seconds`.
pub fn grace(seconds: Option<u64>) -> Result<time::Duration, ControlError> {
    match seconds {
        None => Ok(time::Duration::ZERO),
        Some(s) if s <= MAX_GRACE_SECS => Ok(time::Duration::seconds(s as i64)),
        Some(_) => Err(ControlError::invalid(
            "grace_seconds",
            "must be at most 604800 (a week)",
        )),
    }
}

impl Control<'_> {
    /// Every key of `server`, revoked ones too, oldest first.
    pub async fn keys(&self, server: ServerId) -> Result<Vec<KeyRecord>, ControlError> {
        Ok(self.gw.store.all_server_keys(server).await?)
    }

    /// The live key most recently minted for `server`.
    pub async fn newest_key(&self, server: ServerId) -> Result<Option<KeyRecord>, ControlError> {
        Ok(self
            .gw
            .store
            .list_server_keys(server)
            .await?
            .into_iter()
            .next_back())
    }

    /// One more key for `server`, expiring at `expires_at` (RFC 3339, in
    /// the future) if given; returns it and its secret.
    pub async fn add_key(
        &self,
        server: ServerId,
        expires_at: Option<&str>,
    ) -> Result<(KeyRecord, String), ControlError> {
        let expires_at = expires_at
            .map(|e| check::future_expiry("expires_at", e))
            .transpose()?;
        let (record, key) = self
            .gw
            .store
            .add_key(server, expires_at)
            .await?
            .ok_or(ControlError::NotFound)?;
        self.refresh_server(server).await?;
        Ok((record, key.secret))
    }

    /// Revoke key `key` of `server` now, or after `grace_seconds`.
    pub async fn revoke_key(
        &self,
        server: ServerId,
        key: &str,
        grace_seconds: Option<u64>,
    ) -> Result<(), ControlError> {
        let key: Uuid = key.parse().map_err(|_| ControlError::NotFound)?;
        if !self
            .gw
            .store
            .revoke_key(server, key, grace(grace_seconds)?)
            .await?
        {
            return Err(ControlError::NotFound);
        }
        self.refresh_server(server).await
    }

    /// Rotate every live key of `server`: a new key now, the old ones
    /// revoked now or after `grace` (from [`grace`]). Returns the new key
    /// and its secret.
    pub async fn rotate_keys(
        &self,
        server: ServerId,
        grace: time::Duration,
    ) -> Result<(KeyRecord, String), ControlError> {
        let (record, key) = self
            .gw
            .store
            .rotate_keys(server, grace)
            .await?
            .ok_or(ControlError::NotFound)?;
        self.refresh_server(server).await?;
        tracing::info!(server = %server, key_prefix = %key.prefix, grace_secs = grace.whole_seconds(), "keys rotated");
        Ok((record, key.secret))
    }
}
