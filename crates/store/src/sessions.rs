//! Ended sessions, shared between replicas without moving the revision.

use sqlx::Row;
use time::OffsetDateTime;

use crate::time::{from_unix_ms, unix_ms};
use crate::write::retrying;
use crate::{Store, StoreError};

/// Cheap marks of how far the store has moved; see [`Store::change_marks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeMarks {
    /// The [`Store::revision`]: moves when anything served changes.
    pub revision: i64,
    /// The number of the latest ended session: moves when a session ends.
    pub sessions_ended: i64,
}

impl Store {
    /// Remember that a session was terminated, until it would have expired.
    /// One insert and one counter step, in one transaction: it does not
    /// move the [`revision`](Self::revision) (nothing served changes), so it
    /// causes no reload anywhere; other processes find it through
    /// [`change_marks`](Self::change_marks) and
    /// [`ended_sessions_after`](Self::ended_sessions_after). Ending a session
    /// twice is one record.
    pub async fn end_session(
        &self,
        nonce: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        retrying!(async {
            let mut tx = self.begin_write_rows().await?;
            let exists = sqlx::query("SELECT 1 FROM ended_sessions WHERE nonce = $1")
                .bind(nonce)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !exists {
                let seq: i64 = sqlx::query_scalar(
                    "UPDATE session_ends SET n = n + 1 WHERE id = 1 RETURNING n",
                )
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO ended_sessions (nonce, expires_at, seq) VALUES ($1, $2, $3) ON CONFLICT(nonce) DO NOTHING")
                    .bind(nonce)
                    .bind(unix_ms(expires_at))
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })
    }

    /// Where the store is now, cheaply (one row each): the
    /// [`revision`](Self::revision) of what is served, and the number of the
    /// latest session ended. Compare with the marks seen last to choose
    /// between a full reload, reading only the sessions ended since, or
    /// nothing.
    pub async fn change_marks(&self) -> Result<ChangeMarks, StoreError> {
        let row = sqlx::query(
            "SELECT r.n, s.n FROM revision r, session_ends s WHERE r.id = 1 AND s.id = 1",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(ChangeMarks {
            revision: row.try_get(0)?,
            sessions_ended: row.try_get(1)?,
        })
    }

    /// Sessions ended after the mark `after` (a
    /// [`ChangeMarks::sessions_ended`] seen earlier; 0 for all) that have
    /// not expired yet, with the mark to pass next time.
    pub async fn ended_sessions_after(
        &self,
        after: i64,
    ) -> Result<(Vec<(String, OffsetDateTime)>, i64), StoreError> {
        let rows = sqlx::query(
            "SELECT nonce, expires_at, seq FROM ended_sessions WHERE seq > $1 AND expires_at >= $2 ORDER BY seq",
        )
        .bind(after)
        .bind(unix_ms(OffsetDateTime::now_utc()))
        .fetch_all(self.pool())
        .await?;
        let mut last = after;
        let mut ended = Vec::with_capacity(rows.len());
        for r in &rows {
            ended.push((r.try_get::<String, _>(0)?, from_unix_ms(r.try_get(1)?)));
            last = last.max(r.try_get(2)?);
        }
        Ok((ended, last))
    }

    /// Ended sessions that have not yet expired (older ones are purged).
    pub async fn ended_sessions(&self) -> Result<Vec<(String, OffsetDateTime)>, StoreError> {
        let now = unix_ms(OffsetDateTime::now_utc());
        sqlx::query("DELETE FROM ended_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        let rows = sqlx::query("SELECT nonce, expires_at FROM ended_sessions")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), from_unix_ms(r.get(1))))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::time::now;

    use crate::test_stores::stores;

    #[tokio::test]
    async fn ending_a_session_moves_no_revision_and_others_read_only_what_is_new() {
        for store in stores().await {
            let future = now() + time::Duration::minutes(5);
            let before = store.change_marks().await.unwrap();
            store.end_session("aa", future).await.unwrap();
            let after = store.change_marks().await.unwrap();
            assert_eq!(after.revision, before.revision, "nothing served changed");
            assert!(after.sessions_ended > before.sessions_ended);
            let (ended, mark) = store
                .ended_sessions_after(before.sessions_ended)
                .await
                .unwrap();
            assert_eq!(
                ended.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                ["aa"]
            );
            assert_eq!(mark, after.sessions_ended);

            store.end_session("aa", future).await.unwrap();
            store.end_session("bb", future).await.unwrap();
            let (ended, next) = store.ended_sessions_after(mark).await.unwrap();
            assert_eq!(
                ended.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                ["bb"],
                "only what ended since, once"
            );
            assert_eq!(store.ended_sessions_after(next).await.unwrap().0, vec![]);
            assert_eq!(
                store.change_marks().await.unwrap().revision,
                before.revision
            );
            let (all, _) = store.ended_sessions_after(0).await.unwrap();
            assert_eq!(all.len(), 2);
        }
    }
}
