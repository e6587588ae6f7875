// The official `twilio` npm package against Parley's Twilio-compatible API.
// Environment: PARLEY_BASE_URL, ACCOUNT_SID, AUTH_TOKEN, FROM, TO, REFUSED_TO. Prints one JSON
// object with what the SDK saw; the Rust test asserts on it. The SDK is not patched: its API
// domain's baseUrl is pointed at Parley.
"use strict";
const http = require("http");
const twilio = require("twilio");

const env = process.env;
const base = env.PARLEY_BASE_URL.replace(/\/+$/, "");
const sid = env.ACCOUNT_SID;
const token = env.AUTH_TOKEN;

async function main() {
  const received = [];
  let wake = () => {};
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const params = Object.fromEntries(new URLSearchParams(body));
      const url = `http://127.0.0.1:${server.address().port}${req.url}`;
      const signature = req.headers["x-twilio-signature"] || "";
      received.push({
        status: params.MessageStatus,
        sid: params.MessageSid,
        valid: twilio.validateRequest(token, signature, url, params),
        forged_valid: twilio.validateRequest("0".repeat(32), signature, url, params),
      });
      res.writeHead(204);
      res.end();
      wake();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const callbackUrl = `http://127.0.0.1:${server.address().port}/status?via=node`;

  const client = twilio(sid, token);
  client.api.baseUrl = base;

  const out = {};
  const created = await client.messages.create({
    to: env.TO,
    from: env.FROM,
    body: "Hello from the Node SDK",
    statusCallback: callbackUrl,
  });
  out.created = {
    sid: created.sid,
    status: created.status,
    to: created.to,
    from: created.from,
    body: created.body,
    direction: created.direction,
    num_segments: created.numSegments,
  };
  const fetched = await client.messages(created.sid).fetch();
  out.fetched = { sid: fetched.sid, body: fetched.body, status: fetched.status };
  out.listed = (await client.messages.list({ limit: 50 })).map((m) => m.sid);
  // One per page: the SDK follows next_page_uri.
  out.paged = (await client.messages.list({ pageSize: 1, limit: 2 })).map((m) => m.sid);
  // The list's `to` filter, and a page read forwards then backwards through previous_page_uri.
  out.to_filtered = (await client.messages.list({ to: env.TO, limit: 50 })).map((m) => m.to);
  const first = await client.messages.page({ pageSize: 1 });
  const second = await first.nextPage();
  const back = second ? await second.previousPage() : null;
  out.back = {
    first: first.instances.map((m) => m.sid),
    second: second ? second.instances.map((m) => m.sid) : null,
    back: back ? back.instances.map((m) => m.sid) : null,
  };

  const deadline = Date.now() + 30000;
  // Both callbacks, in whatever order they come: Twilio does not promise an order, nor do we.
  const seen = (s) => received.some((c) => c.status === s);
  while (Date.now() < deadline && !(seen("sent") && seen("delivered"))) {
    await new Promise((r) => {
      wake = r;
      setTimeout(r, 500);
    });
  }
  out.callbacks = received;

  try {
    await client.messages.create({ to: env.REFUSED_TO, from: env.FROM, body: "hi" });
    out.refused = null;
  } catch (e) {
    if (!(e instanceof twilio.RestException) && e.constructor.name !== "RestException") throw e;
    out.refused = { code: e.code, status: e.status };
  }
  console.log(JSON.stringify(out));
  server.close();
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
