"""A tiny CRM REST API for the mcpgate REST-integration example.

Usage: demo_upstream.py PORT

Python's standard library only. It wants `Authorization: Bearer
demo-crm-token` (the credential stored in the integrated account, which the
gateway sends) and logs each request it serves, with the Authorization header
it saw, so you can check that an MCP client's own token never arrives here.

  GET  /contacts?limit=N&after=CURSOR   -> {"results": [...], "next": CURSOR|null}
  GET  /contacts/{id}                   -> a contact, or 404
  POST /contacts {"name", "email"}      -> 201 with the new contact
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TOKEN = "Bearer demo-crm-token"
CONTACTS = [
    {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
    {"id": 2, "name": "Grace Hopper", "email": "grace@example.com"},
    {"id": 3, "name": "Katherine Johnson", "email": "katherine@example.com"},
    {"id": 4, "name": "Margaret Hamilton", "email": "margaret@example.com"},
]


class Handler(BaseHTTPRequestHandler):
    def send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        seen = self.headers.get("authorization", "")
        print(f"{self.command} {self.path} authorization={seen!r}", flush=True)
        if seen != TOKEN:
            self.send(401, {"error": "missing or wrong bearer token"})
            return False
        return True

    def do_GET(self):
        if not self.authorized():
            return
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        if parts == ["contacts"]:
            q = parse_qs(url.query)
            limit = int(q.get("limit", ["2"])[0])
            after = int(q.get("after", ["0"])[0])
            page = [c for c in CONTACTS if c["id"] > after][:limit]
            more = page and page[-1]["id"] < CONTACTS[-1]["id"]
            self.send(200, {"results": page, "next": str(page[-1]["id"]) if more else None})
        elif len(parts) == 2 and parts[0] == "contacts":
            found = [c for c in CONTACTS if str(c["id"]) == parts[1]]
            self.send(200, found[0]) if found else self.send(404, {"error": "no such contact"})
        else:
            self.send(404, {"error": "not found"})

    def do_POST(self):
        if not self.authorized():
            return
        if urlparse(self.path).path != "/contacts":
            return self.send(404, {"error": "not found"})
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        contact = {"id": CONTACTS[-1]["id"] + 1, "name": body.get("name"), "email": body.get("email")}
        CONTACTS.append(contact)
        self.send(201, contact)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
