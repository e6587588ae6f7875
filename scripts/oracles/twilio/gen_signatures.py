#!/usr/bin/env python3
"""Generates crates/parley-channels/fixtures/twilio_signatures.json from Twilio's own Python library.

Each vector is signed with `RequestValidator(token).compute_signature(url, params)`; every check
beside it (port added or removed, tampered parameters, wrong token, altered signature, JSON bodies
signed through `bodySHA256`) carries the verdict of `RequestValidator.validate`, so the Rust
implementation is held to what Twilio's library accepts and refuses, not to our reading of the docs.

The output is deterministic (fixed seed), so regenerating without a library change gives no diff.
Run: see README.md beside this file.
"""

import hashlib
import json
import random
import sys
from importlib.metadata import version
from pathlib import Path

from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse

OUT = (
    Path(__file__).resolve().parents[3]
    / "crates"
    / "parley-channels"
    / "fixtures"
    / "twilio_signatures.json"
)


class MultiParams(dict):
    """Name -> list of values, read by the validator through `getall` like Flask's MultiDict.

    It lets a vector carry a repeated parameter name, which a plain dict cannot.
    """

    def getall(self, name):
        return self[name]


def multi(pairs):
    out = MultiParams()
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def validate(token, url, pairs, signature, algorithm=None):
    return RequestValidator(token).validate(url, multi(pairs), signature, algorithm)


def sign(token, url, pairs, algorithm=None):
    return RequestValidator(token).compute_signature(url, multi(pairs), algorithm)


rng = random.Random(20261107)

TOKENS = [
    "12345",
    "0123456789abcdef0123456789abcdef",
    "f1c3c6a8e9d04b2e8c4f1a7d3b5e9c21",
    "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
    "token with spaces & symbols=+/",
    "jeton-ünïcødé-密钥",
]

# Each base URL is the one configured at Twilio; the port rules turn it into its twin below.
URLS = [
    "https://mycompany.com/myapp.php?foo=1&bar=2",
    "https://example.com/twilio/sms",
    "https://example.com/twilio/sms/",
    "https://example.com",
    "https://example.com:8443/hooks/sms",
    "https://example.com:443/hooks/sms",
    "http://example.com/hooks/sms",
    "http://example.com:80/hooks/sms",
    "http://localhost:3000/webhooks/twilio/sms",
    "http://127.0.0.1:8080/webhooks/twilio/status",
    "https://parley.example.org/webhooks/twilio/sms?channel=0190f3a4-7b2c-7d1e-9f00-123456789abc",
    "https://parley.example.org/webhooks/twilio/status?channel=abc&attempt=2&x=",
    "https://example.com/path%20with%20escapes?q=a%2Bb&r=%E2%9C%93",
    "https://example.com/sip?Caller=sip:1234567890@209.182.172.181&x=1",
    "https://example.com/search?q=caf%C3%A9&lang=fr",
    "https://example.com/p?empty=&also=&=novalue",
    "https://xn--bcher-kva.example/sms",
    "https://Example.COM/Mixed/Case?Q=V",
    "https://example.com/raw-unicode/ünï?x=ü",
    "https://sub.domain.example.co.uk:9443/a/b/c.php?x=1#fragment",
]

NAMES = [
    "AccountSid", "ApiVersion", "Body", "From", "FromCity", "FromCountry", "FromState", "FromZip",
    "MessageSid", "MessagingServiceSid", "NumMedia", "NumSegments", "SmsMessageSid", "SmsSid",
    "SmsStatus", "To", "ToCity", "ToCountry", "ToState", "ToZip", "MessageStatus", "ErrorCode",
    "ErrorMessage", "Reason", "ReasonConferenceEnded", "a", "A", "b", "B", "_x", "x_", "Z", "z",
    "MediaUrl0", "MediaUrl1", "MediaUrl10", "MediaUrl2", "ProfileName", "WaId", "ButtonPayload",
]

VALUES = [
    "",
    " ",
    "hello",
    "Hello, world!",
    "STOP",
    "a&b=c+d%20e",
    "100% sure + more",
    "line one\nline two\r\nline three",
    "tab\there",
    "café crème",
    "ARRÊT",
    "日本語のメッセージ",
    "Привет",
    "مرحبا بالعالم",
    "emoji 😀👍🏽🇫🇷",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "quotes ' \" ` and <tags> & entities &amp;",
    "back\\slash",
    "+14155550100",
    "whatsapp:+447400123456",
    "SM" + "0" * 32,
    "MM" + "f" * 32,
    "AC" + "1234567890abcdef" * 2,
    "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages/MM123/Media/ME123",
    "image/jpeg",
    "{\"status\":\"successful\",\"results\":{}}",
    "0",
    "10",
    "undelivered",
    "30007",
]


def inbound_sms(rng, n_media):
    sid = "SM" + "".join(rng.choice("0123456789abcdef") for _ in range(32))
    pairs = [
        ("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", sid), ("NumMedia", str(n_media)),
        ("ToCity", "SAN FRANCISCO"), ("FromZip", "94105"), ("SmsSid", sid), ("FromState", "CA"),
        ("SmsStatus", "received"), ("FromCity", "SAN FRANCISCO"), ("Body", rng.choice(VALUES)),
        ("FromCountry", "US"), ("To", "+14155550100"), ("MessagingServiceSid", "MG" + "a" * 32),
        ("ToZip", "94105"), ("NumSegments", "1"), ("MessageSid", sid),
        ("AccountSid", "AC" + "b" * 32), ("From", "+14155550199"), ("ApiVersion", "2010-04-01"),
    ]
    for i in range(n_media):
        pairs.append((f"MediaContentType{i}", rng.choice(["image/jpeg", "image/png", "video/mp4", "audio/ogg"])))
        pairs.append((f"MediaUrl{i}", f"https://api.twilio.com/2010-04-01/Accounts/AC{'b' * 32}/Messages/{sid}/Media/ME{i:032d}"))
    rng.shuffle(pairs)
    return pairs


def status_callback(rng):
    sid = "SM" + "".join(rng.choice("0123456789abcdef") for _ in range(32))
    status = rng.choice(["queued", "sent", "delivered", "undelivered", "failed", "read", "accepted"])
    pairs = [
        ("SmsSid", sid), ("SmsStatus", status), ("MessageStatus", status), ("To", "+447400123456"),
        ("MessagingServiceSid", "MG" + "c" * 32), ("MessageSid", sid), ("AccountSid", "AC" + "d" * 32),
        ("From", "+14155550100"), ("ApiVersion", "2010-04-01"),
    ]
    if status in ("undelivered", "failed"):
        pairs.append(("ErrorCode", rng.choice(["21610", "30003", "30007", "63016", "30008"])))
        pairs.append(("ErrorMessage", rng.choice(["", "Unknown error", "Message filtered"])))
    return pairs


def random_pairs(rng):
    pairs = []
    for _ in range(rng.randint(0, 12)):
        pairs.append((rng.choice(NAMES), rng.choice(VALUES)))
    # Repeated names, including a repeated identical value, exercise the library's value rules.
    if pairs and rng.random() < 0.35:
        name = rng.choice(pairs)[0]
        pairs.append((name, rng.choice(VALUES)))
        if rng.random() < 0.5:
            pairs.append(pairs[-1])
    return pairs


def toggle_port(url):
    """The same URL with its port removed, or the scheme's default port added."""
    scheme, rest = url.split("://", 1)
    cut = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if i != -1:
            cut = min(cut, i)
    authority, tail = rest[:cut], rest[cut:]
    host, sep, port = authority.rpartition(":")
    if sep and port.isdigit():
        return f"{scheme}://{host}{tail}"
    default = "443" if scheme.lower() == "https" else "80"
    return f"{scheme}://{authority}:{default}{tail}"


def tamper_signature(sig):
    i = rng.randrange(len(sig) - 1)  # the last char may be '=' padding
    repl = "A" if sig[i] != "A" else "B"
    return sig[:i] + repl + sig[i + 1 :]


def checks_for(token, url, pairs, sig, algorithm):
    checks = []

    def add(what, c_token, c_url, c_pairs, c_sig, expect=None):
        verdict = validate(c_token, c_url, c_pairs, c_sig, algorithm)
        if expect is not None and verdict != expect:
            sys.exit(f"unexpected verdict for {what}: {c_url!r} {c_pairs!r}")
        # Only what differs from the vector is written, to keep the file small.
        check = {"what": what, "valid": verdict}
        if c_token != token:
            check["token"] = c_token
        if c_url != url:
            check["url"] = c_url
        if c_pairs != pairs:
            check["params"] = [list(p) for p in c_pairs]
        if c_sig != sig:
            check["signature"] = c_sig
        checks.append(check)

    add("as signed", token, url, pairs, sig, True)
    add("port toggled", token, toggle_port(url), pairs, sig)
    add("wrong token", token + "x", url, pairs, sig, False)
    add("altered signature", token, url, pairs, tamper_signature(sig), False)
    if pairs:
        idx = rng.randrange(len(pairs))
        changed = list(pairs)
        changed[idx] = (pairs[idx][0], pairs[idx][1] + "x")
        add("value changed", token, url, changed, sig, False)
        # Only when the name is not repeated: dropping one copy of a repeated value can be a no-op.
        names = [p[0] for p in pairs]
        if names.count(pairs[idx][0]) == 1:
            dropped = pairs[:idx] + pairs[idx + 1 :]
            add("parameter dropped", token, url, dropped, sig, False)
    add("parameter added", token, url, pairs + [("Injected", "1")], sig, False)
    add("host changed", token, url.replace("://", "://evil.", 1), pairs, sig, False)
    return checks


def vector(token, url, pairs, algorithm=None):
    sig = sign(token, url, pairs, algorithm)
    return {
        "token": token,
        "url": url,
        "params": [list(p) for p in pairs],
        "algorithm": algorithm or "HMAC_SHA1",
        "signature": sig,
        "checks": checks_for(token, url, pairs, sig, algorithm),
    }


def dump_lines(doc):
    """JSON with one vector per line: small, and a regeneration diff shows which vectors moved."""
    out = ["{"]
    items = list(doc.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n + 1 < len(items) else ""
        if isinstance(value, list):
            out.append(f"{json.dumps(key)}: [")
            for i, item in enumerate(value):
                tail = "," if i + 1 < len(value) else ""
                out.append(json.dumps(item, ensure_ascii=False) + tail)
            out.append("]" + comma)
        else:
            out.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    out.append("}")
    return "\n".join(out) + "\n"


def main():
    vectors = []
    # The worked example from Twilio's security documentation.
    vectors.append(vector(
        "12345",
        "https://mycompany.com/myapp.php?foo=1&bar=2",
        [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
         ("From", "+12349013030"), ("To", "+18005551212")],
    ))
    for url in URLS:
        for token in rng.sample(TOKENS, 2):
            vectors.append(vector(token, url, inbound_sms(rng, rng.choice([0, 0, 1, 3, 10]))))
    for _ in range(30):
        vectors.append(vector(rng.choice(TOKENS), rng.choice(URLS), status_callback(rng)))
    for _ in range(110):
        vectors.append(vector(rng.choice(TOKENS), rng.choice(URLS), random_pairs(rng)))
    # No parameters at all, as on a GET.
    for url in URLS[:5]:
        vectors.append(vector(TOKENS[1], url, []))
    # Names that sort by name alone: "Reason" before "ReasonConferenceEnded", whatever the values.
    vectors.append(vector(TOKENS[2], URLS[1], [("ReasonConferenceEnded", "participant-left"), ("Reason", "Participant left")]))
    vectors.append(vector(TOKENS[2], URLS[1], [("b", "1"), ("a", "2"), ("a", "1"), ("a", "1"), ("B", "0")]))
    # SharedKey webhooks signed with HMAC-SHA256 (X-Twilio-Webhooks-Signature-Settings).
    for _ in range(20):
        vectors.append(vector(rng.choice(TOKENS), rng.choice(URLS), random_pairs(rng), "HMAC_SHA256"))

    # JSON webhooks: the URL carries bodySHA256 and the signature covers the URL alone.
    body_hash = []
    bodies = [
        "{}",
        '{"MessageSid":"SM123","Body":"hello"}',
        '{"text":"café 😀","nested":{"a":[1,2,3]}}',
        "",
        " " * 10,
    ]
    for i, body in enumerate(bodies * 2):
        token = TOKENS[i % len(TOKENS)]
        digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
        base = URLS[(i * 3) % len(URLS)].split("#", 1)[0]
        url = base + ("&" if "?" in base else "?") + "bodySHA256=" + digest
        sig = RequestValidator(token).compute_signature(url, {})
        validator = RequestValidator(token)
        assert validator.validate(url, body, sig), url
        assert not validator.validate(url, body + " ", sig)
        assert not validator.validate(url, body, tamper_signature(sig))
        body_hash.append({
            "token": token, "url": url, "body": body, "signature": sig,
            "valid": True, "tampered_body": body + " ",
        })

    settings = []
    for header in [None, "", "key=webhooks_sharedkey_1", "algorithm=HMAC_SHA1",
                   "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256", " key = k , algorithm = HMAC_SHA256 ",
                   "algorithm=hmac_sha256", "algorithm=", "algorithm=HMAC_MD5", "garbage"]:
        settings.append({"header": header, "algorithm": get_signature_algorithm(header)})

    doc = {
        "generator": "scripts/oracles/twilio/gen_signatures.py",
        "twilio_python_version": version("twilio"),
        "empty_messaging_response": str(MessagingResponse()),
        "vectors": vectors,
        "body_hash_vectors": body_hash,
        "settings_headers": settings,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(dump_lines(doc), encoding="utf-8")
    n_checks = sum(len(v["checks"]) for v in vectors)
    print(f"wrote {len(vectors)} vectors, {n_checks} checks, {len(body_hash)} body-hash vectors to {OUT}")


if __name__ == "__main__":
    main()
