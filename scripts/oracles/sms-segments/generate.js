#!/usr/bin/env node
// Generates crates/parley-core/fixtures/sms_segments.jsonl: deterministic pseudo-random texts and
// what Twilio's `sms-segments-calculator` says about each (encoding, segment count, character
// counts). parley-core's sms module asserts that it agrees with every line.
//
// Usage: node generate.js [output-path]
//
// Each line is one JSON object (short keys keep the file under ~3 MB):
//   cat      text family the line was drawn from (for diagnostics only)
//   text     the message body
//   enc      oracle's encoding, "GSM-7" or "UCS-2"
//   segs     oracle's segment count (default options: auto encoding, smart encoding off)
//   scalars  oracle's numberOfUnicodeScalars (code points)
//   chars    oracle's numberOfCharacters: septets for GSM-7, grapheme clusters for UCS-2
//   bits     oracle's messageSize: bits of text, user data headers excluded
//   segs_cp  only when it differs from `segs`: the oracle's segment count with its grapheme
//            splitting replaced by code-point splitting (see the parley_core::sms module doc)
//   oversized  only when true: the oracle built a segment over 140 bytes (a grapheme cluster longer
//              than a segment), so its `segs` is too low
'use strict';

const fs = require('fs');
const path = require('path');
const { SegmentedMessage } = require('sms-segments-calculator');
const textUtils = require('sms-segments-calculator/dist/libs/textUtils');
const oracleVersion = require('sms-segments-calculator/package.json').version;

const EXPECTED_ORACLE_VERSION = '1.3.0';
const SEED = 0x5a4d53; // "SMS"
const LINES = 10000; // fixed cases included

if (oracleVersion !== EXPECTED_ORACLE_VERSION) {
  throw new Error(`expected sms-segments-calculator ${EXPECTED_ORACLE_VERSION}, found ${oracleVersion}`);
}

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32): the same seed gives the same corpus on every machine.

function makeRng(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)); // inclusive
  const pick = (items) => items[Math.floor(next() * items.length)];
  const chance = (p) => next() < p;
  return { next, int, pick, chance };
}

const rng = makeRng(SEED);

// ---------------------------------------------------------------------------------------------
// Character pools.

const chars = (s) => [...s];
const range = (from, to) => {
  const out = [];
  for (let cp = from; cp <= to; cp++) out.push(String.fromCodePoint(cp));
  return out;
};

const GSM_ASCII = chars('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !"#$%&\'()*+,-./:;<=>?@_');
const GSM_WORDS = ['hello', 'your', 'order', 'is', 'ready', 'reply', 'STOP', 'to', 'opt', 'out', 'thanks', 'call', 'us'];
const GSM_NON_ASCII = chars('£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà');
const GSM_NEWLINES = ['\n', '\r', '\r\n'];
const GSM_EXTENSION = chars('^{}\\[~]|€\f');
// Accented Latin that is not in the GSM alphabet (é is, ê is not; Ç is, ç is not).
const LATIN_NON_GSM = chars('êâîôûçáíóúãõëïÿœšžłńśźćęąőűčřğşıİĀēÊÂÁÍÓÚÃÕ');
const NON_GSM_ASCII = ['`', '\t', '\u000b', '\u0000', '\u007f'];
const NON_GSM_SPACES = ['\u00a0', '\u2009', '\u202f', '\u3000', '\u200b', '\u200c', '\u2060', '\ufeff'];
const LOOKALIKES = ['\u0391', '\u0392', '\u2126', '\u0410', '\u00b4', '\u2019', '\u201c', '\u2026', '\u2013'];
const SYMBOLS = chars('©®™°±×÷µ¶•–—‘’“”…«»¢₹₽¬');
const EMOJI_SINGLE = [
  '\u{1F600}', '\u{1F602}', '\u{1F44D}', '\u{1F389}', '\u{1F680}', '\u{1F4A9}', '\u{1F914}',
  '\u2764', '\u263a', '\u2705', '\u2600', '\u2b50', '\u{1F9E1}', '\u{1FAE0}',
];
const EMOJI_SEQUENCES = [
  '\u2764\ufe0f', // heart with emoji presentation
  '\u{1F44D}\u{1F3FD}', // thumbs up, medium skin tone
  '\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466}', // family
  '\u{1F469}\u200d\u{1F4BB}', // woman technologist
  '\u{1F3F3}\ufe0f\u200d\u{1F308}', // rainbow flag
  '\u{1F9D1}\u{1F3FE}\u200d\u{1F91D}\u200d\u{1F9D1}\u{1F3FB}', // people holding hands, skin tones
  '\u{1F1EC}\u{1F1E7}', '\u{1F1EB}\u{1F1F7}', '\u{1F1FA}\u{1F1F8}', '\u{1F1EF}\u{1F1F5}', // flags
  '1\ufe0f\u20e3', '#\ufe0f\u20e3', // keycaps (start with a GSM character)
  '\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}', // England (tag sequence)
];
const CJK = range(0x4e00, 0x9fff);
const CJK_EXT_B = range(0x20000, 0x2a6df);
const HIRAGANA = range(0x3041, 0x3096);
const HANGUL = range(0xac00, 0xd7a3);
const ARABIC = range(0x0621, 0x064a).concat(range(0x0660, 0x0669));
const ARABIC_MARKS = range(0x064b, 0x0652);
const CYRILLIC = range(0x0410, 0x044f).concat(['ё', 'Ё', 'і', 'ї', 'є']);
const HEBREW = range(0x05d0, 0x05ea);
const DEVANAGARI = range(0x0915, 0x0939);
const DEVANAGARI_SIGNS = range(0x093e, 0x094d);
const THAI = range(0x0e01, 0x0e2e);
const THAI_MARKS = ['\u0e31', '\u0e34', '\u0e35', '\u0e48', '\u0e49'];
const GREEK_LOWER = range(0x03b1, 0x03c9);
const COMBINING = range(0x0300, 0x036f);

// ---------------------------------------------------------------------------------------------
// Text builders. Each returns a string built to roughly `n` characters.

const fill = (n, pool) => {
  let s = '';
  for (let i = 0; i < n; i++) s += rng.pick(pool);
  return s;
};

// GSM-only prose-like text of about n septets (basic table only).
const gsmBasic = (n) => {
  let s = '';
  while ([...s].length < n) {
    const r = rng.next();
    if (r < 0.35) s += rng.pick(GSM_WORDS) + ' ';
    else if (r < 0.9) s += rng.pick(GSM_ASCII);
    else if (r < 0.97) s += rng.pick(GSM_NON_ASCII);
    else s += rng.pick(GSM_NEWLINES);
  }
  return [...s].slice(0, n).join('');
};

// Replaces characters of `text` at random with characters from `pool`, each with probability p.
const sprinkle = (text, pool, p) => [...text].map((c) => (rng.chance(p) ? rng.pick(pool) : c)).join('');

// Inserts `piece` at a random position.
const insertAt = (text, piece) => {
  const cs = [...text];
  const at = rng.int(0, cs.length);
  return cs.slice(0, at).join('') + piece + cs.slice(at).join('');
};

// Script text with optional combining marks after base characters.
const script = (n, base, marks, markP) => {
  let s = '';
  for (let i = 0; i < n; i++) {
    s += rng.pick(base);
    if (marks && rng.chance(markP)) s += rng.pick(marks);
    if (rng.chance(0.12)) s += ' ';
  }
  return s;
};

// Segment boundaries worth aiming at, in units.
const GSM_EDGES = [159, 160, 161, 152, 153, 154, 305, 306, 307, 458, 459, 460, 611, 612, 613, 764, 765, 766, 917, 918, 919];
const UCS_EDGES = [69, 70, 71, 66, 67, 68, 133, 134, 135, 200, 201, 202, 267, 268, 269, 334, 335, 336, 401, 402, 403];

// Lengths, in characters: mostly short, a quarter around segment boundaries (the first three
// segments more often than the later ones), and a thin tail up to ~1,200. Kept short on average so
// the fixture stays under ~3 MB.
const edge = (edges) => (rng.chance(0.88) ? rng.pick(edges.slice(0, 9)) : rng.pick(edges)) + rng.int(-2, 2);
const gsmLength = () => {
  const r = rng.next();
  if (r < 0.55) return rng.int(0, 170);
  if (r < 0.8) return Math.max(0, edge(GSM_EDGES));
  if (r < 0.97) return rng.int(170, 320);
  return rng.int(320, 1200);
};
const ucsLength = () => {
  const r = rng.next();
  if (r < 0.55) return rng.int(0, 80);
  if (r < 0.82) return Math.max(0, edge(UCS_EDGES));
  if (r < 0.98) return rng.int(80, 250);
  return rng.int(250, 1000);
};
const length = (edges) => (edges === GSM_EDGES ? gsmLength() : ucsLength());

const nonGsmFiller = (n) => {
  const pool = rng.pick([CYRILLIC, CJK, ARABIC, HEBREW, GREEK_LOWER, LATIN_NON_GSM, HANGUL]);
  let s = '';
  for (let i = 0; i < n; i++) s += rng.chance(0.3) ? rng.pick(GSM_ASCII) : rng.pick(pool);
  return s;
};

const GENERATORS = {
  gsm: () => gsmBasic(length(GSM_EDGES)),
  gsm_extension: () => sprinkle(gsmBasic(length(GSM_EDGES)), GSM_EXTENSION, rng.pick([0.01, 0.05, 0.2, 0.6])),
  // An extension character whose escape lands just before, on or after a segment boundary.
  gsm_extension_at_boundary: () => {
    const at = edge(GSM_EDGES);
    let s = gsmBasic(Math.max(0, at)) + rng.pick(GSM_EXTENSION);
    if (rng.chance(0.5)) s += rng.pick(GSM_EXTENSION);
    return rng.chance(0.5) ? s : s + gsmBasic(rng.int(0, 30));
  },
  only_extension: () => fill(length(GSM_EDGES.map((e) => Math.floor(e / 2))), GSM_EXTENSION),
  latin_gsm_accents: () => sprinkle(gsmBasic(length(GSM_EDGES)), chars('éèàùìòÇÉÄÖÑÜäöñüß'), 0.1),
  latin_non_gsm_accents: () => {
    const base = sprinkle(gsmBasic(length(UCS_EDGES)), chars('éèàùìò'), 0.05);
    return rng.chance(0.5) ? insertAt(base, rng.pick(LATIN_NON_GSM)) : sprinkle(base, LATIN_NON_GSM, 0.08);
  },
  one_non_gsm_character: () =>
    insertAt(gsmBasic(length(GSM_EDGES)), rng.pick(NON_GSM_ASCII.concat(NON_GSM_SPACES, LOOKALIKES, SYMBOLS))),
  emoji: () => {
    let s = gsmBasic(length(UCS_EDGES));
    const count = rng.int(1, 8);
    for (let i = 0; i < count; i++) s = insertAt(s, rng.pick(rng.chance(0.5) ? EMOJI_SINGLE : EMOJI_SEQUENCES));
    return s;
  },
  only_emoji: () => {
    let s = '';
    const n = rng.int(0, 80);
    for (let i = 0; i < n; i++) s += rng.pick(rng.chance(0.6) ? EMOJI_SINGLE : EMOJI_SEQUENCES);
    return s;
  },
  // An emoji (single or sequence) starting just before, on or after a UCS-2 segment boundary.
  emoji_at_boundary: () => {
    const at = edge(UCS_EDGES);
    const emoji = rng.pick(rng.chance(0.4) ? EMOJI_SINGLE : EMOJI_SEQUENCES);
    const tail = rng.chance(0.5) ? '' : nonGsmFiller(rng.int(0, 30));
    return nonGsmFiller(Math.max(0, at)) + emoji + tail;
  },
  // A multi-code-point cluster (ZWJ sequence, flag, keycap, combining marks) that straddles a UCS-2
  // segment boundary, in a text that ends near the end of the next segment: where the oracle's
  // grapheme handling and ours can disagree.
  cluster_across_boundary: () => {
    const clusters = EMOJI_SEQUENCES.concat(['e\u0301\u0302', 'ж\u0301\u0308\u0323', '\u0915\u094d\u0937\u093f']);
    const cluster = rng.pick(clusters);
    const units = cluster.length; // UTF-16 code units
    const k = rng.int(1, 3);
    const start = Math.max(0, 67 * k - rng.int(1, units - 1));
    const end = 67 * (k + 1) - rng.int(0, 4);
    return nonGsmFiller(start) + cluster + nonGsmFiller(Math.max(0, end - start - units));
  },
  cjk: () => {
    const n = length(UCS_EDGES);
    return rng.chance(0.2) ? script(n, CJK.concat(CJK_EXT_B), null, 0) : script(n, CJK.concat(HIRAGANA), null, 0);
  },
  hangul: () => script(length(UCS_EDGES), HANGUL, null, 0),
  arabic: () => script(length(UCS_EDGES), ARABIC, ARABIC_MARKS, 0.3),
  cyrillic: () => script(length(UCS_EDGES), CYRILLIC, null, 0),
  hebrew: () => script(length(UCS_EDGES), HEBREW, null, 0),
  devanagari: () => script(length(UCS_EDGES), DEVANAGARI, DEVANAGARI_SIGNS, 0.5),
  thai: () => script(length(UCS_EDGES), THAI, THAI_MARKS, 0.3),
  combining_marks: () => {
    const n = length(UCS_EDGES);
    let s = '';
    while ([...s].length < n) {
      s += rng.pick(GSM_ASCII);
      if (rng.chance(0.3)) {
        const marks = rng.chance(0.05) ? rng.int(5, 80) : rng.int(1, 3);
        s += fill(marks, COMBINING);
      }
    }
    return s;
  },
  mixed_scripts: () => {
    const n = length(UCS_EDGES);
    const pools = [GSM_ASCII, GSM_NON_ASCII, GSM_EXTENSION, CYRILLIC, CJK, ARABIC, HEBREW, GREEK_LOWER,
      LATIN_NON_GSM, SYMBOLS, EMOJI_SINGLE, EMOJI_SEQUENCES, HANGUL, THAI, GSM_NEWLINES];
    let s = '';
    while ([...s].length < n) s += rng.pick(rng.pick(pools));
    return s;
  },
  whitespace: () => {
    const pool = rng.chance(0.7) ? [' ', '\n', '\r', '\r\n', '\f'] : [' ', '\n', '\t', '\u00a0', '\u3000', '\u2009'];
    return fill(rng.chance(0.3) ? rng.int(0, 3) : length(GSM_EDGES), pool);
  },
  any_code_point: () => {
    const n = rng.int(0, 120);
    let s = '';
    for (let i = 0; i < n; i++) {
      let cp = rng.chance(0.7) ? rng.int(0, 0xffff) : rng.int(0x10000, 0x10ffff);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x20; // no lone surrogates: Rust strings cannot hold them
      s += String.fromCodePoint(cp);
    }
    return s;
  },
};

const WEIGHTS = {
  gsm: 12, gsm_extension: 10, gsm_extension_at_boundary: 8, only_extension: 2,
  latin_gsm_accents: 5, latin_non_gsm_accents: 6, one_non_gsm_character: 6,
  emoji: 8, only_emoji: 3, emoji_at_boundary: 8, cluster_across_boundary: 2,
  cjk: 5, hangul: 2, arabic: 4, cyrillic: 4, hebrew: 1, devanagari: 2, thai: 2,
  combining_marks: 3, mixed_scripts: 5, whitespace: 2, any_code_point: 2,
};

// Fixed edge cases, first in the file.
function fixedCases() {
  const out = [];
  const add = (category, text) => out.push([category, text]);
  for (const t of ['', ' ', '\n', '\r', '\r\n', '\n\n', '\t', '\f', '\u00a0', '\u200b', 'a', 'é', 'ê', 'ç', 'Ç', 'e\u0301']) add('fixed', t);
  for (const c of GSM_EXTENSION.concat(GSM_NON_ASCII, LATIN_NON_GSM, NON_GSM_ASCII, LOOKALIKES)) add('fixed_single', c);
  for (const e of EMOJI_SINGLE.concat(EMOJI_SEQUENCES)) add('fixed_single', e);
  const a = (n) => 'a'.repeat(n);
  const zh = (n) => 'ж'.repeat(n);
  for (let n = 150; n <= 170; n++) add('fixed_gsm_length', a(n));
  for (let k = 1; k <= 8; k++) for (const d of [-1, 0, 1]) add('fixed_gsm_length', a(153 * k + d));
  for (let n = 60; n <= 80; n++) add('fixed_ucs2_length', zh(n));
  for (let k = 1; k <= 8; k++) for (const d of [-1, 0, 1]) add('fixed_ucs2_length', zh(67 * k + d));
  for (const n of [150, 151, 152, 153, 157, 158, 159, 160, 304, 305, 306]) {
    for (const c of ['€', '{', '\f']) add('fixed_gsm_extension_boundary', a(n) + c + a(10));
    add('fixed_gsm_extension_boundary', a(n) + '€');
  }
  for (const n of [64, 65, 66, 67, 68, 69, 70, 132, 133, 134]) {
    for (const e of ['\u{1F600}', '\u{1F1EC}\u{1F1E7}', '\u{1F468}\u200d\u{1F469}\u200d\u{1F467}', '\u2764\ufe0f']) {
      add('fixed_ucs2_emoji_boundary', zh(n) + e + zh(10));
      add('fixed_ucs2_emoji_boundary', zh(n) + e);
    }
  }
  add('fixed_long_cluster', 'ж' + '\u0301'.repeat(100));
  add('fixed_long_cluster', zh(60) + 'a' + '\u0301'.repeat(30) + zh(5));
  add('fixed_long_cluster', '\u{1F468}\u200d'.repeat(40) + '\u{1F468}');
  add('fixed_length_limit', a(840));
  add('fixed_length_limit', a(841));
  add('fixed_length_limit', a(918));
  add('fixed_length_limit', a(919));
  add('fixed_length_limit', zh(402));
  add('fixed_length_limit', zh(403));
  add('fixed_length_limit', '\u{1F600}'.repeat(201));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The oracle.

const byGrapheme = textUtils.splitGraphemes;
const byCodePoint = (message) => Array.from(message);

function oracle(text) {
  const m = new SegmentedMessage(text);
  const line = {
    text,
    enc: m.encodingName,
    segs: m.segmentsCount,
    scalars: m.numberOfUnicodeScalars,
    chars: m.numberOfCharacters,
    bits: m.messageSize,
  };
  // The same package with grapheme clusters replaced by code points: the deliberate difference.
  textUtils.splitGraphemes = byCodePoint;
  try {
    const cp = new SegmentedMessage(text);
    if (cp.encodingName !== m.encodingName) throw new Error(`encoding changed by code-point splitting: ${JSON.stringify(text)}`);
    if (cp.segmentsCount !== m.segmentsCount) line.segs_cp = cp.segmentsCount;
    // A cluster longer than a segment makes the oracle build a segment over 140 bytes.
    if (m.segments.some((segment) => segment.sizeInBits() > 1120)) line.oversized = true;
  } finally {
    textUtils.splitGraphemes = byGrapheme;
  }
  return line;
}

// The composer's counter (issue 15): what is left in the current segment, at the boundaries an
// agent meets (160/161 and 306/307 septets, 70/71 and 134/135 UCS-2 units), with extension
// characters that take two septets and emoji that take two UTF-16 units. Written to
// crates/parley-core/fixtures/sms_composer.jsonl with `left`: the oracle's free bits in the last
// segment over 7 or 16.
function composerCases() {
  const a = (n) => 'a'.repeat(n);
  const zh = (n) => 'ж'.repeat(n);
  const out = [];
  for (const n of [159, 160, 161, 305, 306, 307, 458, 459, 460]) out.push(a(n));
  for (const n of [79, 80, 81, 153, 154]) out.push('{'.repeat(n), '€'.repeat(n) + 'a');
  for (const n of [151, 152, 153, 158, 159, 160, 304, 305, 306]) for (const c of ['{', '[', '€', '~', '\\', '|', '^', ']', '}']) out.push(a(n) + c);
  out.push('Price: €10 [promo] {code} ~ ^ | \\');
  for (const n of [69, 70, 71, 133, 134, 135, 200, 201]) out.push(zh(n));
  for (const n of [34, 35, 36, 66, 67, 68, 100, 101]) out.push('\u{1F600}'.repeat(n));
  for (const n of [65, 66, 67, 68, 69, 132, 133, 134]) out.push(zh(n) + '\u{1F600}', a(n) + '\u{1F44D}');
  out.push('Hello 👋 — your order is ready 🎉', 'Merci ! À bientôt 😊', '¡Hola! ¿Qué tal? €5');
  return out.map((text) => {
    const m = new SegmentedMessage(text);
    const last = m.segments[m.segments.length - 1];
    const unit = m.encodingName === 'GSM-7' ? 7 : 16;
    return JSON.stringify({ text, enc: m.encodingName, segs: m.segmentsCount, bits: m.messageSize, left: Math.floor(last.freeSizeInBits() / unit) });
  });
}

function main() {
  const composer = path.join(__dirname, '../../../crates/parley-core/fixtures/sms_composer.jsonl');
  if (!process.argv[2]) fs.writeFileSync(composer, composerCases().join('\n') + '\n');
  const output = path.resolve(process.argv[2] || path.join(__dirname, '../../../crates/parley-core/fixtures/sms_segments.jsonl'));
  const cases = fixedCases();
  const names = Object.keys(WEIGHTS);
  const total = names.reduce((sum, n) => sum + WEIGHTS[n], 0);
  while (cases.length < LINES) {
    let r = rng.next() * total;
    let name = names[names.length - 1];
    for (const n of names) {
      r -= WEIGHTS[n];
      if (r < 0) {
        name = n;
        break;
      }
    }
    cases.push([name, GENERATORS[name]()]);
  }
  const lines = [];
  const stats = {};
  for (const [category, text] of cases) {
    const o = oracle(text);
    lines.push(JSON.stringify({ cat: category, ...o }));
    const s = (stats[category] = stats[category] || { lines: 0, gsm: 0, ucs2: 0, differs: 0, oversized: 0 });
    s.lines++;
    if (o.enc === 'GSM-7') s.gsm++;
    else s.ucs2++;
    if (o.segs_cp !== undefined) s.differs++;
    if (o.oversized) s.oversized++;
  }
  fs.mkdirSync(path.dirname(output), { recursive: true });
  fs.writeFileSync(output, lines.join('\n') + '\n');
  const bytes = fs.statSync(output).size;
  process.stderr.write(`wrote ${lines.length} lines, ${bytes} bytes, to ${output}\n`);
  for (const [category, s] of Object.entries(stats).sort()) {
    process.stderr.write(`  ${category.padEnd(30)} ${String(s.lines).padStart(5)} lines  GSM-7 ${s.gsm}  UCS-2 ${s.ucs2}  grapheme difference ${s.differs}  oversized ${s.oversized}\n`);
  }
}

main();
