"""The official `twilio` Python package against Parley's Twilio-compatible API.

Environment: PARLEY_BASE_URL, ACCOUNT_SID, AUTH_TOKEN, FROM, TO, REFUSED_TO. Prints one JSON
object with what the SDK saw; the Rust test asserts on it. The SDK is not patched: its API
domain's base_url is pointed at Parley.
"""

import json
import os
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl

from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

base = os.environ["PARLEY_BASE_URL"].rstrip("/")
sid = os.environ["ACCOUNT_SID"]
token = os.environ["AUTH_TOKEN"]
validator = RequestValidator(token)
received = queue.Queue()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        params = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        url = "http://127.0.0.1:%d%s" % (self.server.server_port, self.path)
        signature = self.headers.get("X-Twilio-Signature", "")
        received.put({
            "status": params.get("MessageStatus"),
            "sid": params.get("MessageSid"),
            "valid": validator.validate(url, params, signature),
            "forged_valid": RequestValidator("0" * 32).validate(url, params, signature),
        })
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
callback_url = "http://127.0.0.1:%d/status?via=python" % server.server_port

client = Client(sid, token)
client.api.base_url = base

out = {}
created = client.messages.create(
    to=os.environ["TO"], from_=os.environ["FROM"], body="Hello from the Python SDK",
    status_callback=callback_url,
)
out["created"] = {"sid": created.sid, "status": created.status, "to": created.to,
                  "from": created.from_, "body": created.body,
                  "direction": created.direction, "num_segments": created.num_segments}
fetched = client.messages(created.sid).fetch()
out["fetched"] = {"sid": fetched.sid, "body": fetched.body, "status": fetched.status}
out["listed"] = [m.sid for m in client.messages.list(limit=50)]
# One per page: the SDK follows next_page_uri.
out["paged"] = [m.sid for m in client.messages.list(page_size=1, limit=2)]
# The list's `To` filter, and a page read forwards then backwards through previous_page_uri.
out["to_filtered"] = [m.to for m in client.messages.list(to=os.environ["TO"], limit=50)]
first = client.messages.page(page_size=1)
second = first.next_page()
back = second.previous_page() if second is not None else None
out["back"] = {
    "first": [m.sid for m in first],
    "second": [m.sid for m in second] if second is not None else None,
    "back": [m.sid for m in back] if back is not None else None,
}

callbacks = []
deadline = time.time() + 30
# Both callbacks, in whatever order they come: Twilio does not promise an order, nor do we.
while time.time() < deadline and not {"sent", "delivered"} <= {c["status"] for c in callbacks}:
    try:
        callbacks.append(received.get(timeout=max(0.1, deadline - time.time())))
    except queue.Empty:
        break
out["callbacks"] = callbacks

try:
    client.messages.create(to=os.environ["REFUSED_TO"], from_=os.environ["FROM"], body="hi")
    out["refused"] = None
except TwilioRestException as e:
    out["refused"] = {"code": e.code, "status": e.status}

print(json.dumps(out))
server.shutdown()
