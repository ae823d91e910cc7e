"""An upstream for the 2026-07-28 conformance scenarios run through a portal
(scripts/conformance-portal.sh --era 2026-07-28), built with the official
Python SDK 2.x: the diagnostic tools the `server-stateless` scenario calls
(which the gateway's own demo server does not have) and a tool whose
argument is mirrored into a header (`x-mcp-header`).

Usage: conformance_server.py PORT [modern-only]

With "modern-only" it refuses the 2025 handshake, so the gateway talks to
it statelessly; otherwise it serves both eras and the gateway holds a 2025
session with it.
"""

import asyncio
import sys
from typing import Annotated

from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve, Sample
from mcp_types import CreateMessageResult, SamplingMessage, TextContent
from modern_only import ModernOnly
from pydantic import BaseModel, Field

port = int(sys.argv[1])
modern_only = len(sys.argv) > 2 and sys.argv[2] == "modern-only"

mcp = MCPServer("conformance-upstream")

# The SDK declares `listChanged: false` to 2025 sessions unless told; this
# server does announce its changes (on the session's GET stream).
_options = mcp._lowlevel_server.create_initialization_options


def _announcing(notification_options=None, *args, **kwargs):
    options = notification_options or NotificationOptions(prompts_changed=True, tools_changed=True)
    return _options(options, *args, **kwargs)


mcp._lowlevel_server.create_initialization_options = _announcing


def sample() -> Sample:
    return Sample(
        [SamplingMessage(role="user", content=TextContent(type="text", text="ping"))],
        max_tokens=10,
    )


@mcp.tool(description="Needs the client's sampling capability.")
def test_missing_capability(answer: Annotated[CreateMessageResult, Resolve(sample)]) -> str:
    return f"sampled: {answer.content.text}"


class Confirm(BaseModel):
    ok: bool = Field(description="Go ahead?")


def confirm() -> Elicit[Confirm]:
    return Elicit("Go ahead?", Confirm)


@mcp.tool(description="Reports progress, then asks the user (elicitation).")
async def test_streaming_elicitation(ctx: Context, choice: Annotated[Confirm, Resolve(confirm)]) -> str:
    return f"confirmed: {choice.ok}"


@mcp.tool(description="Logs three lines, then answers.")
async def test_logging_tool(ctx: Context) -> str:
    for i in range(3):
        await ctx.info(f"log line {i + 1}")
        await asyncio.sleep(0.01)
    return "logged"


async def announce_tools(ctx: Context) -> None:
    await ctx.notify_tools_changed()  # 2026-07-28 listen streams
    try:
        await ctx.request_context.session.send_tool_list_changed()  # a 2025 session
    except Exception:
        pass


@mcp.tool(description="Adds a tool and announces the change.")
async def test_trigger_tool_change(ctx: Context) -> str:
    def added_tool() -> str:
        return "added"

    mcp.add_tool(added_tool, name=f"added_tool_{len(mcp._tool_manager.list_tools())}", description="Added at run time.")
    await announce_tools(ctx)
    return "tool list changed"


@mcp.tool(description="Adds a prompt and announces the change.")
async def test_trigger_prompt_change(ctx: Context) -> str:
    from mcp.server.mcpserver.prompts.base import Prompt

    def added_prompt() -> str:
        return "added"

    name = f"added_prompt_{len(mcp._prompt_manager.list_prompts())}"
    mcp.add_prompt(Prompt.from_function(added_prompt, name=name, description="Added at run time."))
    await ctx.notify_prompts_changed()
    try:
        await ctx.request_context.session.send_prompt_list_changed()
    except Exception:
        pass
    return "prompt list changed"


@mcp.tool(description="Echoes a region, which clients also send as the Mcp-Param-Region header.")
def test_headers(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
    return f"region {region}"


@mcp.prompt(description="A simple prompt.")
def test_simple_prompt() -> str:
    return "Hello"


if __name__ == "__main__":
    import uvicorn

    app = mcp.streamable_http_app()
    uvicorn.run(ModernOnly(app) if modern_only else app, host="127.0.0.1", port=port, log_level="warning")
