//! Sandbox twins' state, kept in memory for the hot path and written behind
//! to the store (in order, by one task), so it survives restarts.

use mcpgate_store::Store;
use mcpgate_upstream::simulator::{MemoryState, SandboxState};
use serde_json::Value;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::mpsc::UnboundedSender;

struct Write {
    sandbox: String,
    resource: String,
    id: String,
    seq: i64,
    doc: Option<Value>,
}

/// What the writer task does, in the order it was asked: a reset queued after
/// pending writes so none of them lands after it and revives an object.
enum Op {
    Write(Write),
    Reset(
        String,
        tokio::sync::oneshot::Sender<Result<u64, mcpgate_store::StoreError>>,
    ),
}

/// Simulated objects of every sandbox.
pub struct PersistentSandbox {
    memory: MemoryState,
    writes: UnboundedSender<Op>,
    seq: AtomicI64,
}

impl PersistentSandbox {
    /// Load every sandbox object from the store and start the writer.
    pub async fn load(store: &Store) -> Result<Self, mcpgate_store::StoreError> {
        let memory = MemoryState::default();
        let rows = store.sandbox_load().await?;
        let count = rows.len() as i64;
        for (sandbox, resource, id, doc) in rows {
            match doc {
                Some(doc) => memory.put(&sandbox, &resource, &id, doc),
                None => memory.delete(&sandbox, &resource, &id),
            }
        }
        let (writes, mut rx) = tokio::sync::mpsc::unbounded_channel::<Op>();
        let store = store.clone();
        tokio::spawn(async move {
            while let Some(op) = rx.recv().await {
                match op {
                    Op::Write(w) => {
                        if let Err(e) = store
                            .sandbox_write(&w.sandbox, &w.resource, &w.id, w.seq, w.doc.as_ref())
                            .await
                        {
                            tracing::warn!(error = %e, "could not store a sandbox object");
                        }
                    }
                    Op::Reset(sandbox, done) => {
                        let _ = done.send(store.sandbox_reset(&sandbox).await);
                    }
                }
            }
        });
        // Sequence numbers continue after what is stored (time-based, so a
        // restart never reuses one).
        let base = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64;
        Ok(Self {
            memory,
            writes,
            seq: AtomicI64::new(base.max(count)),
        })
    }

    /// Forget a sandbox's objects, in memory and in the store.
    pub async fn reset(
        &self,
        store: &Store,
        sandbox: &str,
    ) -> Result<u64, mcpgate_store::StoreError> {
        self.memory.reset(sandbox);
        let (done, result) = tokio::sync::oneshot::channel();
        if self
            .writes
            .send(Op::Reset(sandbox.to_owned(), done))
            .is_ok()
            && let Ok(removed) = result.await
        {
            return removed;
        }
        // No writer (shutting down): nothing is pending, reset directly.
        store.sandbox_reset(sandbox).await
    }

    fn write(&self, sandbox: &str, resource: &str, id: &str, doc: Option<Value>) {
        let _ = self.writes.send(Op::Write(Write {
            sandbox: sandbox.to_owned(),
            resource: resource.to_owned(),
            id: id.to_owned(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            doc,
        }));
    }
}

impl SandboxState for PersistentSandbox {
    fn get(&self, sandbox: &str, resource: &str, id: &str) -> Option<Option<Value>> {
        self.memory.get(sandbox, resource, id)
    }

    fn put(&self, sandbox: &str, resource: &str, id: &str, value: Value) {
        self.memory.put(sandbox, resource, id, value.clone());
        self.write(sandbox, resource, id, Some(value));
    }

    fn delete(&self, sandbox: &str, resource: &str, id: &str) {
        self.memory.delete(sandbox, resource, id);
        self.write(sandbox, resource, id, None);
    }

    fn list(&self, sandbox: &str, resource: &str) -> Vec<Value> {
        self.memory.list(sandbox, resource)
    }
}
