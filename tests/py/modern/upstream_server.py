"""A 2026-07-28-only upstream MCP server for mcpgate's end-to-end tests,
built with the official Python SDK 2.x (MCPServer, Streamable HTTP).

The SDK serves both eras; this fixture refuses the 2025 handshake the way a
server that speaks only 2026-07-28 does (`initialize` is not a method there:
HTTP 404 with -32601), so the gateway must reach it statelessly.

Usage: upstream_server.py PORT NAME
"""

import sys
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer, Resolve, Sample
from mcp_types import CreateMessageResult, SamplingMessage, TextContent
from modern_only import ModernOnly
from pydantic import Field

port = int(sys.argv[1])
name = sys.argv[2]

mcp = MCPServer(name, instructions=f"{name} speaks only 2026-07-28.")


@mcp.tool(description=f"Say hello from {name}.")
def hello(who: str) -> str:
    return f"hello {who} from {name}"


@mcp.tool(description="Counts to n, reporting progress and logging each step.")
async def count(n: int, ctx: Context) -> str:
    for i in range(n):
        await ctx.report_progress(i + 1, n, f"step {i + 1}")
        await ctx.info(f"counted {i + 1}")
    return f"counted to {n}"


def ask_model(question: str) -> Sample:
    return Sample(
        [SamplingMessage(role="user", content=TextContent(type="text", text=question))],
        max_tokens=50,
    )


@mcp.tool(description="Asks the client's model a question (sampling, as input_required).")
def ask(question: str, answer: Annotated[CreateMessageResult, Resolve(ask_model)]) -> str:
    return f"model said: {answer.content.text}"


@mcp.tool(description="Adds a tool named `grown` and announces the change (to subscriptions/listen streams).")
async def grow(ctx: Context) -> str:
    def grown() -> str:
        return "I grew"

    mcp.add_tool(grown, description="Added at run time.")
    await ctx.notify_tools_changed()
    return "grown"


@mcp.tool(description="Names a region, which clients also send as the Mcp-Param-Region header.")
def locate(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
    return f"region {region}"


@mcp.prompt(description="A greeting prompt.")
def greet(person: str) -> str:
    return f"Please greet {person} warmly."


@mcp.resource("fixture://info", description="Static info.", mime_type="text/plain")
def info() -> str:
    return f"info of {name}"


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(ModernOnly(mcp.streamable_http_app()), host="127.0.0.1", port=port, log_level="warning")
