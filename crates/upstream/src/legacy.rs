//! The legacy HTTP+SSE transport (protocol 2024-11-05), for upstreams that
//! do not speak Streamable HTTP: a long-lived GET stream announces a POST
//! endpoint (`event: endpoint`), requests are POSTed there, and responses
//! come back as `message` events on the stream.

use futures_util::StreamExt;
use reqwest::header::{ACCEPT, HeaderValue};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

use crate::bounded;
use crate::mcp_client::{UpstreamError, is_event_stream};

#[derive(Default)]
struct Shared {
    waiting: Mutex<HashMap<i64, oneshot::Sender<Value>>>,
    alive: AtomicBool,
    /// Why the stream was closed, when the gateway closed it.
    closed: Mutex<Option<String>>,
}

/// A connection over the legacy transport.
pub(crate) struct Legacy {
    /// Where messages are POSTed (from the `endpoint` event).
    pub post_url: String,
    shared: Arc<Shared>,
    reader: tokio::task::AbortHandle,
}

impl Drop for Legacy {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn err(message: impl Into<String>) -> UpstreamError {
    UpstreamError {
        message: message.into(),
        status: None,
        retryable: true,
    }
}

impl Legacy {
    /// Open the SSE stream at `url` and wait for its POST endpoint. An
    /// event over `max_event` bytes closes the stream (and fails the
    /// requests waiting on it).
    pub async fn connect(
        http: &reqwest::Client,
        url: &str,
        auth: Option<&HeaderValue>,
        max_event: usize,
    ) -> Result<Arc<Self>, UpstreamError> {
        let mut request = http.get(url).header(ACCEPT, "text/event-stream");
        if let Some(auth) = auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth.clone());
        }
        let response = request.send().await.map_err(|e| {
            err(format!(
                "cannot open the upstream's SSE stream: {}",
                crate::egress::reason(e)
            ))
        })?;
        let status = response.status();
        if !status.is_success() || !is_event_stream(&response) {
            return Err(UpstreamError {
                message: format!(
                    "the upstream speaks neither Streamable HTTP nor HTTP+SSE (GET answered {})",
                    status.as_u16()
                ),
                status: Some(status.as_u16()),
                retryable: false,
            });
        }
        let shared = Arc::new(Shared {
            alive: AtomicBool::new(true),
            ..Shared::default()
        });
        let (endpoint_tx, endpoint_rx) = oneshot::channel::<String>();
        let reader_shared = Arc::clone(&shared);
        let reader = tokio::spawn(async move {
            let mut endpoint_tx = Some(endpoint_tx);
            let mut stream = bounded::events(response, max_event);
            while let Some(event) = stream.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        if bounded::too_large(&e) {
                            *reader_shared.closed.lock().expect("lock") = Some(format!(
                                "an event of the upstream's SSE stream exceeds {max_event} bytes \
                                 (upstream.max_response_bytes); the stream was closed"
                            ));
                        }
                        break;
                    }
                };
                let Some(data) = event.data else { continue };
                if event.event.as_deref() == Some("endpoint") {
                    if let Some(tx) = endpoint_tx.take() {
                        let _ = tx.send(data.trim().to_owned());
                    }
                    continue;
                }
                let Ok(message) = serde_json::from_str::<Value>(&data) else {
                    continue;
                };
                let id = message.get("id").and_then(Value::as_i64);
                let is_response = message.get("result").is_some() || message.get("error").is_some();
                if let (Some(id), true) = (id, is_response)
                    && let Some(waiter) = reader_shared.waiting.lock().expect("lock").remove(&id)
                {
                    let _ = waiter.send(message);
                }
            }
            reader_shared.alive.store(false, Ordering::Relaxed);
            // Waiters see their channel close: the connection is gone.
            reader_shared.waiting.lock().expect("lock").clear();
        })
        .abort_handle();
        let endpoint = tokio::time::timeout(Duration::from_secs(10), endpoint_rx)
            .await
            .map_err(|_| err("the upstream's SSE stream sent no endpoint"))?
            .map_err(|_| err("the upstream's SSE stream closed before sending its endpoint"))?;
        let base = reqwest::Url::parse(url).map_err(|_| err("the upstream's URL is not valid"))?;
        let post_url = base.join(&endpoint).map_err(|_| {
            err(format!(
                "the upstream announced an unusable endpoint {endpoint:?}"
            ))
        })?;
        // Requests to the endpoint carry the upstream's credential: it must
        // stay on the origin the credential was configured for.
        if post_url.origin() != base.origin() {
            return Err(err(
                "the upstream announced an endpoint on another origin, which mcpgate does not follow",
            ));
        }
        let post_url = post_url.to_string();
        Ok(Arc::new(Self {
            post_url,
            shared,
            reader,
        }))
    }

    /// Whether the stream is still open.
    pub fn alive(&self) -> bool {
        self.shared.alive.load(Ordering::Relaxed)
    }

    /// POST a request and wait for its response on the stream.
    pub async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        id: i64,
        timeout: Duration,
    ) -> Result<Value, UpstreamError> {
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().expect("lock").insert(id, tx);
        let sent = request.send().await;
        let accepted = matches!(&sent, Ok(r) if r.status().is_success());
        if !accepted {
            self.shared.waiting.lock().expect("lock").remove(&id);
            return Err(match sent {
                Ok(r) => UpstreamError {
                    message: format!("the upstream answered HTTP {}", r.status().as_u16()),
                    status: Some(r.status().as_u16()),
                    retryable: r.status().is_server_error(),
                },
                Err(e) => err(format!(
                    "cannot reach the upstream: {}",
                    crate::egress::reason(e)
                )),
            });
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(message)) => Ok(message),
            Ok(Err(_)) => Err(err(self
                .shared
                .closed
                .lock()
                .expect("lock")
                .clone()
                .unwrap_or_else(|| {
                    "the upstream's SSE stream closed before the response".to_owned()
                }))),
            Err(_) => {
                self.shared.waiting.lock().expect("lock").remove(&id);
                Err(err(format!(
                    "the upstream did not answer within {} s",
                    timeout.as_secs_f64()
                )))
            }
        }
    }
}
