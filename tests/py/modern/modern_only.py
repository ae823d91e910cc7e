"""ASGI middleware that makes a dual-era server speak only 2026-07-28."""

import json

# The versions of the handshake era (and none, which means 2025-03-26).
HANDSHAKE = {"", "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}


class ModernOnly:
    """Refuse every POST of the handshake era (by its MCP-Protocol-Version
    header) the way a server without the handshake does: `initialize` is no
    method there, so HTTP 404 with -32601. Other versions go on to the SDK,
    which answers what it does not speak with -32022."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            version = dict(scope["headers"]).get(b"mcp-protocol-version", b"").decode()
            if version in HANDSHAKE:
                await self.refuse(receive, send)
                return
        await self.app(scope, receive, send)

    async def refuse(self, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            request_id = json.loads(body).get("id")
        except (ValueError, AttributeError):
            request_id = None
        error = {"code": -32601, "message": "Method not found (this server speaks only 2026-07-28)"}
        answer = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})
