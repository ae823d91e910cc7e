//! Operational endpoints and request metrics: `/healthz`, `/readyz`, `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::Arc;
use std::time::Duration;

use crate::Gateway;
use crate::http_util;

const REQUESTS: &str = "mcpgate_requests_total";
const DURATION: &str = "mcpgate_request_duration_seconds";

/// Why the process-wide Prometheus recorder was not installed (most often:
/// another recorder already is).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MetricsError(#[from] metrics_exporter_prometheus::BuildError);

/// Install the process-wide Prometheus recorder and return its handle.
/// Call once per process.
pub fn install_metrics() -> Result<PrometheusHandle, MetricsError> {
    Ok(builder().install_recorder()?)
}

/// A handle whose recorder is not installed globally (for in-process tests).
pub fn detached_metrics() -> PrometheusHandle {
    builder().build_recorder().handle()
}

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DURATION.to_owned()),
            &[
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0, 30.0,
            ],
        )
        .expect("bucket list is not empty")
}

fn status_label(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "200",
        202 => "202",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        406 => "406",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// Count one data-plane request and observe its latency.
pub fn record_request(method: &'static str, status: StatusCode, elapsed: Duration) {
    let status = status_label(status);
    metrics::counter!(REQUESTS, "method" => method, "status" => status).increment(1);
    metrics::histogram!(DURATION, "method" => method, "status" => status)
        .record(elapsed.as_secs_f64());
}

/// Count a request refused by a per-key limit (`rate` or `concurrency`).
pub fn record_limit_rejection(kind: &'static str) {
    metrics::counter!("mcpgate_limit_rejections_total", "limit" => kind).increment(1);
}

/// GET /healthz: the process is up.
pub async fn healthz() -> Response {
    http_util::json(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// GET /readyz: the store answers (and which store it is, and where limits
/// are counted).
pub async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    let (servers, keys) = gw.index.counts();
    // Limits falling back to per-replica counts keep the gateway serving
    // (still limited), so it stays ready, but says so.
    let limits = match &gw.cluster_limits {
        None => serde_json::json!({"backend": "local"}),
        Some(cluster) => match cluster.check().await {
            None => serde_json::json!({"backend": "redis", "state": "ok"}),
            Some(why) => serde_json::json!({
                "backend": "redis",
                "state": "degraded",
                "detail": format!("Redis unavailable ({why}); enforcing per-replica limits"),
            }),
        },
    };
    let backend = gw.store.backend().name();
    match gw.store.ping().await {
        Ok(()) => http_util::json(
            StatusCode::OK,
            serde_json::json!({
                "status": "ready",
                "servers": servers,
                "keys": keys,
                "store": {"backend": backend},
                "limits": limits,
            })
            .to_string(),
        ),
        Err(e) => http_util::json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({
                "status": "unavailable",
                "store": {"backend": backend, "error": e.to_string()},
            })
            .to_string(),
        ),
    }
}

/// GET /metrics: Prometheus text format.
pub async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        gw.metrics.render(),
    )
        .into_response()
}
