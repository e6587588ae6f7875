#!/usr/bin/env python3
"""Generates the Meta webhook fixtures in crates/parley-channels/fixtures/meta/ and checks them with pywa.

(a) `signatures.json`: X-Hub-Signature-256 values computed with Python's hmac over ~50 bodies (the
    fixtures themselves plus varied byte strings), each accepted by pywa's own
    `pywa.utils.webhook_updates_validator` and by a client's `webhook_update_validator`, and each
    tampered twin refused by both. It also holds GET handshake cases judged by pywa's
    `webhook_challenge_handler`.
(b) `whatsapp_*.json`: realistic WhatsApp Cloud API webhook bodies. Each is fed to a pywa client
    through its public `webhook_update_handler`; the script fails unless pywa builds exactly the
    expected update from it, and writes what pywa read (ids, sender, text, media, status, error
    code) to `pywa_expected.json`, which the Rust tests compare against their own parse.
(c) `messenger_*.json`: Messenger (`object: page`) bodies. pywa has no Messenger support, so these
    are written from Meta's documented format and are not oracle-checked.

Deterministic output: regenerating without a pywa change gives no diff. See README.md beside this file.
"""

import hashlib
import hmac
import json
import logging
import random
import sys
from importlib.metadata import version
from pathlib import Path

from pywa import WhatsApp, handlers, types, utils

# pywa logs every refused signature it is shown on purpose; only a failed assertion matters here.
logging.getLogger("pywa").setLevel(logging.CRITICAL)

OUT = Path(__file__).resolve().parents[3] / "crates" / "parley-channels" / "fixtures" / "meta"

WABA_ID = "102290129340398"
PHONE_ID = "106540352242922"
DISPLAY = "15550783881"
APP_SECRET = "6f1d2c3b4a5e6f708192a3b4c5d6e7f8"
VERIFY_TOKEN = "parley-verify-3c5b"

USER_WA = "447400123456"
USER_BSUID = "GB.13491208655302741918"
USER_NAME = "Ada Lovelace"


def envelope(value):
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": DISPLAY, "phone_number_id": PHONE_ID},
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def contact(wa_id=USER_WA, user_id=USER_BSUID, name=USER_NAME, username=None):
    c = {"profile": {"name": name}}
    if username is not None:
        c["profile"]["username"] = username
    if wa_id is not None:
        c["wa_id"] = wa_id
    c["user_id"] = user_id
    return c


def message(msg_id, msg_type, body, ts="1763719200", sender=USER_WA, sender_user_id=USER_BSUID, **extra):
    m = {}
    if sender is not None:
        m["from"] = sender
    m["from_user_id"] = sender_user_id
    m.update({"id": msg_id, "timestamp": ts, "type": msg_type})
    if body is not None:
        m[msg_type] = body
    m.update(extra)
    return m


def wamid(n):
    return f"wamid.HBgMNDQ3NDAwMTIzNDU2FQIAEhgUM0FCNjU0RkQ5RjI0OEU{n:04d}QA="


def status(msg_id, st, ts, **extra):
    s = {
        "id": msg_id,
        "status": st,
        "timestamp": ts,
        "recipient_id": USER_WA,
        "recipient_user_id": USER_BSUID,
    }
    s.update(extra)
    return s


CONVERSATION = {
    "id": "c6f9e8d7b6a5f4e3d2c1b0a9f8e7d6c5",
    "expiration_timestamp": "1763805600",
    "origin": {"type": "service"},
}
PRICING = {"billable": True, "pricing_model": "PMP", "category": "service", "type": "regular"}


def error(code, title, message, details):
    return {
        "code": code,
        "title": title,
        "message": message,
        "error_data": {"details": details},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


MEDIA_URL = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1093427815803377&ext=1763719200&hash=ATu2"

# name -> (payload, pywa update class expected)
WHATSAPP = {
    "text": (
        envelope({
            "contacts": [contact()],
            "messages": [message(wamid(1), "text", {"body": "Hi, is my order on its way?"})],
        }),
        types.Message,
    ),
    "text_unicode_reply": (
        envelope({
            "contacts": [contact(name="Zoë Ñúñez 👩🏽‍💻")],
            "messages": [message(
                wamid(2), "text", {"body": "ARRÊT ✋ — merci\nligne 2"},
                context={"from": DISPLAY, "id": wamid(900)},
            )],
        }),
        types.Message,
    ),
    "image": (
        envelope({
            "contacts": [contact()],
            "messages": [message(wamid(3), "image", {
                "caption": "The damaged box",
                "mime_type": "image/jpeg",
                "sha256": "81d3bd8a8db4868c9520ed47186e8b7c5789e61ff79f7f834be6950b808a90d3",
                "id": "1093427815803377",
                "url": MEDIA_URL,
            })],
        }),
        types.Message,
    ),
    "audio_voice": (
        envelope({
            "contacts": [contact()],
            "messages": [message(wamid(4), "audio", {
                "mime_type": "audio/ogg; codecs=opus",
                "sha256": "6c8f3c5e0a5b4f2a9e1d7c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
                "id": "2754859441498128",
                "voice": True,
                "url": MEDIA_URL,
            })],
        }),
        types.Message,
    ),
    "video": (
        envelope({
            "contacts": [contact()],
            "messages": [message(wamid(5), "video", {
                "caption": "How it rattles",
                "mime_type": "video/mp4",
                "sha256": "0e5bd7c3a1f2e4d6c8b0a9f7e5d3c1b2a4f6e8d0c2b4a6f8e0d2c4b6a8f0e2d4",
                "id": "3317450885153624",
                "url": MEDIA_URL,
            })],
        }),
        types.Message,
    ),
    "document": (
        envelope({
            "contacts": [contact()],
            "messages": [message(wamid(6), "document", {
                "caption": "Invoice",
                "filename": "facture-2026-11.pdf",
                "mime_type": "application/pdf",
                "sha256": "b1946ac92492d2347c6235b4d2611184b1946ac92492d2347c6235b4d2611184",
                "id": "1459203491786823",
                "url": MEDIA_URL,
            })],
        }),
        types.Message,
    ),
    "sticker": (
        envelope({
            "contacts": [contact()],
            "messages": [message(wamid(7), "sticker", {
                "mime_type": "image/webp",
                "sha256": "a4b9d0b0c8c5e2f1d3e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5",
                "id": "1189393788951043",
                "animated": False,
                "url": MEDIA_URL,
            })],
        }),
        types.Message,
    ),
    "location": (
        envelope({
            "contacts": [contact()],
            "messages": [message(wamid(8), "location", {
                "latitude": 51.5033635,
                "longitude": -0.1276248,
                "name": "10 Downing Street",
                "address": "10 Downing St, London SW1A 2AA",
            })],
        }),
        types.Message,
    ),
    "contacts_card": (
        envelope({
            "contacts": [contact()],
            "messages": [message(wamid(9), "contacts", None, contacts=[{
                "name": {"formatted_name": "Charles Babbage", "first_name": "Charles", "last_name": "Babbage"},
                "phones": [{"phone": "+44 7400 123457", "wa_id": "447400123457", "type": "CELL"}],
            }])],
        }),
        types.Message,
    ),
    "reaction": (
        envelope({
            "contacts": [contact()],
            "messages": [message(wamid(10), "reaction", {"message_id": wamid(901), "emoji": "👍"})],
        }),
        types.Message,
    ),
    "unsupported": (
        envelope({
            "contacts": [contact()],
            "messages": [message(
                wamid(11), "unsupported", None,
                errors=[error(131051, "Message type unknown", "Message type unknown",
                              "Message type is currently not supported.")],
                unsupported={"type": "poll"},
            )],
        }),
        types.Message,
    ),
    "button_reply": (
        envelope({
            "contacts": [contact()],
            "messages": [message(
                wamid(12), "interactive",
                {"type": "button_reply", "button_reply": {"id": "track-order", "title": "Track my order"}},
                context={"from": DISPLAY, "id": wamid(902)},
            )],
        }),
        types.CallbackButton,
    ),
    "list_reply": (
        envelope({
            "contacts": [contact()],
            "messages": [message(
                wamid(13), "interactive",
                {"type": "list_reply", "list_reply": {
                    "id": "topic-billing", "title": "Billing", "description": "Invoices and refunds"}},
                context={"from": DISPLAY, "id": wamid(903)},
            )],
        }),
        types.CallbackSelection,
    ),
    "quick_reply_button": (
        envelope({
            "contacts": [contact()],
            "messages": [message(
                wamid(14), "button", {"payload": "STOP_PROMOS", "text": "Stop promotions"},
            )],
        }),
        types.CallbackButton,
    ),
    "user_id_only": (
        envelope({
            "contacts": [contact(wa_id=None, username="ada.l")],
            "messages": [message(wamid(15), "text", {"body": "Hello from a username"}, sender=None)],
        }),
        types.Message,
    ),
    "status_sent": (
        envelope({
            "contacts": [contact()],
            "statuses": [status(wamid(500), "sent", "1763719260", conversation=CONVERSATION,
                                pricing=PRICING, biz_opaque_callback_data="entry=0190f3a4")],
        }),
        types.MessageStatus,
    ),
    "status_delivered": (
        envelope({
            "contacts": [contact(username="ada.l")],
            "statuses": [status(wamid(500), "delivered", "1763719262",
                                conversation={"id": CONVERSATION["id"], "origin": {"type": "service"}},
                                pricing=PRICING)],
        }),
        types.MessageStatus,
    ),
    "status_read": (
        envelope({
            "contacts": [contact(username="ada.l")],
            "statuses": [status(wamid(500), "read", "1763719300")],
        }),
        types.MessageStatus,
    ),
    "status_failed_131047": (
        envelope({
            "contacts": [contact()],
            "statuses": [status(wamid(501), "failed", "1763805700", errors=[error(
                131047, "Re-engagement message",
                "Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            )])],
        }),
        types.MessageStatus,
    ),
    "status_failed_131026": (
        envelope({
            "contacts": [contact()],
            "statuses": [status(wamid(502), "failed", "1763805800", errors=[error(
                131026, "Message undeliverable", "Message undeliverable",
                "Message Undeliverable.",
            )])],
        }),
        types.MessageStatus,
    ),
    "status_failed_130429": (
        envelope({
            "contacts": [contact()],
            "statuses": [status(wamid(503), "failed", "1763805900", errors=[error(
                130429, "Rate limit hit", "Rate limit hit",
                "Cloud API message throughput has been reached.",
            )])],
        }),
        types.MessageStatus,
    ),
    "status_failed_132000": (
        envelope({
            "contacts": [contact()],
            "statuses": [status(wamid(504), "failed", "1763806000", errors=[error(
                132000, "Number of parameters does not match the expected number of params",
                "Number of parameters does not match the expected number of params",
                "body: number of localizable_params (2) does not match the expected number of params (3)",
            )])],
        }),
        types.MessageStatus,
    ),
}

PSID = "6783451290871234"
PAGE_ID = "104885245713421"


def page(messaging):
    return {
        "object": "page",
        "entry": [{"id": PAGE_ID, "time": 1763719200123, "messaging": messaging}],
    }


MESSENGER = {
    "text": page([{
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1763719200045,
        "message": {"mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
                    "text": "Where is my parcel?"},
    }]),
    "attachments": page([{
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1763719210045,
        "message": {"mid": "m_attach_0001", "attachments": [
            {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg"}},
            {"type": "file", "payload": {"url": "https://cdn.fbsbx.com/v/t59.2708-21/invoice.pdf"}},
            {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/t39.1997-6/sticker.png", "sticker_id": 369239263222822}},
        ]},
    }]),
    "quick_reply": page([{
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1763719220045,
        "message": {"mid": "m_qr_0001", "text": "Yes please", "quick_reply": {"payload": "CONFIRM_YES"}},
    }]),
    "echo": page([{
        "sender": {"id": PAGE_ID},
        "recipient": {"id": PSID},
        "timestamp": 1763719230045,
        "message": {"is_echo": True, "app_id": 1517776481860111, "mid": "m_echo_0001", "text": "Your parcel ships today."},
    }]),
    "delivery": page([{
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "delivery": {"mids": ["m_echo_0001"], "watermark": 1763719231000},
    }]),
    "read": page([{
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1763719240045,
        "read": {"watermark": 1763719231000},
    }]),
    "postback": page([{
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1763719250045,
        "postback": {"title": "Talk to an agent", "payload": "AGENT", "mid": "m_pb_0001"},
    }]),
    "batch_mixed": {
        "object": "page",
        "entry": [
            {"id": PAGE_ID, "time": 1763719260000, "messaging": [
                {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1763719259000,
                 "message": {"mid": "m_batch_1", "text": "first"}},
                {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1763719259500,
                 "reaction": {"mid": "m_batch_1", "action": "react", "emoji": "❤", "reaction": "love"}},
            ]},
            {"id": PAGE_ID, "time": 1763719261000, "messaging": [
                {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1763719260500,
                 "message": {"mid": "m_batch_2", "text": "second"}},
            ]},
        ],
    },
}


def encode(payload):
    return (json.dumps(payload, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def new_client():
    return WhatsApp(
        phone_id=PHONE_ID,
        token="test-token-not-used",
        server=None,
        verify_token=VERIFY_TOKEN,
        app_secret=APP_SECRET,
        waba_id=WABA_ID,
        skip_duplicate_updates=False,
    )


def pywa_parse(name, body, header, expected_cls):
    """Runs the body through pywa's public handler path and returns the one update it built."""
    wa = new_client()
    seen = []

    def keep(_, update):
        seen.append(update)

    wa.add_handlers(
        handlers.MessageHandler(keep),
        handlers.MessageStatusHandler(keep),
        handlers.CallbackButtonHandler(keep),
        handlers.CallbackSelectionHandler(keep),
    )
    refusal = wa.webhook_update_validator(body, header)
    if refusal is not None:
        sys.exit(f"{name}: pywa refused the signature: {refusal}")
    answer = wa.webhook_update_handler(body)
    if answer != ("ok", 200) or len(seen) != 1 or type(seen[0]) is not expected_cls:
        sys.exit(f"{name}: pywa answered {answer} and built {seen!r}")
    return seen[0]


def describe(update):
    """What pywa read, in plain JSON, for the Rust tests to compare with."""
    u = update
    user = u.from_user
    out = {
        "id": u.id,
        "phone_number_id": u.metadata.phone_number_id,
        "display_phone_number": u.metadata.display_phone_number,
        "waba_id": u.waba_id,
        "timestamp": int(u.timestamp.timestamp()),
        "wa_id": user.wa_id,
        "user_id": user.bsuid,
        "name": user.name,
        "username": user.username,
    }
    if isinstance(u, types.MessageStatus):
        out["kind"] = "status"
        out["status"] = str(u.status.value)
        out["error_code"] = u.error.code if u.error else None
        out["tracker"] = u.tracker
        return out
    if isinstance(u, types.CallbackButton):
        out["kind"] = "button"
        out["type"] = str(u.type.value)
        out["data"] = u.data
        out["title"] = u.title
        out["reply_to"] = u.reply_to_message.id if u.reply_to_message else None
        return out
    if isinstance(u, types.CallbackSelection):
        out["kind"] = "selection"
        out["data"] = u.data
        out["title"] = u.title
        out["description"] = u.description
        out["reply_to"] = u.reply_to_message.id if u.reply_to_message else None
        return out
    out["kind"] = "message"
    out["type"] = str(u.type.value)
    out["text"] = u.text
    out["reply_to"] = u.reply_to_message.id if u.reply_to_message else None
    out["error_code"] = u.error.code if u.error else None
    media = u.media
    if media is not None:
        out["media"] = {
            "id": media.id,
            "mime_type": media.mime_type,
            "caption": getattr(media, "caption", None),
            "filename": getattr(media, "filename", None),
        }
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()

    expected = {}
    bodies = []
    for name, (payload, cls) in WHATSAPP.items():
        body = encode(payload)
        header = sign(APP_SECRET, body)
        update = pywa_parse(name, body, header, cls)
        fname = f"whatsapp_{name}.json"
        (OUT / fname).write_bytes(body)
        expected[fname] = describe(update)
        bodies.append((fname, APP_SECRET, body))
    for name, payload in MESSENGER.items():
        fname = f"messenger_{name}.json"
        body = encode(payload)
        (OUT / fname).write_bytes(body)
        bodies.append((fname, APP_SECRET, body))

    rng = random.Random(20261121)
    secrets = [APP_SECRET, "s", "0123456789abcdef0123456789abcdef", "sécret-ünïcode-密钥", "x" * 200]
    while len(bodies) < 50:
        kind = len(bodies) % 5
        if kind == 0:
            body = b""
        elif kind == 1:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        elif kind == 2:
            body = json.dumps({"object": "page", "n": rng.random(), "t": "café 😀"}, ensure_ascii=False).encode()
        elif kind == 3:
            body = ("\r\n".join("line %d ✓" % i for i in range(rng.randrange(1, 40)))).encode()
        else:
            body = json.dumps({"k": "v" * rng.randrange(0, 5000)}).encode()
        bodies.append((None, rng.choice(secrets), body))

    vectors = []
    for fname, secret, body in bodies:
        header = sign(secret, body)
        assert utils.webhook_updates_validator(secret, body, header), fname
        flipped = header[:-1] + ("0" if header[-1] != "0" else "1")
        assert not utils.webhook_updates_validator(secret, body, flipped), fname
        assert not utils.webhook_updates_validator(secret + "x", body, header), fname
        assert not utils.webhook_updates_validator(secret, body + b" ", header), fname
        client = WhatsApp(server=None, token="t", app_secret=secret, verify_token="v")
        assert client.webhook_update_validator(body, header) is None, fname
        assert client.webhook_update_validator(body, flipped) == ("Forbidden", 403), fname
        vector = {"secret": secret, "header": header, "tampered_header": flipped}
        if fname is not None:
            vector["fixture"] = fname
        else:
            vector["body_hex"] = body.hex()
        vectors.append(vector)

    wa = new_client()
    handshakes = []
    for mode, token, challenge in [
        ("subscribe", VERIFY_TOKEN, "1158201444"),
        ("subscribe", VERIFY_TOKEN, "challenge-abc_123"),
        ("subscribe", "wrong-token", "1158201444"),
        ("subscribe", "", "1158201444"),
        ("subscribe", VERIFY_TOKEN.upper(), "42"),
    ]:
        body, code = wa.webhook_challenge_handler(token, challenge)
        handshakes.append({
            "mode": mode, "verify_token": token, "challenge": challenge,
            "expected_token": VERIFY_TOKEN, "accepted": code == 200,
            "answer": body if code == 200 else None,
        })

    (OUT / "signatures.json").write_text(json.dumps({
        "generator": "scripts/oracles/meta/gen_fixtures.py",
        "pywa_version": version("pywa"),
        "vectors": vectors,
        "handshakes": handshakes,
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (OUT / "pywa_expected.json").write_text(json.dumps({
        "generator": "scripts/oracles/meta/gen_fixtures.py",
        "pywa_version": version("pywa"),
        "fixtures": expected,
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(WHATSAPP)} WhatsApp fixtures (pywa-checked), {len(MESSENGER)} Messenger fixtures, "
          f"{len(vectors)} signature vectors, {len(handshakes)} handshakes to {OUT}")


if __name__ == "__main__":
    main()
