//! Change notifications: how a replica hears that another one wrote.
//!
//! Every write the gateway serves from bumps the store's revision; on
//! PostgreSQL it also sends a notification on [`CHANNEL`], so a replica
//! listening here learns of it in milliseconds instead of at its next poll.

use sqlx::postgres::PgListener;

use crate::StoreError;

/// The channel the schema's triggers notify on.
pub const CHANNEL: &str = "mcpgate_changes";

/// A LISTEN connection to a PostgreSQL store.
pub struct ChangeListener(PgListener);

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangeListener")
    }
}

impl ChangeListener {
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Self(listener))
    }

    /// Wait for the next change. After an error (the connection dropped),
    /// the next call reconnects; notifications sent meanwhile are lost, so
    /// callers also compare the revision now and then.
    pub async fn changed(&mut self) -> Result<(), StoreError> {
        self.0.recv().await?;
        Ok(())
    }
}
