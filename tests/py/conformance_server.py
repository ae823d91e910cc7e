"""The fixture upstream for running the MCP conformance suite through a
portal: implements what the suite's server scenarios expect, with the
official Python SDK's low-level server (exact schemas), over Streamable HTTP.

Usage: conformance_server.py PORT
"""

import base64
import contextlib
import re
import sys

import mcp.types as types
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.routing import Route

PORT = int(sys.argv[1])
# A 1x1 PNG and a tiny WAV header, as test payloads.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WAV = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00\x80>\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"
b64 = lambda b: base64.b64encode(b).decode()

server = Server("conformance-fixture")
EMPTY = {"type": "object", "properties": {}}


def tool(name, description, schema=None):
    return types.Tool(name=name, description=description, inputSchema=schema or EMPTY)


TOOLS = [
    tool("test_simple_text", "Returns simple text."),
    tool("test_image_content", "Returns an image."),
    tool("test_audio_content", "Returns audio."),
    tool("test_embedded_resource", "Returns an embedded resource."),
    tool("test_multiple_content_types", "Returns text, image and a resource."),
    tool("test_tool_with_logging", "Logs while it runs."),
    tool("test_tool_with_progress", "Reports progress."),
    tool("test_error_handling", "Always fails."),
    tool("test_sampling", "Asks the client's model.", {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}),
    tool("test_elicitation", "Asks the user.", {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}),
    tool("test_elicitation_sep1034_defaults", "Elicitation with defaults."),
    tool("test_elicitation_sep1330_enums", "Elicitation with enum schemas."),
    tool(
        "json_schema_2020_12_tool",
        "Tool with JSON Schema 2020-12 features",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "additionalProperties": False,
        },
    ),
]


@server.list_tools()
async def list_tools():
    return TOOLS


def text(t):
    return types.TextContent(type="text", text=t)


def image():
    return types.ImageContent(type="image", data=b64(PNG), mimeType="image/png")


def embedded(uri="test://embedded-resource"):
    return types.EmbeddedResource(
        type="resource",
        resource=types.TextResourceContents(uri=uri, mimeType="text/plain", text="This is an embedded resource content."),
    )


@server.call_tool()
async def call_tool(name, arguments):
    ctx = server.request_context
    rid = ctx.request_id
    if name == "test_simple_text":
        return [text("This is a simple text response for testing.")]
    if name == "test_image_content":
        return [image()]
    if name == "test_audio_content":
        return [types.AudioContent(type="audio", data=b64(WAV), mimeType="audio/wav")]
    if name == "test_embedded_resource":
        return [embedded()]
    if name == "test_multiple_content_types":
        return [text("Multiple content types test:"), image(), embedded()]
    if name == "test_tool_with_logging":
        for msg in ["Tool execution started", "Tool processing data", "Tool execution completed"]:
            await ctx.session.send_log_message("info", msg, logger="conformance", related_request_id=rid)
        return [text("Tool with logging executed successfully")]
    if name == "test_tool_with_progress":
        token = ctx.meta.progressToken if ctx.meta else None
        if token is not None:
            for p in (0, 50, 100):
                await ctx.session.send_progress_notification(token, p, 100, f"Completed step {p}", related_request_id=rid)
        return [text(str(token))]
    if name == "test_error_handling":
        raise ValueError("This tool intentionally returns an error for testing")
    if name == "test_sampling":
        result = await ctx.session.create_message(
            messages=[types.SamplingMessage(role="user", content=text(arguments["prompt"]))],
            max_tokens=100,
            related_request_id=rid,
        )
        return [text(f"LLM response: {result.content.text}")]
    if name == "test_elicitation":
        schema = {"type": "object", "properties": {"username": {"type": "string"}, "email": {"type": "string"}}, "required": ["username", "email"]}
        result = await ctx.session.elicit(arguments["message"], schema, related_request_id=rid)
        return [text(f"User response: action={result.action}, content={result.content}")]
    if name == "test_elicitation_sep1034_defaults":
        schema = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "default": "John Doe"},
                "age": {"type": "integer", "default": 30},
                "score": {"type": "number", "default": 95.5},
                "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "default": True},
            },
        }
        result = await ctx.session.elicit("Please review and update the form fields with defaults", schema, related_request_id=rid)
        return [text(f"Elicitation completed: action={result.action}, content={result.content}")]
    if name == "test_elicitation_sep1330_enums":
        schema = {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {"type": "string", "oneOf": [{"const": "value1", "title": "First"}, {"const": "value2", "title": "Second"}]},
                "legacyEnum": {"type": "string", "enum": ["opt1", "opt2"], "enumNames": ["Option One", "Option Two"]},
                "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2"]}},
                "titledMulti": {"type": "array", "items": {"anyOf": [{"const": "value1", "title": "First"}, {"const": "value2", "title": "Second"}]}},
            },
        }
        result = await ctx.session.elicit("Please select options", schema, related_request_id=rid)
        return [text(f"Elicitation completed: action={result.action}, content={result.content}")]
    if name == "json_schema_2020_12_tool":
        return [text(f"Received: {arguments}")]
    raise ValueError(f"Unknown tool {name}")


RESOURCES = [
    types.Resource(uri="test://static-text", name="static-text", mimeType="text/plain"),
    types.Resource(uri="test://static-binary", name="static-binary", mimeType="image/png"),
    types.Resource(uri="test://watched-resource", name="watched-resource", mimeType="text/plain"),
]


@server.list_resources()
async def list_resources():
    return RESOURCES


@server.list_resource_templates()
async def list_templates():
    return [types.ResourceTemplate(uriTemplate="test://template/{id}/data", name="template", mimeType="text/plain")]


@server.read_resource()
async def read_resource(uri):
    uri = str(uri)
    if uri == "test://static-text":
        return [ReadResourceContents(content="This is the content of the static text resource.", mime_type="text/plain")]
    if uri == "test://static-binary":
        return [ReadResourceContents(content=PNG, mime_type="image/png")]
    if uri == "test://watched-resource":
        return [ReadResourceContents(content="watched", mime_type="text/plain")]
    m = re.fullmatch(r"test://template/([^/]+)/data", uri)
    if m:
        return [ReadResourceContents(content=f"Data for id {m.group(1)}", mime_type="text/plain")]
    raise ValueError(f"Resource not found: {uri}")


@server.subscribe_resource()
async def subscribe(uri):
    return None


@server.unsubscribe_resource()
async def unsubscribe(uri):
    return None


PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="A simple prompt"),
    types.Prompt(
        name="test_prompt_with_arguments",
        description="A prompt with arguments",
        arguments=[types.PromptArgument(name="arg1", required=True), types.PromptArgument(name="arg2", required=True)],
    ),
    types.Prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt with an embedded resource",
        arguments=[types.PromptArgument(name="resourceUri", required=True)],
    ),
    types.Prompt(name="test_prompt_with_image", description="A prompt with an image"),
]


@server.list_prompts()
async def list_prompts():
    return PROMPTS


@server.get_prompt()
async def get_prompt(name, arguments):
    arguments = arguments or {}
    msg = lambda content: types.GetPromptResult(messages=[types.PromptMessage(role="user", content=content)])
    if name == "test_simple_prompt":
        return msg(text("This is a simple prompt for testing."))
    if name == "test_prompt_with_arguments":
        return msg(text(f"Prompt with arguments: arg1='{arguments.get('arg1')}', arg2='{arguments.get('arg2')}'"))
    if name == "test_prompt_with_embedded_resource":
        return msg(embedded(arguments.get("resourceUri", "test://example-resource")))
    if name == "test_prompt_with_image":
        return msg(image())
    raise ValueError(f"Unknown prompt {name}")


@server.completion()
async def complete(ref, argument, context):
    return types.Completion(values=["test1", "test2"], total=2, hasMore=False)


@server.set_logging_level()
async def set_level(level):
    return None


manager = StreamableHTTPSessionManager(app=server, event_store=None, json_response=False)


class Endpoint:
    """Route an exact path to the session manager (no trailing-slash redirect)."""

    async def __call__(self, scope, receive, send):
        await manager.handle_request(scope, receive, send)


@contextlib.asynccontextmanager
async def lifespan(app):
    async with manager.run():
        yield


app = Starlette(routes=[Route("/mcp", endpoint=Endpoint(), methods=["GET", "POST", "DELETE"])], lifespan=lifespan)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
