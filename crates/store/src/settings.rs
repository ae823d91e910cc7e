//! Named settings: small values fixed at first start (keys, checks).

use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// A setting's value.
    pub async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }

    /// Store a setting unless one exists; returns the value now in force, so
    /// racing first starts agree on one value.
    pub async fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT(name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(self
            .get_setting(name)
            .await?
            .unwrap_or_else(|| value.to_owned()))
    }
}

#[cfg(test)]
mod tests {

    use crate::time::now;

    use crate::test_stores::stores;

    #[tokio::test]
    async fn settings_keep_the_first_value_and_sessions_expire() {
        for store in stores().await {
            assert_eq!(store.init_setting("k", "one").await.unwrap(), "one");
            assert_eq!(store.init_setting("k", "two").await.unwrap(), "one");

            let past = now() - time::Duration::minutes(1);
            let future = now() + time::Duration::minutes(1);
            store.end_session("old", past).await.unwrap();
            store.end_session("new", future).await.unwrap();
            let ended: Vec<_> = store
                .ended_sessions()
                .await
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            assert_eq!(ended, vec!["new".to_owned()]);
        }
    }
}
