"""Gives schemathesis real resources to aim at.

Without them nearly every `/{id}` operation only ever sees 404 (random UUIDs), so the run would
never reach the handlers' logic. This creates one resource of each kind the demo workspace lacks
(through the API, like a client would), then writes a schemathesis config that pins each `{id}`
path parameter to an existing resource of the right kind.

DELETE operations keep random ids: pinned, the first DELETE would remove the resource every
later operation of that family aims at. The stateful phase still deletes what it creates.

Usage: seed.py BASE_URL TOKEN OUT_TOML
"""

import base64
import json
import sys
import time
import urllib.error
import urllib.request

base, token, out = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def first(path, key="id"):
    status, body = call("GET", path)
    if status != 200:
        print(f"seed: GET {path} answered {status}: {body}", file=sys.stderr)
        return None
    items = body if isinstance(body, list) else body.get("items", [])
    return items[0][key] if items else None


def ensure(list_path, create_path, body, key="id"):
    """The first resource in `list_path`, created through `create_path` when there is none."""
    found = first(list_path, key)
    if found is not None:
        return found
    status, created = call("POST", create_path, body)
    if status >= 300:
        print(f"seed: POST {create_path} answered {status}: {created}", file=sys.stderr)
        return None
    return created.get(key) if isinstance(created, dict) else None


channel = first("/api/v1/channels")
ids = {
    "agents": first("/api/v1/agents"),
    "campaigns": first("/api/v1/campaigns"),
    "channels": channel,
    "keyword-sets": first("/api/v1/keyword-sets"),
    "queues": first("/api/v1/queues"),
    "skills": first("/api/v1/skills"),
    "segments": first("/api/v1/segments"),
    "messaging-users": first("/api/v1/messaging-users"),
    "lists": ensure("/api/v1/lists", "/api/v1/lists", {"name": "Fuzz list"}),
    "quick-texts": ensure(
        "/api/v1/quick-texts", "/api/v1/quick-texts", {"title": "Fuzz", "body": "Hi {{contact.first_name}}"}
    ),
    "contacts": ensure(
        "/api/v1/contacts", "/api/v1/contacts", {"first_name": "Fuzz", "phone": "+14155550177"}
    ),
    "webhook-subscriptions": ensure(
        "/api/v1/webhook-subscriptions",
        "/api/v1/webhook-subscriptions",
        # Port 9 (discard) on loopback: deliveries fail fast and go nowhere.
        {"name": "Fuzz hook", "url": "http://127.0.0.1:9/hook", "event_types": ["message.received"]},
    ),
    "sms-processes": ensure(
        "/api/v1/sms-processes",
        "/api/v1/sms-processes",
        {"name": "Fuzz help", "kind": "help", "number": "+14155550100", "message": "Reply STOP to stop."},
    ),
}
if ids["queues"]:
    ids["routing-rules"] = ensure(
        "/api/v1/routing-rules",
        "/api/v1/routing-rules",
        {"name": "Fuzz rule", "actions": [{"type": "route_to_queue", "queue_id": ids["queues"]}]},
    )
if channel:
    ids["templates"] = ensure(
        f"/api/v1/channels/{channel}/templates",
        f"/api/v1/channels/{channel}/templates",
        {"name": "fuzz_update", "language": "en", "status": "approved", "body": "Hi {{1}}"},
    )
    # A customer writes in: a conversation (session) to aim the session operations at.
    call("POST", "/simulator/inbound", {"channel": channel, "from": "+14155550178", "text": "hello"})
# The inbound message opens its session on a worker: wait for it, bounded (10 s).
for _ in range(50):
    ids["sessions"] = first("/api/v1/sessions")
    if ids["sessions"]:
        break
    time.sleep(0.2)
ids["cases"] = ensure(
    "/api/v1/cases", "/api/v1/cases", {"subject": "Fuzz case", "contact_id": ids["contacts"]}
)
flow = first("/api/v1/flows", "name")
# A new account each run: its auth token is only shown when it is created. The Twilio-compatible
# API takes HTTP Basic with the account's SID and token, not the run's bearer token.
status, account = call("POST", "/api/v1/twilio-accounts", {"name": "Fuzz"})
if status >= 300 or not isinstance(account, dict):
    print(f"seed: POST /api/v1/twilio-accounts answered {status}: {account}", file=sys.stderr)
    account = {}
twilio = account.get("sid")

lines = []


def pin(path_regex, params, headers=None, deletes=False):
    params = {k: v for k, v in params.items() if v}
    if not params:
        return
    inline = ", ".join(f'"{k}" = {json.dumps(v)}' for k, v in params.items())
    lines.append("[[operations]]")
    lines.append(f"include-path-regex = {json.dumps(path_regex)}")
    if not deletes:
        lines.append('exclude-method = "DELETE"')
    lines.append(f"parameters = {{ {inline} }}")
    if headers:
        lines.append("headers = { " + ", ".join(f'"{k}" = {json.dumps(v)}' for k, v in headers.items()) + " }")
    lines.append("")


# The more specific entry first: an operation takes the first entry that matches it.
pin("^/api/v1/cases/\\{id\\}/sessions/", {"id": ids["cases"], "session_id": ids["sessions"]})
for family, value in ids.items():
    pin(f"^/api/v1/{family}/\\{{id\\}}", {"id": value})
pin("^/api/v1/flows/\\{name\\}", {"name": flow})
pin("^/api/v1/twilio-accounts/\\{sid\\}", {"sid": twilio})
if twilio and account.get("auth_token"):
    basic = base64.b64encode(f"{twilio}:{account['auth_token']}".encode()).decode()
    # An operation's own headers replace the run's `Authorization: Bearer` for it.
    pin("^/2010-04-01/", {"AccountSid": twilio}, {"Authorization": "Basic " + basic}, deletes=True)

with open(out, "w") as f:
    f.write("\n".join(lines))
pinned = sorted(k for k, v in ids.items() if v) + (["flows"] if flow else []) + (["twilio-accounts"] if twilio else [])
missing = sorted(k for k, v in ids.items() if not v)
print(f"seed: pinned ids for {', '.join(pinned)}" + (f"; none for {', '.join(missing)}" if missing else ""))
