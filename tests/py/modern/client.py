"""The official Python SDK's 2.x client, as an application connects with it.

Usage: client.py URL MODE TOOL ARGUMENTS_JSON

MODE is the SDK's `mode`: "auto" (probe `server/discover`, fall back to the
initialize handshake), "legacy", or a pinned modern version ("2026-07-28").
Lists every tool (all pages), calls TOOL and prints one JSON object:
{"era": "modern"|"legacy", "version", "tools": [names], "result": CallToolResult}.
"""

import asyncio
import json
import sys

from mcp.client.client import Client


async def main() -> None:
    url, mode, tool, arguments = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    async with Client(url, mode=mode) as client:
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
        }))


asyncio.run(main())
