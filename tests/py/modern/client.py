"""The official Python SDK's 2.x client, as an application connects with it.

Usage: client.py URL MODE TOOL ARGUMENTS_JSON [SAMPLING_REPLY]

MODE is the SDK's `mode`: "auto" (probe `server/discover`, fall back to the
initialize handshake), "legacy", or a pinned modern version ("2026-07-28").
Lists every tool (all pages), calls TOOL and prints one JSON object:
{"era": "modern"|"legacy", "tools": [names], "result": CallToolResult,
"sampled": [the questions the server's sampling requests asked]}.
With SAMPLING_REPLY the client declares sampling and answers every
`sampling/createMessage` with that text (in 2026-07-28, the server asks via
an `input_required` result, which the SDK resolves by calling again).
"""

import asyncio
import json
import sys

import mcp_types as types
from mcp.client.client import Client


async def main() -> None:
    url, mode, tool, arguments = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    reply = sys.argv[5] if len(sys.argv) > 5 else None
    sampled: list[str] = []

    async def sample(context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        sampled.append(params.messages[0].content.text)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=reply), model="e2e"
        )

    options = {"sampling_callback": sample} if reply is not None else {}
    async with Client(url, mode=mode, **options) as client:
        session = client.session
        modern = getattr(session, "discover_result", None) is not None
        names, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor)
            names += [t.name for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                break
        result = await client.call_tool(tool, arguments)
        print(json.dumps({
            "era": "modern" if modern else "legacy",
            "tools": names,
            "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
            "sampled": sampled,
        }))


asyncio.run(main())
