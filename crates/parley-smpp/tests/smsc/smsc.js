#!/usr/bin/env node
// A real SMSC for parley-smpp's integration tests, built on the npm `smpp` package's server.
//
// Configuration: the JSON object in the SMSC_CONFIG environment variable (every key optional):
//   system_id, password     credentials accepted by bind_transceiver (default "parley"/"secret");
//                           other credentials get ESME_RINVPASWD and the connection is closed
//   throttle_first: N       answer the first N submit_sm with ESME_RTHROTTLED (0x58)
//   drop_after: N           after accepting the N-th submit_sm (counted over all sessions), answer
//                           it and then destroy the connection; PDUs behind it are ignored (the
//                           SMSC never saw them). Happens once.
//   drop_without_resp: bool with drop_after: destroy the connection on the N-th submit_sm without
//                           answering it (the SMSC saw it, the client cannot know)
//   receipts: "none" | "tlv" | "text"
//                           send a delivery receipt for each accepted submit_sm asking for one
//                           (registered_delivery & 1): with receipted_message_id/message_state
//                           TLVs ("tlv") or with the receipt text only ("text")
//   lose_resp: N            accept the N-th submit_sm (counted as drop_after) and send its receipt
//                           (with `receipts`), but never its submit_sm_resp: the connection is
//                           destroyed once the receipt is written (the answer was lost). Once.
//   reject_destination: A   answer submit_sm to destination A with ESME_RINVDSTADR (0x0B)
//   silent_enquire_link: bool  do not answer the client's enquire_link
//   hold: bool              keep the submit_sm_resp of accepted submits until {"cmd":"release"}
//   compact: bool           accept every submit_sm (the options above are ignored) and log
//                           only {"ev":"submit_sm","session":S,"text":T} (T: short_message as
//                           Latin-1), for runs of tens of thousands
//
// Control: JSON lines on stdin, applied to the most recently bound session:
//   {"cmd":"deliver","ref":"x","source_addr":"...","source_addr_ton":1,"source_addr_npi":1,
//    "destination_addr":"...","dest_addr_ton":0,"dest_addr_npi":0,"esm_class":0,
//    "data_coding":0,"short_message_hex":"...","tlvs":{"sar_msg_ref_num":1,...}}
//   {"cmd":"enquire_link","ref":"x"}   {"cmd":"unbind"}   {"cmd":"drop"}   {"cmd":"release"}
//
// Output: one JSON object per line on stdout. First {"ev":"listening","port":P}; then every PDU
// received, with its raw fields: short_message as hex of the exact octets on the wire (captured
// before the package decodes it: its data_coding decoding is not a reference), and raw_pdu as
// hex of the whole PDU.

'use strict';

const smpp = require('smpp');
const readline = require('readline');

const config = JSON.parse(process.env.SMSC_CONFIG || '{}');
const expected = {
  system_id: config.system_id || 'parley',
  password: config.password || 'secret',
};

// Keep the raw octets of every PDU and of short_message before the package decodes them.
const origFromBuffer = smpp.PDU.prototype.fromBuffer;
smpp.PDU.prototype.fromBuffer = function (buffer) {
  this.raw_hex = Buffer.from(buffer).toString('hex');
  return origFromBuffer.call(this, buffer);
};
const origFilter = smpp.PDU.prototype._filter;
smpp.PDU.prototype._filter = function (func) {
  if (func === 'decode') {
    if (Buffer.isBuffer(this.short_message)) {
      this.raw_short_message_hex = this.short_message.toString('hex');
    }
    if (Buffer.isBuffer(this.message_payload)) {
      this.raw_message_payload_hex = this.message_payload.toString('hex');
    }
  }
  return origFilter.call(this, func);
};

function log(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

let sessionCounter = 0;
let current = null;
let submitsSeen = 0;
let throttled = 0;
let accepted = 0;
let dropped = false;
let nextMessageId = 0x1000;
let held = [];

function printable(buf) {
  return Array.from(buf.subarray(0, 20))
    .map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.'))
    .join('');
}

function dropSession(session, why) {
  session.dropped = true;
  log({ ev: 'dropped', session: session.id, why });
  session.socket.destroy();
}

function sendReceipt(session, pdu, messageId, afterSend) {
  const text =
    `id:${messageId} sub:001 dlvrd:001 submit date:2611011200 done date:2611011201 ` +
    `stat:DELIVRD err:000 text:${printable(pdu.raw_short_message_bytes)}`;
  const options = {
    source_addr_ton: pdu.dest_addr_ton,
    source_addr_npi: pdu.dest_addr_npi,
    source_addr: pdu.destination_addr,
    dest_addr_ton: pdu.source_addr_ton,
    dest_addr_npi: pdu.source_addr_npi,
    destination_addr: pdu.source_addr,
    esm_class: 0x04,
    data_coding: 0,
    short_message: Buffer.from(text, 'latin1'),
  };
  if (config.receipts === 'tlv') {
    options.receipted_message_id = messageId;
    options.message_state = 2;
  }
  session.deliver_sm(options, (resp) => {
    log({
      ev: 'deliver_sm_resp',
      session: session.id,
      ref: `receipt:${messageId}`,
      seq: resp.sequence_number,
      command_status: resp.command_status,
    });
  }, afterSend);
}

function onSubmit(session, pdu) {
  submitsSeen += 1;
  const raw = Buffer.from(pdu.raw_short_message_hex || '', 'hex');
  pdu.raw_short_message_bytes = raw;
  if (config.compact) {
    const messageId = (nextMessageId++).toString(16).toUpperCase();
    log({ ev: 'submit_sm', session: session.id, text: raw.toString('latin1') });
    session.send(pdu.response({ message_id: messageId }));
    return;
  }
  const entry = {
    ev: 'submit_sm',
    session: session.id,
    seq: pdu.sequence_number,
    service_type: pdu.service_type,
    source_addr_ton: pdu.source_addr_ton,
    source_addr_npi: pdu.source_addr_npi,
    source_addr: pdu.source_addr,
    dest_addr_ton: pdu.dest_addr_ton,
    dest_addr_npi: pdu.dest_addr_npi,
    destination_addr: pdu.destination_addr,
    esm_class: pdu.esm_class,
    protocol_id: pdu.protocol_id,
    registered_delivery: pdu.registered_delivery,
    data_coding: pdu.data_coding,
    sm_length: raw.length,
    short_message_hex: raw.toString('hex'),
  };
  if (throttled < (config.throttle_first || 0)) {
    throttled += 1;
    entry.status = 0x58;
    log(entry);
    session.send(pdu.response({ command_status: 0x58 }));
    return;
  }
  if (config.reject_destination && pdu.destination_addr === config.reject_destination) {
    entry.status = 0x0b;
    log(entry);
    session.send(pdu.response({ command_status: 0x0b }));
    return;
  }
  const dropNow = !dropped && config.drop_after && accepted + 1 === config.drop_after;
  if (dropNow && config.drop_without_resp) {
    dropped = true;
    entry.status = null;
    log(entry);
    dropSession(session, 'drop_without_resp');
    return;
  }
  accepted += 1;
  const messageId = (nextMessageId++).toString(16).toUpperCase();
  entry.status = 0;
  entry.message_id = messageId;
  log(entry);
  if (!dropped && config.lose_resp && accepted === config.lose_resp) {
    dropped = true;
    session.dropped = true;
    const drop = () => dropSession(session, 'lose_resp');
    if (config.receipts === 'tlv' || config.receipts === 'text') {
      sendReceipt(session, pdu, messageId, drop);
    } else {
      drop();
    }
    return;
  }
  if (dropNow) {
    dropped = true;
    session.dropped = true; // ignore whatever follows on this connection
    session.send(pdu.response({ message_id: messageId }), () => dropSession(session, 'drop_after'));
    return;
  }
  if (config.hold) {
    held.push(() => session.send(pdu.response({ message_id: messageId })));
    return;
  }
  session.send(pdu.response({ message_id: messageId }));
  if ((config.receipts === 'tlv' || config.receipts === 'text') && pdu.registered_delivery & 1) {
    sendReceipt(session, pdu, messageId);
  }
}

const server = smpp.createServer((session) => {
  sessionCounter += 1;
  session.id = sessionCounter;
  session.dropped = false;
  log({ ev: 'connect', session: session.id });

  session.on('pdu', (pdu) => {
    if (session.dropped) {
      return;
    }
    switch (pdu.command) {
      case 'bind_transceiver': {
        const ok = pdu.system_id === expected.system_id && pdu.password === expected.password;
        log({
          ev: 'bind_transceiver',
          session: session.id,
          seq: pdu.sequence_number,
          system_id: pdu.system_id,
          password: pdu.password,
          system_type: pdu.system_type,
          interface_version: pdu.interface_version,
          accepted: ok,
        });
        if (ok) {
          session.send(pdu.response({ system_id: 'parley-test-smsc' }));
          current = session;
        } else {
          session.send(pdu.response({ command_status: smpp.ESME_RINVPASWD }), () =>
            session.close()
          );
        }
        break;
      }
      case 'submit_sm':
        onSubmit(session, pdu);
        break;
      case 'enquire_link':
        log({ ev: 'enquire_link', session: session.id, seq: pdu.sequence_number });
        if (!config.silent_enquire_link) {
          session.send(pdu.response());
        }
        break;
      case 'enquire_link_resp': // logged by the callback of the command that sent it
        break;
      case 'unbind':
        log({ ev: 'unbind', session: session.id, seq: pdu.sequence_number });
        session.send(pdu.response(), () => session.close());
        break;
      case 'unbind_resp':
        log({ ev: 'unbind_resp', session: session.id, seq: pdu.sequence_number });
        session.close();
        break;
      case 'deliver_sm_resp':
      case 'generic_nack':
        if (pdu.command === 'generic_nack') {
          log({ ev: 'generic_nack', session: session.id, seq: pdu.sequence_number });
        }
        break;
      default:
        log({ ev: 'other', session: session.id, command: pdu.command, raw_pdu: pdu.raw_hex });
    }
  });
  session.on('close', () => {
    log({ ev: 'close', session: session.id });
    if (current === session) {
      current = null;
    }
  });
  session.on('error', (e) => log({ ev: 'error', session: session.id, error: String(e) }));
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) {
    return;
  }
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    log({ ev: 'bad_command', error: String(e) });
    return;
  }
  const session = current;
  if (!session) {
    log({ ev: 'no_session', cmd: cmd.cmd, ref: cmd.ref });
    return;
  }
  switch (cmd.cmd) {
    case 'deliver': {
      const options = {
        source_addr_ton: cmd.source_addr_ton ?? 1,
        source_addr_npi: cmd.source_addr_npi ?? 1,
        source_addr: cmd.source_addr,
        dest_addr_ton: cmd.dest_addr_ton ?? 0,
        dest_addr_npi: cmd.dest_addr_npi ?? 0,
        destination_addr: cmd.destination_addr,
        esm_class: cmd.esm_class ?? 0,
        data_coding: cmd.data_coding ?? 0,
        short_message: Buffer.from(cmd.short_message_hex || '', 'hex'),
      };
      Object.assign(options, cmd.tlvs || {});
      session.deliver_sm(options, (resp) => {
        log({
          ev: 'deliver_sm_resp',
          session: session.id,
          ref: cmd.ref,
          seq: resp.sequence_number,
          command_status: resp.command_status,
        });
      });
      break;
    }
    case 'enquire_link':
      session.enquire_link({}, (resp) => {
        log({
          ev: 'enquire_link_resp',
          session: session.id,
          ref: cmd.ref,
          seq: resp.sequence_number,
          command_status: resp.command_status,
        });
      });
      break;
    case 'unbind':
      session.unbind();
      break;
    case 'drop':
      dropSession(session, 'command');
      break;
    case 'release': {
      const toSend = held;
      held = [];
      toSend.forEach((send) => send());
      log({ ev: 'released', ref: cmd.ref, count: toSend.length });
      break;
    }
    default:
      log({ ev: 'bad_command', cmd: cmd.cmd });
  }
});
// The test process went away: stop.
rl.on('close', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  log({ ev: 'listening', port: server.address().port });
});
