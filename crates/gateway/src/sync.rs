//! Syncing upstream MCP servers: what they offer, whether they are healthy,
//! and which tools changed since an admin accepted them (drift).

use mcpgate_store::{Store, StoreError, UpstreamRecord};
use mcpgate_upstream::mcp_client::fingerprint;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

use crate::Gateway;

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The status to show: `ready` turns `stale` once the last success is older
/// than the resync interval.
pub fn status(record: &UpstreamRecord, resync: Duration) -> &str {
    match (record.status.as_str(), record.last_successful_sync) {
        // Stored times are data: saturate rather than overflow on odd ones.
        ("ready", Some(last)) if now_ms().saturating_sub(last) > resync.as_millis() as i64 => {
            "stale"
        }
        (s, _) => s,
    }
}

/// Tool fingerprints by name.
fn fingerprints(snapshot: &Value) -> BTreeMap<String, String> {
    snapshot
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t.get("name")?.as_str()?.to_owned(), fingerprint(t))))
        .collect()
}

/// Sync one upstream now and record the outcome on it. With
/// `accept_changes`, the current tool definitions become the accepted ones.
/// `None` when there is no such upstream.
pub async fn sync_upstream(
    gw: &Gateway,
    tenant: &str,
    id: &str,
    accept_changes: bool,
) -> Result<Option<UpstreamRecord>, StoreError> {
    let Some(entry) = gw.registry.upstream(tenant, id) else {
        return Ok(None);
    };
    let mut record = entry.record.clone();
    let outcome = entry.client.sync().await;
    let now = now_ms();
    record.last_synced = Some(now);
    match outcome {
        Ok(snapshot) => {
            let snapshot = serde_json::to_value(&snapshot).expect("a snapshot serializes");
            let current = fingerprints(&snapshot);
            if record.accepted.is_empty() || accept_changes {
                record.accepted = current;
                record.changes.clear();
            } else {
                record.changes = current
                    .iter()
                    .filter(|(name, fp)| record.accepted.get(*name) != Some(*fp))
                    .map(|(name, fp)| {
                        let change = if record.accepted.contains_key(name) {
                            "modified"
                        } else {
                            "added"
                        };
                        json!({"tool": name, "change": change, "fingerprint": fp})
                    })
                    .collect();
                if !record.changes.is_empty() {
                    tracing::warn!(upstream = %id, changed = record.changes.len(),
                        "upstream tools changed since they were accepted");
                }
            }
            record.snapshot = Some(snapshot);
            record.status = "ready".into();
            record.error = None;
            record.last_successful_sync = Some(now);
        }
        Err(e) => {
            tracing::warn!(upstream = %id, error = %e, "upstream sync failed");
            record.status = "error".into();
            record.error = Some(serde_json::to_value(&e).expect("an error serializes"));
        }
    }
    gw.store.update_upstream(&record, None).await?;
    gw.registry.load_all(&gw.store).await?;
    Ok(Some(record))
}

/// The periodic upstream resync's job name (one runner per store).
pub const RESYNC_JOB: &str = "upstream-resync";

/// Resync every upstream whose last sync is older than `every` (with a
/// per-upstream jitter of up to a tenth, so they do not all go at once).
/// Only the replica holding the job's lease runs the periodic part.
pub fn spawn_resync(
    gw: std::sync::Arc<Gateway>,
    every: Duration,
    periodic: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_secs(15).min(every);
        let mut tick = tokio::time::interval(period);
        let mut changed = gw.changed.lock().await.take();
        // Replicas sharing a store take turns: one holds the job's lease and
        // renews it every tick; if it dies, another replica takes the job
        // over (on SQLite once the lease lapses after three ticks, on
        // PostgreSQL at its next tick after the holder's lock connection closes).
        let holder = uuid::Uuid::new_v4().to_string();
        let lease = time::Duration::try_from(period * 3).unwrap_or(time::Duration::MINUTE);
        let mut running = false;
        loop {
            // An upstream that announced a list change is resynced at once.
            let announced = async {
                match changed.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tick.tick() => {}
                Some((tenant, id)) = announced => {
                    if let Err(e) = sync_upstream(&gw, &tenant, &id, false).await {
                        tracing::warn!(upstream = %id, error = %e, "resync after a change failed to record");
                    }
                    continue;
                }
            }
            if !periodic {
                continue;
            }
            let holds = gw
                .store
                .hold_lease(RESYNC_JOB, &holder, lease)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot take the upstream resync lease");
                    false
                });
            if holds != running {
                running = holds;
                if running {
                    tracing::info!("this replica now runs the periodic upstream resync");
                } else {
                    tracing::info!("another replica runs the periodic upstream resync now");
                }
            }
            if !running {
                continue;
            }
            let due: Vec<(String, String)> = match list(&gw.store).await {
                Ok(all) => all
                    .into_iter()
                    .filter(|r| {
                        let jitter = (fingerprint(&json!(r.id)).as_bytes()[0] as u64 % 10)
                            * every.as_millis() as u64
                            / 100;
                        r.last_synced.is_none_or(|t| {
                            now_ms().saturating_sub(t) > (every.as_millis() as u64 + jitter) as i64
                        })
                    })
                    .map(|r| (r.tenant, r.id))
                    .collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list upstreams to resync");
                    continue;
                }
            };
            for (tenant, id) in due {
                if let Err(e) = sync_upstream(&gw, &tenant, &id, false).await {
                    tracing::warn!(upstream = %id, error = %e, "resync failed to record");
                }
            }
        }
    })
}

async fn list(store: &Store) -> Result<Vec<UpstreamRecord>, StoreError> {
    Ok(store
        .list_upstreams()
        .await?
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: &str, last_success_ago_ms: Option<i64>) -> UpstreamRecord {
        UpstreamRecord {
            tenant: "t".into(),
            id: "u".into(),
            name: "u".into(),
            hostname: "http://x/mcp".into(),
            auth_type: "unauthenticated".into(),
            timeout_secs: None,
            description: None,
            status: status.into(),
            error: None,
            snapshot: None,
            accepted: Default::default(),
            changes: Vec::new(),
            last_synced: None,
            last_successful_sync: last_success_ago_ms.map(|a| now_ms() - a),
            created_at: 0,
            created_by: None,
            modified_at: 0,
            modified_by: None,
        }
    }

    #[test]
    fn ready_turns_stale_after_the_resync_interval() {
        let hour = Duration::from_secs(3600);
        assert_eq!(status(&record("ready", Some(1000)), hour), "ready");
        assert_eq!(status(&record("ready", Some(2 * 3_600_000)), hour), "stale");
        assert_eq!(status(&record("error", Some(2 * 3_600_000)), hour), "error");
        assert_eq!(status(&record("waiting", None), hour), "waiting");
    }

    #[test]
    fn fingerprints_by_tool_name() {
        let fps = fingerprints(
            &json!({"tools": [{"name": "a", "x": 1}, {"name": "b"}, {"nameless": true}]}),
        );
        assert_eq!(fps.len(), 2);
        assert_ne!(fps["a"], fps["b"]);
    }
}
