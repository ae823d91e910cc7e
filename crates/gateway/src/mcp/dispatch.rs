//! Dispatch: a request's method → the handler that answers it, over one
//! server's [`ServerView`]. Lists are pre-serialized pages; `tools/call`
//! goes to the sandbox twin or the view's executor; prompts, resources,
//! completions and log levels of a portal go to the upstream that owns them.
//! The answer is the result's JSON text; each era writes it its own way.

use axum::http::HeaderMap;
use axum::response::Response;
use mcpgate_protocol::mcp::{ListParams, LogLevel, method};
use mcpgate_protocol::{ErrorCode, RpcError, jsonrpc};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::Gateway;
use crate::fixtures::Recording;
use crate::mcp::admission::{Permit, param_headers};
use crate::mcp::call::Request;
use crate::mcp::relay::{self, Caller, PortalCall};
use crate::mcp::twin::Twin;
use crate::view::ServerView;

/// What every request of one POST is served with: the gateway, the
/// server, the sandbox twin (when the request came to one), and the
/// client's headers.
pub(crate) struct Ctx<'a> {
    /// The gateway (relay state, recorder, a listen stream's key checks).
    pub gw: &'a Arc<Gateway>,
    /// The server the key opens.
    pub view: &'a Arc<ServerView>,
    /// Set on a sandbox twin's endpoint.
    pub twin: Option<&'a Twin<'a>>,
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The client accepts `text/event-stream` answers.
    pub streaming: bool,
}

/// How a request was answered: by the dispatch (each era writes the reply
/// its own way), or by the relay, which wrote the response itself.
pub(crate) enum Answer<'a> {
    /// The result's text or the error.
    Reply(Result<Reply<'a>, RpcError>),
    /// A portal call's answer, already a response (JSON or SSE).
    Relayed(Response),
}

/// Serve one request of either era: a production `tools/call` of a portal
/// tool goes to the relay; everything else to [`dispatch`]. A recording
/// server's `tools/call` results are recorded either way.
pub(crate) async fn serve<'a>(
    ctx: &Ctx<'a>,
    caller: Caller<'_>,
    request: Request,
    permit: Option<Permit>,
) -> Answer<'a> {
    let view = ctx.view;
    let portal = match (ctx.twin, request.tool_call()) {
        (None, Some(call)) => relay::portal_tool(view, call),
        _ => None,
    };
    let recording = match (ctx.twin, request.tool_call()) {
        (None, Some(call)) => Recording::new(ctx.gw, view, &call.name, call.arguments_value()),
        _ => None,
    };
    let request = match portal {
        Some(tool) => match request.into_tool_call() {
            Ok((id, call)) => {
                let call = PortalCall {
                    tool,
                    call,
                    recording,
                    passthrough: param_headers(ctx.headers),
                    permit,
                    streaming: ctx.streaming,
                };
                let response = relay::portal_call(&ctx.gw.relays, caller, &id, call).await;
                return Answer::Relayed(response);
            }
            Err(request) => request,
        },
        None => request,
    };
    let reply = dispatch(view, &request, ctx.twin).await;
    if let (Some(recording), Ok(reply)) = (recording, &reply) {
        recording.save_result(reply.text());
    }
    drop(permit);
    Answer::Reply(reply)
}

/// A result's JSON text: borrowed from the view (pre-serialized pages) or
/// made for this request.
pub(crate) enum Reply<'a> {
    /// Text the view already holds.
    Borrowed(&'a str),
    /// Text made for this request.
    Owned(Box<RawValue>),
}

impl Reply<'_> {
    /// The result's JSON text.
    pub(crate) fn text(&self) -> &str {
        match self {
            Reply::Borrowed(text) => text,
            Reply::Owned(raw) => raw.get(),
        }
    }
}

#[derive(serde::Deserialize)]
struct NamedParams {
    name: String,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// `logging/setLevel` params.
#[derive(serde::Deserialize)]
pub(crate) struct LevelParams {
    /// The level's wire name.
    pub level: String,
}

#[derive(serde::Deserialize)]
struct UriParams {
    uri: String,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// Forward a request to an upstream: its result or JSON-RPC error as is; a
/// transport failure as an internal error that says which upstream.
async fn proxy(
    client: &mcpgate_upstream::McpClient,
    method: &str,
    params: Value,
) -> Result<Reply<'static>, RpcError> {
    match client.request(method, params).await {
        Ok(result) => Ok(Reply::Owned(
            serde_json::value::to_raw_value(&result).expect("JSON serializes"),
        )),
        Err(mcpgate_upstream::CallError::Rpc(e)) => Err(mcpgate_upstream::forwarded(&e)),
        Err(mcpgate_upstream::CallError::Transport(e)) => Err(RpcError::internal(format!(
            "the upstream MCP server at {} failed: {e}",
            client.url()
        ))),
    }
}

/// Answer `request` from `view` (through `twin` for a sandbox twin): the
/// result's text, or the JSON-RPC error (-32601 for a method this server
/// does not handle, -32602 for bad params, an upstream's own error as it is).
pub(crate) async fn dispatch<'a>(
    view: &'a ServerView,
    request: &Request,
    twin: Option<&Twin<'_>>,
) -> Result<Reply<'a>, RpcError> {
    let method = request.method.as_str();
    let params = request.raw_params();
    match method {
        method::PING => Ok(Reply::Borrowed("{}")),
        method::TOOLS_LIST => {
            let p: ListParams = jsonrpc::params(params)?;
            view.tools_page(p.cursor.as_deref()).map(Reply::Borrowed)
        }
        method::TOOLS_CALL => {
            let call = request.parsed_call()?;
            let handler = view
                .handler(&call.name)
                .ok_or_else(|| RpcError::invalid_params(format!("Unknown tool: {}", call.name)))?;
            // In a sandbox twin, API and upstream tools are simulated.
            if let Some(twin) = twin
                && let Some(simulated) = twin.call(view, handler, call).await
            {
                return Ok(Reply::Owned(simulated));
            }
            Ok(Reply::Owned(
                view.executor().call(handler, call.arguments()).await?,
            ))
        }
        method::PROMPTS_LIST => {
            let p: ListParams = jsonrpc::params(params)?;
            view.prompts_page(p.cursor.as_deref()).map(Reply::Borrowed)
        }
        method::RESOURCES_LIST => {
            let p: ListParams = jsonrpc::params(params)?;
            view.resources_page(p.cursor.as_deref())
                .map(Reply::Borrowed)
        }
        method::RESOURCE_TEMPLATES_LIST => {
            let p: ListParams = jsonrpc::params(params)?;
            view.templates_page(p.cursor.as_deref())
                .map(Reply::Borrowed)
        }
        method::PROMPTS_GET => {
            let p: NamedParams = jsonrpc::params(params)?;
            let (client, name) =
                view.routes().prompts.get(&p.name).ok_or_else(|| {
                    RpcError::invalid_params(format!("Unknown prompt: {}", p.name))
                })?;
            let mut forward = p.rest;
            if let Some(arguments) = forward.get_mut("arguments") {
                view.routes().restore_prompt_arguments(&p.name, arguments);
            }
            forward.insert("name".into(), Value::String(name.clone()));
            proxy(client, method::PROMPTS_GET, Value::Object(forward)).await
        }
        method::LOGGING_SET_LEVEL => set_level(view, params).await,
        method::COMPLETION_COMPLETE => complete(view, params).await,
        method::RESOURCES_SUBSCRIBE | method::RESOURCES_UNSUBSCRIBE => {
            let p: UriParams = jsonrpc::params(params)?;
            let client = view.routes().resource(&p.uri).ok_or_else(|| {
                RpcError::new(ErrorCode(-32002), format!("Resource not found: {}", p.uri))
            })?;
            let mut forward = p.rest;
            forward.insert("uri".into(), Value::String(p.uri));
            proxy(client, method, Value::Object(forward)).await
        }
        method::RESOURCES_READ => {
            let p: UriParams = jsonrpc::params(params)?;
            let client = view.routes().resource(&p.uri).ok_or_else(|| {
                RpcError::new(ErrorCode(-32002), format!("Resource not found: {}", p.uri))
                    .with_data(&serde_json::json!({ "uri": p.uri }))
            })?;
            let mut forward = p.rest;
            forward.insert("uri".into(), Value::String(p.uri));
            proxy(client, method::RESOURCES_READ, Value::Object(forward)).await
        }
        other => Err(RpcError::method_not_found(other)),
    }
}

/// `logging/setLevel` of a portal: every upstream of it that logs gets the
/// same level (-32601 when none logs, -32602 for an unknown level).
async fn set_level(
    view: &ServerView,
    params: Option<&RawValue>,
) -> Result<Reply<'static>, RpcError> {
    if view.routes().logging.is_empty() {
        return Err(RpcError::method_not_found(method::LOGGING_SET_LEVEL));
    }
    let p: LevelParams = jsonrpc::params(params)?;
    if LogLevel::parse(&p.level).is_none() {
        let names: Vec<&str> = LogLevel::ALL.iter().map(|l| l.as_str()).collect();
        return Err(RpcError::invalid_params(format!(
            "Invalid log level {:?}; one of {}",
            p.level,
            names.join(", ")
        )));
    }
    let calls = view.routes().logging.iter().map(|c| {
        c.request(
            method::LOGGING_SET_LEVEL,
            serde_json::json!({ "level": p.level }),
        )
    });
    for result in futures_util::future::join_all(calls).await {
        if let Err(mcpgate_upstream::CallError::Rpc(e)) = result {
            return Err(mcpgate_upstream::forwarded(&e));
        }
    }
    Ok(Reply::Borrowed("{}"))
}

/// `completion/complete` of a portal: to the upstream that owns the prompt
/// or resource the `ref` names, with its original names restored.
async fn complete(
    view: &ServerView,
    params: Option<&RawValue>,
) -> Result<Reply<'static>, RpcError> {
    if !view.routes().completions {
        return Err(RpcError::method_not_found(method::COMPLETION_COMPLETE));
    }
    let mut p: Map<String, Value> = jsonrpc::params(params)?;
    let reference = p
        .get("ref")
        .cloned()
        .ok_or_else(|| RpcError::invalid_params("Invalid params: missing ref"))?;
    let kind = reference.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let client = match kind {
        "ref/prompt" => {
            let name = reference.get("name").and_then(|n| n.as_str()).unwrap_or("");
            let (client, original) = view
                .routes()
                .prompts
                .get(name)
                .ok_or_else(|| RpcError::invalid_params(format!("Unknown prompt: {name}")))?;
            p.insert(
                "ref".into(),
                serde_json::json!({"type": "ref/prompt", "name": original}),
            );
            // Argument names as the upstream declared them.
            let routes = view.routes();
            if let Some(arg) = p.get_mut("argument").and_then(|a| a.as_object_mut())
                && let Some(Value::String(n)) = arg.get_mut("name")
            {
                *n = routes.prompt_argument(name, n).to_owned();
            }
            if let Some(arguments) = p.get_mut("context").and_then(|c| c.get_mut("arguments")) {
                routes.restore_prompt_arguments(name, arguments);
            }
            client
        }
        "ref/resource" => {
            let uri = reference.get("uri").and_then(|n| n.as_str()).unwrap_or("");
            view.routes()
                .templates
                .get(uri)
                .or_else(|| view.routes().resources.get(uri))
                .ok_or_else(|| RpcError::invalid_params(format!("Unknown resource: {uri}")))?
        }
        other => {
            return Err(RpcError::invalid_params(format!(
                "Invalid params: ref.type {other:?} is not ref/prompt or ref/resource"
            )));
        }
    };
    proxy(client, method::COMPLETION_COMPLETE, Value::Object(p)).await
}
