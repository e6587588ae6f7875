/* Parley web chat widget: our own code, no dependencies, no build step.
 *   <script src="https://parley.example/widget.js" data-deployment="shop" data-language="en" async></script>
 * It renders in a shadow root (the host page's CSS cannot reach it) and sets every text that comes
 * from a person with textContent, never as HTML. Host API, calls before load queued in Parley.q:
 *   Parley.open() close() setHiddenFields(obj) setIdentityToken(jwt) logout()
 * Storage: localStorage `parley.<deployment>.visitor` (visitor token and expiry). No cookies. */
(() => {
  'use strict';
  const prior = window.Parley;
  if (prior && prior.__widget) return;
  const me = document.currentScript || document.querySelector('script[src*="widget.js"][data-deployment]');
  if (!me) return;
  const NAME = me.dataset.deployment || '';
  const LANG = (me.dataset.language || '').toLowerCase();
  const BASE = new URL('./', me.src).href + 'widget/v1/';
  const KEY = `parley.${NAME}.visitor`;
  const DEP = `deployments/${encodeURIComponent(NAME)}/`;
  // WEB-22: what may be attached, both ways, up to 5 MB. TIFF travels but is not shown inline.
  const TYPES = ['application/pdf', 'image/png', 'image/jpeg', 'image/bmp', 'image/gif', 'image/tiff'];
  const MAX = 5 * 1024 * 1024;
  const EMOJI = '😀 😂 😊 😍 🙂 😢 😮 🤔 👍 👎 🙏 👋 🎉 ❤️ ✅ ❌'.split(' ');

  // English built in: the server hands the labels of the deployment's language (or the snippet's)
  // from its catalogue with the config, and these stand in until then or when it cannot be reached.
  const EN = {
    open: 'Open chat', close: 'Close chat', message: 'Message', placeholder: 'Type a message…', send: 'Send',
    attach: 'Attach a file', emoji: 'Insert an emoji', start: 'Start chat', first: 'How can we help?',
    intro: 'Tell us a little about you and we will be right with you.', required: 'required',
    need: 'This field is required.', bad_email: 'Enter a valid e-mail address.', bad_tel: 'Enter a valid phone number.',
    bad_number: 'Enter a number.', first_name: 'First name', last_name: 'Last name', email: 'E-mail', subject: 'Subject',
    end: 'End chat', end_q: 'End this chat?', cancel: 'Cancel', transcript: 'Download transcript', ended: 'This chat has ended.',
    new_chat: 'Start a new chat', waiting: 'Waiting for an agent', wait_1: 'Estimated wait: about 1 minute',
    wait_n: 'Estimated wait: about {n} minutes', with: 'Chatting with {name}', typing: '{name} is typing…',
    someone: 'Someone', reconnecting: 'Reconnecting…', unreachable: 'Can’t reach the server. Check your connection.',
    retry: 'Retry', unavailable: 'Chat is not available on this website.',
    closed: 'We are closed right now. Leave a message and we will answer when we are back.',
    sign_in: 'Please sign in to chat with us.', not_verified: 'We could not verify your sign-in.',
    sending: 'Sending…', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Not sent.',
    too_big: 'Files must be 5 MB or less.', bad_type: 'Attach a PDF or an image (PNG, JPEG, BMP, GIF, TIFF).',
    download: 'download', slow: 'Too many messages: try again in a moment.', error: 'Something went wrong. Try again.',
    messages: 'Messages', file: 'File', unread: 'unread',
  };

  const CSS = `:host{all:initial}.root{--a:#2456d6;--on:#fff;--a2:#2456d6}
*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;line-height:1.4;color:inherit}
[hidden]{display:none!important}button{cursor:pointer;font:inherit}
:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}
.launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;border:0;background:var(--a);color:var(--on);box-shadow:0 4px 14px #0004;display:grid;place-items:center}
.launch[data-state=unavailable]{opacity:.6}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;border-radius:10px;background:#c62828;color:#fff;font-size:12px;padding:1px 5px}
svg{width:22px;height:22px;fill:currentColor}.launch svg{width:28px;height:28px}
.win{position:fixed;right:20px;bottom:88px;z-index:2147483000;width:370px;height:min(600px,calc(100vh - 108px));background:#fff;color:#1d1d1f;border-radius:14px;box-shadow:0 10px 40px #0005;display:flex;flex-direction:column;overflow:hidden}
header{background:var(--a);color:var(--on);padding:10px 12px;display:flex;flex-wrap:wrap;align-items:center;gap:4px 10px}.tools{flex-basis:100%;display:flex;justify-content:flex-end;gap:4px}.tools:empty,.tools:not(:has(:not([hidden]))){display:none}
header img{width:40px;height:40px;border-radius:50%;object-fit:cover}
.ht{flex:1;min-width:0}h2{margin:0;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.sub{margin:0;font-size:12px}
header button{background:none;border:0;padding:2px 8px;border-radius:6px;font-size:12px}header button:hover{background:#fff3}.tools button{border:1px solid currentColor}.x{font-size:22px}
.note{margin:0;padding:8px 14px;font-size:13px;background:#fff8e1;color:#5d4200}.conn,.oops{background:#fdecea;color:#7a1010}
.body{flex:1;overflow-y:auto;padding:14px;background:#f6f7f9}.log{display:flex;flex-direction:column;gap:8px}
.e{display:flex;flex-direction:column;align-items:flex-start;max-width:85%}.me{align-self:flex-end;align-items:flex-end}.sys{align-self:center;align-items:center}
.who,.st{font-size:11px;color:#666;margin:1px 4px}
.b{background:#fff;border:1px solid #e3e5e8;border-radius:14px;padding:8px 12px;white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%}
.me .b{background:var(--a);color:var(--on);border-color:transparent}.sys .b{background:none;border:0;color:#555;font-size:12px}
.b img{display:block;max-width:220px;max-height:220px;border-radius:8px;margin-top:4px}
.ch{display:flex;flex-direction:column;gap:6px;margin-top:6px}.qr{flex-flow:row wrap}
.ch button,.card button{background:#fff;color:var(--a2);border:1px solid var(--a2);border-radius:16px;padding:6px 12px;text-align:left}
.ch [aria-pressed=true]{background:var(--a2);color:#fff}.ch :disabled{cursor:default;opacity:.6}
.cards{display:flex;gap:8px;overflow-x:auto;margin-top:6px;max-width:100%}.card{flex:0 0 170px;background:#fff;border:1px solid #e3e5e8;border-radius:10px;padding:8px}
.card img,.link img{width:100%;border-radius:6px}.card p{margin:4px 0}.d{font-size:12px;color:#666}
.link{display:block;margin-top:6px;background:#fff;color:var(--a2);border:1px solid #e3e5e8;border-radius:10px;padding:8px;font-weight:600}
.typing{min-height:18px;padding:2px 14px;font-size:12px;color:#555;font-style:italic;background:#f6f7f9}
.pre{display:flex;flex-direction:column;gap:10px}.pre p{margin:0}.f label{display:block;font-weight:600;margin-bottom:3px}
.cb label{display:flex;gap:8px;align-items:center;font-weight:400}.req,.err{color:#b00020}.err{font-size:12px;margin:3px 0 0}
.f input:not([type=checkbox]),textarea{width:100%;padding:8px;border:1px solid #b9bec5;border-radius:8px;background:#fff;color:#1d1d1f}
[aria-invalid=true]{border-color:#b00020!important}
.primary{background:var(--a);color:var(--on);border:0;border-radius:8px;padding:10px;font-weight:600}
.confirm{padding:10px 14px;border-top:1px solid #e3e5e8;display:flex;gap:8px;align-items:center}.confirm span{flex:1}
.confirm button,.note button,.st button{background:#fff;color:#1d1d1f;border:1px solid #999;border-radius:6px;padding:2px 10px;margin-left:6px}
.confirm .yes{background:#b00020;color:#fff;border-color:#b00020}
.comp{display:flex;align-items:flex-end;gap:4px;padding:8px;border-top:1px solid #e3e5e8;position:relative}
.comp textarea{flex:1;resize:none;max-height:120px;min-height:38px}
.ic{background:none;border:0;width:36px;height:38px;border-radius:8px;color:#555;display:grid;place-items:center}.ic:hover{background:#eef0f3}.send{color:var(--a2)}
.emo{position:absolute;bottom:52px;right:8px;background:#fff;border:1px solid #ccc;border-radius:10px;padding:6px;display:grid;grid-template-columns:repeat(8,32px);box-shadow:0 4px 14px #0002}
.emo button{border:0;background:none;font-size:20px;border-radius:6px;height:32px}.emo button:hover{background:#eef0f3}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
@media (max-width:480px){.win{inset:0;width:100%;height:100%;border-radius:0}.open .launch{display:none}}`;

  const svg = (d) => `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="${d}"/></svg>`;
  // Constant markup only: nothing dynamic ever goes through innerHTML.
  const SKELETON = `<div class="root"><button type="button" class="launch" data-testid="parley-launcher" aria-expanded="false" aria-controls="pw-win">${svg('M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z')}<span class="badge" hidden></span></button>
<div class="win" id="pw-win" role="dialog" aria-modal="false" aria-labelledby="pw-title" hidden>
<header><img class="av" alt="" hidden><div class="ht"><h2 id="pw-title"></h2><p class="sub" data-testid="parley-status"></p></div>
<button type="button" class="x" data-testid="parley-close">×</button><div class="tools"><button type="button" class="tr" data-testid="parley-transcript" hidden></button><button type="button" class="end" data-testid="parley-end" hidden></button></div></header>
<p class="note conn" role="status" data-testid="parley-connection" hidden><span></span><button type="button" hidden></button></p>
<p class="note info" role="status" data-testid="parley-notice" hidden></p><p class="note oops" role="alert" data-testid="parley-error" hidden></p>
<p class="note wait" role="status" data-testid="parley-wait" hidden></p>
<div class="body"><form class="pre" data-testid="parley-prechat" novalidate hidden></form><div class="log" role="log" aria-live="polite" aria-relevant="additions" data-testid="parley-log"></div>
<p class="ended" hidden><button type="button" class="primary" data-testid="parley-new-chat"></button></p></div>
<div class="typing" aria-live="polite" data-testid="parley-typing"></div>
<div class="confirm" data-testid="parley-confirm" hidden><span></span><button type="button" class="yes"></button><button type="button" class="no"></button></div>
<form class="comp" data-testid="parley-composer"><input type="file" hidden><button type="button" class="ic clip" data-testid="parley-attach">${svg('M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z')}</button>
<textarea rows="1" data-testid="parley-input"></textarea><button type="button" class="ic emob" aria-expanded="false" hidden>${svg('M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm-3.5-9a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3zm7 0a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3zM12 17.5a5.5 5.5 0 0 0 5-3.5H7a5.5 5.5 0 0 0 5 3.5z')}</button>
<div class="emo" role="group" hidden></div><button type="submit" class="ic send" data-testid="parley-send">${svg('M2 21l21-9L2 3v7l15 2-15 2z')}</button></form></div></div>`;

  // ---- state ----
  let L = EN;
  let cfg = null; // the deployment's config, once loaded
  let failed = ''; // why the widget cannot load: a label key
  let visitor = null; // { token, expires_at, verified, visitor_id, sub }
  let session = null; // { id, status, agent_name }
  let prechatDone = false, verifyFailed = false, loaded = false, isOpen = false, wantOpen = false;
  let entries = {}; // entry id -> its element: an entry is shown once however often it arrives
  let lastId = ''; // the highest entry id seen: where the stream resumes
  let pending = {}; // client_message_id -> the bubble of a message not yet echoed
  let unread = 0, readUpTo = '', typingSent = 0, failures = 0;
  let stream = null, timers = {};
  const hiddenValues = {};

  // ---- DOM ----
  const hostEl = document.createElement('div');
  hostEl.dataset.parleyDeployment = NAME;
  const shadow = hostEl.attachShadow({ mode: 'open' });
  try {
    // Constructed sheets are not subject to the host page's style-src policy, unlike <style>.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } catch (_) {
    shadow.appendChild(h('style', '', CSS));
  }
  const tpl = document.createElement('template');
  tpl.innerHTML = SKELETON;
  shadow.appendChild(tpl.content);
  const $ = (s) => shadow.querySelector(s);
  const root = $('.root'), launcher = $('.launch'), badge = $('.badge'), win = $('.win'), titleEl = $('h2');
  const subEl = $('.sub'), av = $('.av'), trBtn = $('.tr'), endBtn = $('.end'), xBtn = $('.x');
  const conn = $('.conn'), connText = $('.conn span'), connBtn = $('.conn button');
  const info = $('.info'), oops = $('.oops'), waitEl = $('.wait'), body = $('.body'), pre = $('.pre'), log = $('.log');
  const endedP = $('.ended'), newBtn = $('.ended button'), typingEl = $('.typing'), confirmEl = $('.confirm');
  const comp = $('.comp'), input = $('textarea'), fileIn = $('input[type=file]'), clip = $('.clip');
  const emoBtn = $('.emob'), emo = $('.emo'), sendBtn = $('.send');

  function h(tag, cls, text, attrs) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = String(text);
    for (const k in attrs || {}) el.setAttribute(k, attrs[k]);
    return el;
  }
  const fmt = (s, v) => s.replace(/\{(\w+)\}/g, (_, k) => String(v[k] ?? ''));
  const httpUrl = (u) => typeof u === 'string' && /^https?:\/\/[^\s/]/i.test(u);
  const later = (name, ms, fn) => { clearTimeout(timers[name]); if (fn) timers[name] = setTimeout(fn, ms); };
  const isOpenSession = () => !!session && session.status !== 'ended' && session.status !== 'error';
  const settings = () => (cfg && cfg.settings) || {};
  function uuid() {
    if (window.isSecureContext && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const x = [...b].map((v) => (v + 256).toString(16).slice(1)).join('');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  // ---- storage (WEB-23: the only thing the widget keeps in the browser) ----
  let memory = null;
  function loadVisitor() {
    let v = memory;
    try { v = JSON.parse(localStorage.getItem(KEY)) || v; } catch (_) { /* storage blocked: memory only */ }
    if (v && v.token && !(Date.parse(v.expires_at) <= Date.now())) return v;
    forgetVisitor();
    return null;
  }
  function saveVisitor(v) {
    visitor = memory = v;
    try { localStorage.setItem(KEY, JSON.stringify(v)); } catch (_) { /* memory only */ }
  }
  function forgetVisitor() {
    visitor = memory = null;
    try { localStorage.removeItem(KEY); } catch (_) { /* nothing stored */ }
  }

  // ---- HTTP: the token travels in a header, never a cookie ----
  async function call(method, path, payload) {
    const headers = {};
    if (visitor) headers.Authorization = 'Bearer ' + visitor.token;
    let data;
    if (payload instanceof Blob) {
      data = payload;
      headers['Content-Type'] = payload.type;
    } else if (payload !== undefined) {
      data = JSON.stringify(payload);
      headers['Content-Type'] = 'application/json';
    }
    const res = await fetch(BASE + path, { method, headers, body: data, credentials: 'omit', cache: 'no-store' });
    if (res.status === 401 && visitor && path !== 'logout') expired();
    return res;
  }
  async function errorOf(res) {
    const b = await res.json().catch(() => ({}));
    return { status: res.status, code: b.code || '', message: b.message || '', fields: b.fields || b.errors || null };
  }
  async function json(res) {
    if (res.ok) return res.status === 204 ? {} : res.json();
    throw await errorOf(res);
  }

  // ---- lifecycle ----
  async function init() {
    try {
      const query = LANG ? '?language=' + encodeURIComponent(LANG) : '';
      cfg = await json(await fetch(BASE + DEP + 'config' + query, { credentials: 'omit', cache: 'no-store' }));
      // WEB-07: the snippet's language must be supported; the deployment's applies otherwise.
      if (LANG && cfg.labels_language !== LANG) console.warn(`Parley: data-language "${LANG}" is not supported; using "${cfg.labels_language}"`);
      L = Object.assign({}, EN, cfg.labels || {});
      brand();
      visitor = loadVisitor();
      if (visitor) await resume();
    } catch (e) {
      cfg = null;
      failed = e && e.status ? 'unavailable' : await reachable();
    }
    loaded = true;
    render();
    if (wantOpen) open();
  }

  // A refusal of this page's origin carries no CORS header, so the browser reports it like a
  // network failure; an opaque answer to a no-cors request tells the two apart.
  function reachable() {
    return fetch(BASE + DEP + 'config', { mode: 'no-cors', credentials: 'omit', cache: 'no-store' })
      .then(() => 'unavailable', () => 'unreachable');
  }

  function brand() {
    const b = cfg.branding || {};
    const color = /^#[0-9a-f]{6}$/i.test(b.color || '') ? b.color : '#2456d6';
    const n = parseInt(color.slice(1), 16);
    const light = 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255) > 160;
    root.style.setProperty('--a', color);
    root.style.setProperty('--on', light ? '#111' : '#fff');
    // Links and choices sit on white: a light brand color would be unreadable there.
    root.style.setProperty('--a2', light ? '#1d1d1f' : color);
    titleEl.textContent = b.title || 'Chat';
    if (httpUrl(b.avatar_url)) {
      av.referrerPolicy = 'no-referrer';
      av.src = b.avatar_url;
      av.hidden = false;
    }
    emoBtn.hidden = !settings().emoji;
    trBtn.textContent = L.transcript;
    endBtn.textContent = L.end;
    newBtn.textContent = L.new_chat;
    for (const [el, key] of [[clip, 'attach'], [emoBtn, 'emoji'], [sendBtn, 'send'], [input, 'message'], [log, 'messages']]) {
      el.setAttribute('aria-label', L[key]);
      el.title = L[key];
    }
    input.placeholder = L.placeholder;
    fileIn.accept = TYPES.join(',');
    confirmEl.firstChild.textContent = L.end_q;
    $('.yes').textContent = L.end;
    $('.no').textContent = L.cancel;
    for (const e of EMOJI) {
      const b2 = h('button', '', e, { type: 'button', 'aria-label': e });
      b2.onclick = () => { insert(e); toggleEmoji(false); };
      emo.appendChild(b2);
    }
  }

  // The history loads first, then the stream opens from its last entry (Last-Event-ID): the
  // server replays what was said in between, and entries are deduplicated by id.
  async function resume() {
    try {
      const c = await json(await call('GET', 'conversation'));
      session = c.session || null;
      prechatDone = !!c.prechat_done;
      if (c.business_hours) cfg.business_hours = c.business_hours;
      for (const e of c.entries || []) addEntry(e, false);
      setWait(c.estimated_wait_minutes);
      settleChoices();
    } catch (e) {
      if (e && e.status) problem(L.error);
    }
    connect();
    render();
  }

  function expired() {
    // Revoked, or past its lifetime (6 h for an anonymous visitor): start over as someone new.
    stopStream();
    forgetVisitor();
    session = null;
    prechatDone = false;
    clearLog();
    render();
  }

  function clearLog() {
    entries = {};
    pending = {};
    lastId = readUpTo = '';
    log.replaceChildren();
    pre.replaceChildren();
  }

  async function ensureVisitor() {
    if (visitor) return visitor;
    if (cfg.verification_required) throw { code: 'verification_required' };
    const v = await json(await call('POST', DEP + 'visitors', {}));
    saveVisitor({ token: v.visitor_token, expires_at: v.expires_at, verified: !!v.verified, visitor_id: v.visitor_id });
    connect();
    return visitor;
  }

  // ---- the window ----
  function open() {
    wantOpen = true;
    if (!loaded) return;
    isOpen = true;
    win.hidden = false;
    root.classList.add('open');
    launcher.setAttribute('aria-expanded', 'true');
    unread = 0;
    badge.hidden = true;
    render();
    ((!pre.hidden && pre.querySelector('input,textarea')) || (!comp.hidden && input) || xBtn).focus();
    markRead();
  }
  function close() {
    wantOpen = false;
    if (!isOpen) return;
    isOpen = false;
    win.hidden = true;
    root.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
    toggleEmoji(false);
    confirmEl.hidden = true;
    launcher.focus();
  }

  function render() {
    launcher.setAttribute('aria-label', `${L.open}: ${titleEl.textContent || 'Chat'}`);
    xBtn.setAttribute('aria-label', L.close);
    if (!cfg) {
      launcher.dataset.state = 'unavailable';
      note(failed ? L[failed] : '');
      pre.hidden = comp.hidden = endBtn.hidden = trBtn.hidden = true;
      return;
    }
    const bh = cfg.business_hours || { open: true };
    const signIn = cfg.verification_required && !(visitor && visitor.verified);
    const ended = !!session && !isOpenSession();
    const showPre = !!(!signIn && cfg.prechat && cfg.prechat.enabled && visibleFields().length && !session && !prechatDone);
    if (showPre && !pre.firstChild) buildPrechat();
    pre.hidden = !showPre;
    log.hidden = showPre;
    endedP.hidden = !ended;
    comp.hidden = showPre || signIn || ended;
    endBtn.hidden = !isOpenSession();
    trBtn.hidden = !visitor || !Object.keys(entries).length;
    note(signIn ? (verifyFailed ? L.not_verified : L.sign_in) : bh.open === false ? bh.message || L.closed : '');
    subEl.textContent = ended ? L.ended
      : session && session.status === 'active' && session.agent_name ? fmt(L.with, { name: session.agent_name })
        : session && /^(new|waiting)$/.test(session.status) ? L.waiting : '';
    if (!(session && session.status === 'waiting')) waitEl.hidden = true;
    const g = cfg.branding && cfg.branding.greeting;
    if (g && !log.querySelector('.greet')) {
      const el = h('div', 'e greet');
      el.appendChild(h('div', 'b', g));
      log.prepend(el);
    }
  }

  function note(text) {
    info.textContent = text || '';
    info.hidden = !text;
  }
  // A passing problem (a refused file, a failed call): announced, then gone.
  function problem(text) {
    oops.textContent = text || '';
    oops.hidden = !text;
    later('oops', 10000, text && (() => { oops.hidden = true; }));
  }
  function setWait(n) {
    if (!(typeof n === 'number' && n > 0)) return void (waitEl.hidden = true);
    n = Math.ceil(n); // RT-10: under a minute reads as one minute
    waitEl.textContent = n === 1 ? L.wait_1 : fmt(L.wait_n, { n });
    waitEl.hidden = !(session && session.status === 'waiting');
  }

  // ---- pre-chat (WEB-11) ----
  const fields = () => (cfg.prechat && cfg.prechat.fields) || [];
  const visibleFields = () => fields().filter((f) => !f.hidden);
  const TYPE = { email: 'email', phone: 'tel', tel: 'tel', number: 'number', checkbox: 'checkbox' };
  const AUTO = { first_name: 'given-name', last_name: 'family-name', email: 'email' };

  function field(name, label, type, required) {
    const id = 'pw-f-' + name;
    const wrap = h('div', type === 'checkbox' ? 'f cb' : 'f', null, { 'data-field': name });
    const el = type === 'textarea' ? h('textarea', '', null, { rows: 3 }) : h('input', '', null, { type });
    Object.assign(el, { id, name, required });
    if (AUTO[name]) el.autocomplete = AUTO[name];
    if (required) el.setAttribute('aria-required', 'true');
    el.setAttribute('aria-describedby', id + '-err');
    const lab = h('label', '', null, { for: id });
    if (type === 'checkbox') lab.append(el);
    lab.append(h('span', '', label));
    if (required) lab.append(h('span', 'req', '*', { 'aria-hidden': 'true' }), h('span', 'sr', ` (${L.required})`));
    wrap.append(lab);
    if (type !== 'checkbox') wrap.append(el);
    wrap.append(Object.assign(h('p', 'err', null, { id: id + '-err' }), { hidden: true }));
    return wrap;
  }

  function buildPrechat() {
    pre.append(h('p', '', L.intro));
    for (const f of visibleFields()) {
      pre.append(field(f.name, f.label || L[f.name] || f.name, TYPE[String(f.kind).toLowerCase()] || 'text', !!f.required));
    }
    pre.append(field('__message', L.first, 'textarea', true));
    pre.append(Object.assign(h('p', 'err gen', null, { 'data-testid': 'parley-prechat-error' }), { hidden: true }));
    pre.append(h('button', 'primary', L.start, { type: 'submit', 'data-testid': 'parley-start' }));
  }

  function fieldError(name, message) {
    const wrap = pre.querySelector(`[data-field="${name}"]`);
    if (!wrap) return false;
    const el = wrap.querySelector('input,textarea'), err = wrap.querySelector('.err');
    err.textContent = message || '';
    err.hidden = !message;
    if (message) el.setAttribute('aria-invalid', 'true');
    else el.removeAttribute('aria-invalid');
    return true;
  }

  pre.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const values = {};
    let bad = null;
    for (const wrap of pre.querySelectorAll('.f')) {
      const name = wrap.dataset.field, el = wrap.querySelector('input,textarea');
      const box = el.type === 'checkbox', v = box ? String(el.checked) : el.value.trim();
      const why = el.required && (box ? !el.checked : !v) ? L.need
        : v && el.type === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v) ? L.bad_email
          : v && el.type === 'tel' && !/^\+?[0-9 ().-]{5,20}$/.test(v) ? L.bad_tel
            : v && el.type === 'number' && !/^-?\d+([.,]\d+)?$/.test(v) ? L.bad_number : '';
      fieldError(name, why);
      if (why && !bad) bad = el;
      if (name !== '__message' && v) values[name] = v;
    }
    const general = pre.querySelector('.gen');
    general.hidden = true;
    if (bad) return bad.focus();
    const go = pre.querySelector('.primary');
    go.disabled = true;
    try {
      await send(pre.querySelector('[name=__message]').value.trim(), { prechat: values });
      prechatDone = true;
      render();
      input.focus();
    } catch (e) {
      // A 422 names the field it is about ("prechat.email: ..."): shown under that field.
      const msg = (e && e.message) || L.error;
      let shown = false;
      if (e && e.fields) {
        for (const [k, v] of Object.entries(e.fields)) {
          shown = fieldError(String((v && v.field) || k).replace(/^prechat\./, ''), (v && v.message) || String(v)) || shown;
        }
      }
      if (!shown && e && e.status === 422) {
        for (const f of visibleFields()) {
          if (new RegExp(`(^|[^\\w])(prechat\\.)?${f.name}([^\\w]|$)`).test(msg)) shown = fieldError(f.name, msg);
        }
      }
      if (!shown) {
        general.textContent = e && e.status === 429 ? L.slow : msg;
        general.hidden = false;
      }
      const first = pre.querySelector('[aria-invalid=true]');
      if (first) first.focus();
    }
    go.disabled = false;
  });

  // ---- sending ----
  function bubble(cid, text, files) {
    const el = h('div', 'e me', null, { 'data-testid': 'parley-message', 'data-author': 'customer', 'data-pending': cid, 'data-text': text });
    const b = h('div', 'b', text, { 'data-testid': 'parley-text' });
    for (const f of files || []) b.append(h('div', '', '📎 ' + f.name));
    el.append(b, h('div', 'st', L.sending, { 'data-testid': 'parley-receipt' }));
    log.append(el);
    scroll();
    return el;
  }
  const status = (el, text) => { const st = el.querySelector('.st'); if (st) st.textContent = text; };

  // Sends one message; `extra` may carry `choice`, `media` (uploaded) with `files`, and `prechat`.
  async function send(text, extra = {}) {
    const cid = uuid();
    const starts = !isOpenSession();
    const msg = { client_message_id: cid, text: text || '' };
    if (extra.choice != null) msg.choice = String(extra.choice);
    if (extra.media) msg.media_ids = extra.media.map((m) => m.id);
    if (starts) {
      // The first message of a session carries the pre-chat values and where the customer is.
      msg.page_url = location.href;
      const values = Object.assign({}, extra.prechat);
      for (const f of fields()) if (f.hidden && f.name in hiddenValues) values[f.name] = hiddenValues[f.name];
      if (Object.keys(values).length) msg.prechat = values;
    }
    try {
      await ensureVisitor();
    } catch (e) {
      render();
      throw e;
    }
    const el = extra.prechat ? null : bubble(cid, text, extra.files);
    if (el) pending[cid] = el;
    const attempt = async () => {
      await json(await call('POST', 'messages', msg));
      if (el && pending[cid] === el) status(el, L.sent);
      if (!isOpenSession()) session = { status: 'waiting' };
    };
    try {
      await attempt();
    } catch (e) {
      if (!el) throw e;
      // WEB-22: a failed message may be resent from the tab where it failed.
      const st = el.querySelector('.st');
      st.textContent = e && e.status === 429 ? L.slow : L.failed;
      const again = h('button', '', L.retry, { type: 'button' });
      again.onclick = () => { status(el, L.sending); attempt().catch(() => status(el, L.failed)); };
      st.append(again);
      throw e;
    }
  }

  comp.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    typing(false);
    send(text).catch((e) => e && e.status === 422 && problem(e.message));
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !settings().enter_inserts_newline) {
      ev.preventDefault();
      comp.requestSubmit();
    }
  });
  input.addEventListener('input', () => input.value.trim() && typing(true));

  function typing(on) {
    if (!settings().typing || !visitor || !isOpenSession()) return;
    if (on) {
      // At most one "typing" every 4 s, and "stopped" 5 s after the last key.
      if (Date.now() - typingSent > 4000) {
        typingSent = Date.now();
        call('POST', 'typing', { typing: true }).catch(() => {});
      }
      later('typing', 5000, () => typing(false));
    } else if (typingSent) {
      later('typing');
      typingSent = 0;
      call('POST', 'typing', { typing: false }).catch(() => {});
    }
  }

  // ---- attachments (WEB-22) ----
  clip.onclick = () => fileIn.click();
  fileIn.onchange = async () => {
    const f = fileIn.files && fileIn.files[0];
    fileIn.value = '';
    if (!f) return;
    if (!TYPES.includes(f.type)) return problem(L.bad_type);
    if (f.size > MAX) return problem(L.too_big);
    problem('');
    const text = input.value.trim();
    input.value = '';
    try {
      await ensureVisitor();
      const m = await json(await call('POST', 'uploads', f));
      await send(text, { media: [m], files: [f] });
    } catch (e) {
      const s = e && e.status;
      problem(s === 413 ? L.too_big : s === 415 ? L.bad_type : s === 429 ? L.slow : (e && e.message) || L.error);
    }
  };

  // Media is fetched with the token and shown through a blob URL: images inline, others as a link.
  function media(m) {
    const wrap = h('div', 'm', null, { 'data-testid': 'parley-media' });
    const name = m.filename || L.file;
    const image = /^image\/(png|jpeg|gif|bmp)$/;
    if (!m.id) {
      // A file an agent sent by link: shown from there.
      if (!httpUrl(m.url)) return h('div', 'm', '📎 ' + name);
      if (image.test(m.content_type)) {
        const img = h('img', '', null, { referrerpolicy: 'no-referrer', alt: name });
        img.onload = scroll;
        img.src = m.url;
        wrap.append(img);
      }
      else wrap.append(h('a', '', '📎 ' + name, { href: m.url, target: '_blank', rel: 'noopener noreferrer' }));
      return wrap;
    }
    call('GET', 'media/' + encodeURIComponent(m.id))
      .then((res) => { if (!res.ok) throw res; return res.blob(); })
      .then((blob) => {
        const url = URL.createObjectURL(blob);
        if (image.test(m.content_type || blob.type)) {
          const img = h('img', '', null, { alt: name });
          img.onload = scroll;
          img.src = url;
          wrap.append(img);
        } else {
          wrap.append(h('a', '', `📎 ${name} (${L.download})`, { href: url, download: name }));
        }
      })
      .catch(() => { wrap.textContent = '📎 ' + name; });
    return wrap;
  }

  // ---- entries ----
  const mineOf = (e) => e.author === 'customer' || (!e.author && e.direction === 'inbound');
  function addEntry(e, live) {
    if (!e || !e.id) return;
    const mine = mineOf(e);
    const old = entries[e.id];
    if (old) {
      // The same entry again replaces what is shown when its content changed (a file stored
      // later); a new status only updates the receipt.
      if (old.dataset.sig !== sig(e)) {
        const fresh = entryElement(e, mine);
        old.replaceWith(fresh);
        entries[e.id] = fresh;
        settleChoices();
      }
      return setReceipt(entries[e.id], e.status);
    }
    let el = null;
    if (mine) {
      // The echo of a message sent from this tab replaces the bubble shown while sending.
      const key = e.client_message_id in pending ? e.client_message_id
        : Object.keys(pending).find((k) => pending[k].dataset.text === (e.text || ''));
      if (key) {
        el = pending[key];
        delete pending[key];
      }
    }
    const fresh = entryElement(e, mine);
    if (el) el.remove();
    entries[e.id] = fresh;
    // Entry ids are UUID v7: their order is the conversation's order.
    let before = null;
    for (let n = log.lastChild; n; n = n.previousSibling) {
      if (n.dataset.pending) continue;
      if (!n.dataset.id || n.dataset.id < e.id) break;
      before = n;
    }
    log.insertBefore(fresh, before);
    if (e.id > lastId) lastId = e.id;
    if (visitor) trBtn.hidden = false;
    if (live) {
      settleChoices();
      // A session just started: the estimate is known once the server has queued it.
      if (mine && session && session.status === 'waiting' && !session.asked) {
        session.asked = true;
        backfill();
      }
      if (!mine) {
        agentTyping('');
        if (isOpen) markRead();
        else {
          badge.textContent = String(++unread);
          badge.setAttribute('aria-label', `${unread} ${L.unread}`);
          badge.hidden = false;
        }
      }
    }
    scroll();
  }

  const sig = (e) => JSON.stringify([e.text, e.media, e.component, e.author_name]);
  function entryElement(e, mine) {
    const sys = e.author === 'system';
    const el = h('div', mine ? 'e me' : sys ? 'e sys' : 'e', null, { 'data-testid': 'parley-message', 'data-id': e.id, 'data-author': e.author || (mine ? 'customer' : 'agent'), 'data-sig': sig(e) });
    if (!mine && !sys) el.append(h('div', 'who', e.author_name || titleEl.textContent));
    const c = e.component;
    const b = h('div', 'b');
    b.append(h('span', '', (c && c.text) || e.text || '', { 'data-testid': 'parley-text' }));
    for (const m of e.media || []) b.append(media(m));
    el.append(b);
    if (c) component(b, el, c);
    if (mine && settings().receipts) {
      el.append(h('div', 'st', '', { 'data-testid': 'parley-receipt' }));
      setReceipt(el, e.status);
    }
    return el;
  }

  function setReceipt(el, s) {
    const st = el.querySelector(':scope > .st');
    if (!st || !settings().receipts) return;
    st.textContent = s === 'read' ? L.read : /failed|undelivered/.test(s) ? L.failed : L.delivered;
    st.dataset.status = s || '';
  }

  function markRead() {
    if (!isOpen || !visitor || document.visibilityState === 'hidden' || !settings().receipts) return;
    const last = Object.keys(entries).filter((id) => entries[id].dataset.author !== 'customer').sort().pop();
    if (!last || last <= readUpTo) return;
    readUpTo = last;
    call('POST', 'read', { up_to: last }).catch(() => {});
  }
  document.addEventListener('visibilitychange', markRead);

  // ---- components (MC-02..07), rendered natively; a tap sends the option's id as `choice` ----
  const CAP = { buttons: 3, list: 10, quick_replies: 13, carousel: 10 };
  function component(b, el, c) {
    if (c.type === 'link') {
      if (!httpUrl(c.url)) return;
      const a = h('a', 'link', null, { href: c.url, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'parley-link' });
      if (httpUrl(c.image_url)) a.append(h('img', '', null, { referrerpolicy: 'no-referrer', alt: '', src: c.image_url }));
      a.append(h('span', '', c.title || c.url));
      return b.append(a);
    }
    const opts = c.type === 'time_slots' ? (c.slots || []).map((s) => ({ id: s.start, title: s.title })) : c.options || [];
    if (!opts.length) return;
    const f = (c.formats || []).find((x) => opts.length <= CAP[x]) || (opts.length <= 3 ? 'buttons' : 'list');
    const box = h('div', f === 'carousel' ? 'cards' : f === 'quick_replies' ? 'ch qr' : 'ch', null,
      { 'data-testid': 'parley-choices', 'data-format': f, role: 'group', 'aria-label': c.text || '' });
    for (const o of opts) {
      const btn = h('button', '', o.title, { type: 'button', 'data-choice': o.id });
      btn.onclick = () => choose(box, btn, o);
      if (f !== 'carousel') {
        if (o.description) btn.title = o.description;
        box.append(btn);
        continue;
      }
      const card = h('div', 'card');
      if (httpUrl(o.image_url)) card.append(h('img', '', null, { referrerpolicy: 'no-referrer', alt: '', src: o.image_url }));
      card.append(h('p', '', o.title));
      if (o.description) card.append(h('p', 'd', o.description));
      btn.textContent = '✓ ' + o.title;
      card.append(btn);
      box.append(card);
    }
    (f === 'quick_replies' ? el : b).append(box);
  }
  function choose(box, btn, o) {
    const all = box.querySelectorAll('button');
    all.forEach((x) => { x.disabled = true; });
    btn.setAttribute('aria-pressed', 'true');
    send(o.title, { choice: o.id }).catch(() => {
      all.forEach((x) => { x.disabled = false; });
      btn.removeAttribute('aria-pressed');
    });
    input.focus();
  }
  // A question the customer already spoke after is settled; quick replies belong to the latest message only.
  function settleChoices() {
    let spoke = false;
    for (let n = log.lastChild; n; n = n.previousSibling) {
      for (const box of n.querySelectorAll('[data-testid=parley-choices]')) {
        if (box.dataset.format === 'quick_replies' && n.nextSibling) box.hidden = true;
        if (spoke) box.querySelectorAll('button').forEach((x) => { x.disabled = true; });
      }
      if (n.dataset.author === 'customer') spoke = true;
    }
  }

  // ---- the live stream: fetch streaming keeps the token in a header; Last-Event-ID resumes ----
  async function connect() {
    if (stream || !visitor) return;
    const ctl = (stream = new AbortController());
    later('retry');
    const headers = { Authorization: 'Bearer ' + visitor.token, Accept: 'text/event-stream' };
    if (lastId) headers['Last-Event-ID'] = lastId;
    // Keep-alive comments arrive well within a minute: silence means a dead connection.
    const alive = () => later('watchdog', 60000, () => ctl.abort());
    try {
      const res = await fetch(BASE + 'events', { headers, signal: ctl.signal, credentials: 'omit', cache: 'no-store' });
      if (res.status === 401) return expired();
      if (res.status === 403) {
        cfg = null;
        failed = 'unavailable';
        return render();
      }
      if (!res.ok || !res.body) throw { retryAfter: Number(res.headers.get('Retry-After')) || 0 };
      failures = 0;
      online(true);
      alive();
      if (!lastId) backfill();
      const reader = res.body.getReader(), dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        alive();
        buf += dec.decode(r.value, { stream: true });
        let m;
        while ((m = /\r\n\r\n|\n\n|\r\r/.exec(buf))) {
          dispatch(buf.slice(0, m.index));
          buf = buf.slice(m.index + m[0].length);
        }
      }
      throw {};
    } catch (e) {
      later('watchdog');
      if (stream !== ctl) return; // stopped on purpose
      stream = null;
      failures++;
      online(false);
      // Exponential backoff with jitter, up to 30 s, never sooner than the server asked.
      const wait = Math.max(((e && e.retryAfter) || 0) * 1000, Math.min(30000, 1000 * 2 ** Math.min(failures - 1, 5)));
      later('retry', wait * (0.8 + Math.random() * 0.4), connect);
    }
  }
  // A stream that opened before anything was seen (a first message racing the stream) catches
  // up from the conversation; what arrives both ways is shown once.
  function backfill() {
    call('GET', 'conversation').then(json).then((c) => {
      for (const e of c.entries || []) addEntry(e, true);
      if (c.session) session = Object.assign({}, session, c.session, { asked: true });
      setWait(c.estimated_wait_minutes);
      render();
    }).catch(() => {});
  }
  function stopStream() {
    later('retry');
    const c = stream;
    stream = null;
    if (c) c.abort();
  }
  function online(ok) {
    // A first failure reads as a hiccup; after three it is an outage, with a way to retry now.
    const down = failures >= 3;
    connText.textContent = down ? L.unreachable : L.reconnecting;
    connBtn.textContent = L.retry;
    connBtn.hidden = !down;
    conn.hidden = ok;
  }
  connBtn.onclick = () => {
    failures = 2;
    online(false);
    connect();
  };

  function dispatch(block) {
    let type = 'message';
    const data = [];
    for (const line of block.split(/\r\n|\r|\n/)) {
      const i = line.indexOf(':');
      if (i === 0) continue; // a comment: keep-alive
      const k = i < 0 ? line : line.slice(0, i), v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (k === 'event') type = v;
      else if (k === 'data') data.push(v);
    }
    let d;
    try { d = JSON.parse(data.join('\n')); } catch (_) { return; }
    if (type === 'entry') addEntry(d, true);
    else if (type === 'status') entries[d.entry_id] && setReceipt(entries[d.entry_id], d.status);
    else if (type === 'typing') agentTyping(d.typing ? d.author_name || L.someone : '');
    else if (type === 'wait') setWait(d.estimated_wait_minutes);
    else if (type === 'session') {
      session = Object.assign({}, session, d);
      render();
    }
  }

  function agentTyping(name) {
    typingEl.textContent = name && settings().typing ? fmt(L.typing, { name }) : '';
    later('agentTyping', 15000, name && (() => { typingEl.textContent = ''; }));
  }

  // ---- header, keyboard ----
  launcher.onclick = () => (isOpen ? close() : open());
  xBtn.onclick = close;
  win.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    if (!emo.hidden) return toggleEmoji(false), emoBtn.focus();
    if (!confirmEl.hidden) return (confirmEl.hidden = true), endBtn.focus();
    close();
  });
  endBtn.onclick = () => {
    confirmEl.hidden = false;
    $('.no').focus();
  };
  $('.no').onclick = () => {
    confirmEl.hidden = true;
    endBtn.focus();
  };
  $('.yes').onclick = async () => {
    confirmEl.hidden = true;
    try {
      const res = await call('POST', 'end', {});
      if (!res.ok && res.status !== 409) throw res;
      typing(false);
      session = Object.assign({}, session, { status: 'ended' });
      prechatDone = false;
      render();
      newBtn.focus();
    } catch (_) {
      problem(L.error);
    }
  };
  newBtn.onclick = () => {
    // SE-13: the next message opens a new session in the same conversation, pre-chat asked again.
    session = null;
    prechatDone = false;
    pre.replaceChildren();
    render();
    (pre.hidden ? input : pre.querySelector('input,textarea')).focus();
  };
  trBtn.onclick = async () => {
    try {
      const res = await call('GET', 'transcript');
      if (!res.ok) throw res;
      const a = h('a', '', null, { href: URL.createObjectURL(await res.blob()), download: `chat-${NAME}.txt` });
      shadow.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (_) {
      problem(L.error);
    }
  };
  emoBtn.onclick = () => toggleEmoji(emo.hidden);
  function toggleEmoji(on) {
    emo.hidden = !on;
    emoBtn.setAttribute('aria-expanded', String(on));
    if (on) emo.firstChild.focus();
  }
  function insert(text) {
    const s = input.selectionStart, e = input.selectionEnd;
    input.setRangeText(text, s, e, 'end');
    input.focus();
  }
  function scroll() {
    body.scrollTop = body.scrollHeight;
  }

  // ---- identity (WEB-16..20) ----
  function userOf(jwt) {
    try {
      const c = JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
      return c.iss + '|' + c.sub;
    } catch (_) {
      return '';
    }
  }
  async function setIdentityToken(jwt) {
    await ready;
    if (!cfg) return { ok: false, code: failed };
    jwt = String(jwt || '');
    const user = userOf(jwt);
    // Host pages set the token on every page load: the same user keeps their widget token.
    if (visitor && visitor.verified && user && visitor.sub === user) return { ok: true };
    const res = await fetch(BASE + DEP + 'visitors', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ identity_token: jwt }),
      credentials: 'omit',
    });
    if (!res.ok) {
      const e = await errorOf(res);
      verifyFailed = true;
      render();
      return { ok: false, status: e.status, code: e.code, message: e.message };
    }
    const v = await res.json();
    verifyFailed = false;
    if (visitor && !visitor.verified) call('POST', 'logout').catch(() => {});
    stopStream();
    clearLog();
    saveVisitor({ token: v.visitor_token, expires_at: v.expires_at, verified: true, visitor_id: v.visitor_id, sub: user });
    session = null;
    prechatDone = false;
    await resume();
    return { ok: true };
  }
  async function logout() {
    await ready;
    stopStream();
    // WEB-20: the server revokes the token; the browser forgets it.
    if (visitor) await call('POST', 'logout').catch(() => {});
    forgetVisitor();
    session = null;
    prechatDone = false;
    clearLog();
    render();
  }

  // ---- host API ----
  const api = {
    __widget: true,
    open,
    close,
    setHiddenFields(o) {
      for (const k in o || {}) hiddenValues[k] = o[k] == null ? '' : String(o[k]);
    },
    setIdentityToken,
    logout,
  };
  window.Parley = api;
  if (document.body) document.body.append(hostEl);
  else document.addEventListener('DOMContentLoaded', () => document.body.append(hostEl));
  const ready = init();
  for (const c of (prior && prior.q) || []) {
    if (Array.isArray(c) && typeof api[c[0]] === 'function') api[c[0]](...c.slice(1));
  }
  window.dispatchEvent(new CustomEvent('parley:ready'));
})();
