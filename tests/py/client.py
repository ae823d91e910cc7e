"""A real MCP client for mcpgate's end-to-end tests: the official Python SDK
over Streamable HTTP, as an application built on it connects.

Usage: client.py URL TOKEN|- TOOL ARGUMENTS_JSON

Initializes, pages through tools/list, calls TOOL and prints one JSON object:
{"protocolVersion", "server", "tools": [names], "result": CallToolResult}.
TOKEN "-" sends no Authorization header (for /mcp/<token> URLs).
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.types import PaginatedRequestParams


async def main() -> None:
    url, token, tool, arguments = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    headers = None if token == "-" else {"Authorization": f"Bearer {token}"}
    async with streamablehttp_client(url, headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            names, cursor = [], None
            while True:
                page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
                names += [t.name for t in page.tools]
                cursor = page.nextCursor
                if not cursor:
                    break
            result = await session.call_tool(tool, arguments)
            print(json.dumps({
                "protocolVersion": init.protocolVersion,
                "server": init.serverInfo.name,
                "tools": names,
                "result": result.model_dump(mode="json", exclude_none=True),
            }))


asyncio.run(main())
