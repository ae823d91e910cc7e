"""Two small MCP servers for the portal example, built with the official
Python SDK (FastMCP, Streamable HTTP at /mcp).

Usage: mcp_server.py weather|notes PORT
"""

import sys

from mcp.server.fastmcp import FastMCP

kind, port = sys.argv[1], int(sys.argv[2])
mcp = FastMCP(kind, host="127.0.0.1", port=port, log_level="WARNING")

if kind == "weather":

    @mcp.tool(description="Tomorrow's forecast for a city.")
    def forecast(city: str) -> str:
        return f"{city}: 18°C, light wind, no rain"

    @mcp.tool(description="Weather alerts in force for a city.")
    def alerts(city: str) -> list[str]:
        return [] if city != "Reykjavik" else ["gale warning"]

else:
    notes: list[str] = []

    @mcp.tool(description="Write a note down.")
    def add_note(text: str) -> str:
        notes.append(text)
        return f"noted ({len(notes)} in all)"

    @mcp.tool(description="Every note so far.")
    def list_notes() -> list[str]:
        return notes

    @mcp.prompt(description="Summarize the notes.")
    def summarize() -> str:
        return "Summarize these notes: " + "; ".join(notes)


mcp.run(transport="streamable-http")
