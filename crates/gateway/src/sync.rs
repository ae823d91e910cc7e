//! Syncing upstream MCP servers: what they offer, whether they are healthy,
//! and which tools changed since an admin accepted them (drift).

use dashmap::DashMap;
use mcpgate_store::{Store, StoreError, SyncWrite, UpstreamRecord};
use mcpgate_upstream::mcp_client::fingerprint;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::Gateway;
use crate::timefmt::now_ms;

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

/// Resyncs that upstreams' change notifications ask for, coalesced per
/// upstream, and the turns every sync of one upstream takes.
///
/// An upstream may announce `notifications/*/list_changed` hundreds of times
/// in a burst. Per upstream at most one resync runs and one more is
/// pending: an announcement while one runs marks the pending one (so the
/// final state reflects the last change), and further announcements are
/// absorbed. Memory is one entry per upstream with a resync due or running.
#[derive(Default)]
pub struct Resyncs {
    due: std::sync::Mutex<HashMap<UpstreamKey, Due>>,
    wake: tokio::sync::Notify,
    /// One sync at a time per upstream, whoever asks (an admin, the
    /// periodic job, a change announcement).
    turns: DashMap<UpstreamKey, Arc<tokio::sync::Mutex<()>>>,
}

/// An upstream, by (tenant, id).
type UpstreamKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// Announced; no resync started yet.
    Queued,
    /// A resync runs.
    Running,
    /// A resync runs, and another change came in since it started.
    RunningAgain,
}

/// The least time between the starts of two change-triggered resyncs of one
/// upstream: an upstream announcing changes without pause costs at most
/// one resync per this interval.
const RESYNC_SPACING: Duration = Duration::from_secs(1);

impl Resyncs {
    /// An upstream announced a list change. `true` when this queues a
    /// resync; `false` when it is absorbed by one already queued or pending.
    pub fn announce(&self, tenant: &str, id: &str) -> bool {
        let mut due = self.due.lock().expect("lock");
        match due.get_mut(&(tenant.to_owned(), id.to_owned())) {
            None => {
                due.insert((tenant.to_owned(), id.to_owned()), Due::Queued);
                self.wake.notify_one();
                true
            }
            Some(state @ Due::Running) => {
                *state = Due::RunningAgain;
                true
            }
            Some(Due::Queued | Due::RunningAgain) => false,
        }
    }

    /// The queued upstreams, now marked running.
    fn start_queued(&self) -> Vec<UpstreamKey> {
        let mut due = self.due.lock().expect("lock");
        due.iter_mut()
            .filter(|(_, state)| **state == Due::Queued)
            .map(|(key, state)| {
                *state = Due::Running;
                key.clone()
            })
            .collect()
    }

    /// A resync of `key` ended: `true` when another must run (a change was
    /// announced while it ran), else the upstream is forgotten.
    fn finished(&self, key: &UpstreamKey) -> bool {
        let mut due = self.due.lock().expect("lock");
        match due.get_mut(key) {
            Some(state @ Due::RunningAgain) => {
                *state = Due::Running;
                true
            }
            _ => {
                due.remove(key);
                false
            }
        }
    }

    /// Upstreams with a resync queued, running or pending (for tests and
    /// metrics: bounded by the number of upstreams).
    pub fn pending(&self) -> usize {
        self.due.lock().expect("lock").len()
    }

    /// Wait for this upstream's turn to sync.
    async fn turn(&self, key: &UpstreamKey) -> Turn<'_> {
        let lock = Arc::clone(&self.turns.entry(key.clone()).or_default());
        let guard = lock.lock_owned().await;
        Turn {
            resyncs: self,
            key: key.clone(),
            guard: Some(guard),
        }
    }
}

/// One upstream's turn to sync; the entry goes when nobody else waits.
struct Turn<'a> {
    resyncs: &'a Resyncs,
    key: UpstreamKey,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // Waiters hold a clone of the lock, taken under the map's shard
        // lock, so a count of one (the map's) means none waits.
        self.resyncs
            .turns
            .remove_if(&self.key, |_, lock| Arc::strong_count(lock) == 1);
    }
}

/// What a sync did.
#[derive(Debug)]
pub enum Synced {
    /// Its outcome is recorded on the upstream (as it now stands).
    Recorded(Box<UpstreamRecord>),
    /// Its outcome was dropped: the upstream's endpoint, credential or
    /// timeout changed while it ran.
    Superseded,
}

/// Sync one upstream now and record the outcome on it. With
/// `accept_changes`, the current tool definitions become the accepted ones.
/// `None` when there is no such upstream.
pub async fn sync_upstream(
    gw: &Gateway,
    tenant: &str,
    id: &str,
    accept_changes: bool,
) -> Result<Option<Synced>, StoreError> {
    run_sync(gw, tenant, id, accept_changes, true).await
}

/// A sync: on a fresh upstream session (`fresh`), else on the current one
/// (a resync after a change the upstream announced on it).
async fn run_sync(
    gw: &Gateway,
    tenant: &str,
    id: &str,
    accept_changes: bool,
    fresh: bool,
) -> Result<Option<Synced>, StoreError> {
    let key = (tenant.to_owned(), id.to_owned());
    let _turn = gw.resyncs.turn(&key).await;
    // Taken after the turn: an earlier sync may have reloaded the index.
    let Some(entry) = gw.index.upstream(tenant, id) else {
        return Ok(None);
    };
    // The client was built from this configuration; its results belong to it.
    let started_with = entry.record.clone();
    let outcome = entry.client.sync(fresh).await;
    drop(entry);
    let now = now_ms();
    let write = gw
        .store
        .record_sync(&started_with, |record| {
            record.last_synced = Some(now);
            match &outcome {
                Ok(snapshot) => record_snapshot(record, snapshot, accept_changes, now),
                Err(e) => {
                    record.status = "error".into();
                    record.error = Some(serde_json::to_value(e).expect("an error serializes"));
                }
            }
        })
        .await?;
    match &outcome {
        Ok(snapshot) if !snapshot.warnings.is_empty() => {
            tracing::warn!(upstream = %id, warnings = ?snapshot.warnings, "upstream lists are odd");
        }
        Ok(_) => {}
        // Redacted and short: the client builds it so.
        Err(e) => tracing::warn!(upstream = %id, error = %e, "upstream sync failed"),
    }
    let record = match write {
        SyncWrite::Recorded(record) => record,
        SyncWrite::Gone => return Ok(None),
        SyncWrite::Superseded => {
            tracing::info!(upstream = %id,
                "the upstream's configuration changed during its sync; the outcome was dropped");
            return Ok(Some(Synced::Superseded));
        }
    };
    gw.index.load_all(&gw.store).await?;
    Ok(Some(Synced::Recorded(record)))
}

/// Set a successful sync's fields: the lists, drift against the accepted
/// definitions, warnings, status.
fn record_snapshot(
    record: &mut UpstreamRecord,
    snapshot: &mcpgate_upstream::Snapshot,
    accept_changes: bool,
    now: i64,
) {
    let warnings = snapshot.warnings.clone();
    let snapshot = serde_json::to_value(snapshot).expect("a snapshot serializes");
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
            tracing::warn!(upstream = %record.id, changed = record.changes.len(),
                "upstream tools changed since they were accepted");
        }
    }
    record.snapshot = Some(snapshot);
    record.warnings = warnings;
    record.status = "ready".into();
    record.error = None;
    record.last_successful_sync = Some(now);
}

/// Resync `key` after its announced change, then again while changes keep
/// coming in during the resync (at most [`RESYNC_SPACING`] apart).
async fn resync_announced(gw: Arc<Gateway>, key: UpstreamKey) {
    loop {
        let started = tokio::time::Instant::now();
        if let Err(e) = run_sync(&gw, &key.0, &key.1, false, false).await {
            tracing::warn!(upstream = %key.1, error = %e, "resync after a change failed to record");
        }
        if !gw.resyncs.finished(&key) {
            return;
        }
        tokio::time::sleep_until(started + RESYNC_SPACING).await;
    }
}

/// The periodic upstream resync's job name (one runner per store).
pub const RESYNC_JOB: &str = "upstream-resync";

/// Resync every upstream whose last sync is older than `every` (with a
/// per-upstream jitter of up to a tenth, so they do not all go at once),
/// and each upstream that announced a change (coalesced, see [`Resyncs`]).
/// Only the replica holding the job's lease runs the periodic part.
pub fn spawn_resync(
    gw: std::sync::Arc<Gateway>,
    every: Duration,
    periodic: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_secs(15).min(every);
        let mut tick = tokio::time::interval(period);
        // Replicas sharing a store take turns: one holds the job's lease and
        // renews it every tick; if it dies, another replica takes the job
        // over (on SQLite once the lease lapses after three ticks, on
        // PostgreSQL at its next tick after the holder's lock connection closes).
        let holder = uuid::Uuid::new_v4().to_string();
        let lease = time::Duration::try_from(period * 3).unwrap_or(time::Duration::MINUTE);
        let mut running = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                // An upstream that announced a list change is resynced at once.
                () = gw.resyncs.wake.notified() => {
                    for key in gw.resyncs.start_queued() {
                        tokio::spawn(resync_announced(Arc::clone(&gw), key));
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
            url_provenance: Default::default(),
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
            config_version: 0,
            warnings: Vec::new(),
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
