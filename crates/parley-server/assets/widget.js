/* Parley web chat widget: one script tag, no dependencies, no build step.
 *   <script src="https://parley.example/widget.js" data-deployment="shop" data-language="en" async></script>
 * Everything renders inside a shadow root so the host page's CSS cannot reach it, and every text
 * that comes from a person (customer, agent, bot) is set with textContent, never parsed as HTML.
 * Host API (calls made before this file loads are queued, see README "Web chat widget"):
 *   Parley.open() close() setHiddenFields(obj) setIdentityToken(jwt) logout()
 * Storage: localStorage `parley.<deployment>.visitor` (the visitor token and its expiry). No cookies. */
(function () {
  'use strict';
  var host0 = window.Parley;
  if (host0 && host0.__widget) return;
  var me = document.currentScript || document.querySelector('script[src*="widget.js"][data-deployment]');
  if (!me) return;
  var DEPLOYMENT = me.getAttribute('data-deployment') || '';
  var LANGUAGE = (me.getAttribute('data-language') || '').toLowerCase();
  var BASE = new URL('./', me.src).href + 'widget/v1/';
  var STORE_KEY = 'parley.' + DEPLOYMENT + '.visitor';
  var MAX_UPLOAD = 5 * 1024 * 1024;
  // WEB-22: what may be attached, both ways. TIFF is sent and received but not shown inline.
  var TYPES = ['application/pdf', 'image/png', 'image/jpeg', 'image/bmp', 'image/gif', 'image/tiff'];
  var INLINE = /^image\/(png|jpeg|gif|bmp)$/;
  var EMOJI = ['😀', '😂', '😊', '😍', '🙂', '😢', '😮', '🤔', '👍', '👎', '🙏', '👋', '🎉', '❤️', '✅', '❌'];

  var TEXT = {
    en: {
      open: 'Open chat', close: 'Close chat', message: 'Message', placeholder: 'Type a message…',
      send: 'Send', attach: 'Attach a file', emoji: 'Insert an emoji', start: 'Start chat',
      intro: 'Tell us a little about you and we will be right with you.', first: 'How can we help?',
      required: 'required', need: 'This field is required.', bad_email: 'Enter a valid e-mail address.',
      bad_phone: 'Enter a valid phone number.', bad_number: 'Enter a number.',
      first_name: 'First name', last_name: 'Last name', email: 'E-mail', subject: 'Subject',
      end: 'End chat', end_q: 'End this chat?', cancel: 'Cancel', transcript: 'Download transcript',
      ended: 'This chat has ended.', new_chat: 'Start a new chat', waiting: 'Waiting for an agent',
      wait_1: 'Estimated wait: about 1 minute', wait_n: 'Estimated wait: about {n} minutes',
      with: 'Chatting with {name}', typing: '{name} is typing…', someone: 'Someone',
      reconnecting: 'Reconnecting…', offline: 'Can’t reach the server. Check your connection.',
      retry: 'Retry', unavailable: 'Chat is not available on this website.',
      closed: 'We are closed right now. Leave a message and we will answer when we are back.',
      sign_in: 'Please sign in to chat with us.', not_verified: 'We could not verify your sign-in.',
      sending: 'Sending…', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Not sent.',
      too_big: 'Files must be 5 MB or less.', bad_type: 'Attach a PDF or an image (PNG, JPEG, BMP, GIF, TIFF).',
      download: 'Download', you: 'You', slow: 'Too many messages: try again in a moment.',
      error: 'Something went wrong. Try again.', messages: 'Messages', file: 'File', unread: 'unread',
    },
    fr: {
      open: 'Ouvrir le chat', close: 'Fermer le chat', message: 'Message', placeholder: 'Écrivez un message…',
      send: 'Envoyer', attach: 'Joindre un fichier', emoji: 'Insérer un emoji', start: 'Démarrer le chat',
      intro: 'Présentez-vous en quelques mots et nous arrivons.', first: 'Comment pouvons-nous vous aider ?',
      required: 'obligatoire', need: 'Ce champ est obligatoire.', bad_email: 'Saisissez une adresse e-mail valide.',
      bad_phone: 'Saisissez un numéro de téléphone valide.', bad_number: 'Saisissez un nombre.',
      first_name: 'Prénom', last_name: 'Nom', email: 'E-mail', subject: 'Objet',
      end: 'Terminer le chat', end_q: 'Terminer ce chat ?', cancel: 'Annuler', transcript: 'Télécharger la transcription',
      ended: 'Ce chat est terminé.', new_chat: 'Nouveau chat', waiting: 'En attente d’un agent',
      wait_1: 'Attente estimée : environ 1 minute', wait_n: 'Attente estimée : environ {n} minutes',
      with: 'En conversation avec {name}', typing: '{name} écrit…', someone: 'Quelqu’un',
      reconnecting: 'Reconnexion…', offline: 'Impossible de joindre le serveur. Vérifiez votre connexion.',
      retry: 'Réessayer', unavailable: 'Le chat n’est pas disponible sur ce site.',
      closed: 'Nous sommes fermés. Laissez un message, nous répondrons à notre retour.',
      sign_in: 'Connectez-vous pour discuter avec nous.', not_verified: 'Votre connexion n’a pas pu être vérifiée.',
      sending: 'Envoi…', sent: 'Envoyé', delivered: 'Distribué', read: 'Lu', failed: 'Non envoyé.',
      too_big: 'Les fichiers doivent faire 5 Mo au plus.', bad_type: 'Joignez un PDF ou une image (PNG, JPEG, BMP, GIF, TIFF).',
      download: 'Télécharger', you: 'Vous', slow: 'Trop de messages : réessayez dans un instant.',
      error: 'Une erreur est survenue. Réessayez.', messages: 'Messages', file: 'Fichier', unread: 'non lus',
    },
  };

  var CSS = ':host{all:initial}.root{--accent:#2456d6;--on:#fff;--accent2:#2456d6}' +
    '*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;line-height:1.4}' +
    '[hidden]{display:none!important}' +
    '.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;background:var(--accent);color:var(--on);box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}' +
    '.launcher svg{width:28px;height:28px;fill:currentColor}' +
    '.launcher[data-state=unavailable]{opacity:.6}' +
    '.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;background:#c62828;color:#fff;font-size:12px;padding:0 5px;display:flex;align-items:center;justify-content:center}' +
    'button:focus-visible,input:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}' +
    '.win{position:fixed;right:20px;bottom:88px;z-index:2147483000;width:370px;height:min(600px,calc(100vh - 108px));background:#fff;color:#1d1d1f;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden}' +
    'header{background:var(--accent);color:var(--on);padding:12px 14px;display:flex;align-items:center;gap:10px}' +
    'header img{width:40px;height:40px;border-radius:50%;object-fit:cover;background:rgba(255,255,255,.3)}' +
    '.ht{flex:1;min-width:0}h2{margin:0;font-size:16px;font-weight:600}.sub{margin:0;font-size:12px;opacity:.9}' +
    'header button{background:transparent;border:0;color:inherit;cursor:pointer;padding:6px;border-radius:6px;font-size:13px}' +
    'header button:hover{background:rgba(255,255,255,.18)}.x{font-size:22px!important;line-height:1}' +
    '.note{margin:0;padding:8px 14px;font-size:13px;background:#fff8e1;color:#5d4200;border-bottom:1px solid #f0e0a0}' +
    '.note button{margin-left:8px}.conn{background:#fdecea;color:#7a1010}' +
    '.body{flex:1;overflow-y:auto;padding:14px;background:#f6f7f9}' +
    '.log{display:flex;flex-direction:column;gap:8px}' +
    '.e{display:flex;flex-direction:column;align-items:flex-start;max-width:85%}' +
    '.e.me{align-self:flex-end;align-items:flex-end}.e.sys{align-self:center;align-items:center;max-width:95%}' +
    '.who{font-size:11px;color:#666;margin:0 4px 2px}' +
    '.b{background:#fff;border:1px solid #e3e5e8;border-radius:14px;padding:8px 12px;white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere;max-width:100%}' +
    '.me .b{background:var(--accent);color:var(--on);border-color:transparent}' +
    '.sys .b{background:transparent;border:0;color:#555;font-size:12px;text-align:center}' +
    '.st{font-size:11px;color:#777;margin:2px 4px}.st button{font-size:11px;padding:0 4px}' +
    '.b img{display:block;max-width:220px;max-height:220px;border-radius:8px;margin-top:4px}' +
    '.b a{color:inherit}' +
    '.ch{display:flex;flex-direction:column;gap:6px;margin-top:6px;width:100%}.ch.qr{flex-direction:row;flex-wrap:wrap}' +
    '.ch button,.card button{background:#fff;color:var(--accent2);border:1px solid var(--accent2);border-radius:16px;padding:6px 12px;cursor:pointer;text-align:left}' +
    '.ch button[aria-pressed=true]{background:var(--accent2);color:#fff}.ch button:disabled{cursor:default;opacity:.6}' +
    '.cards{display:flex;gap:8px;overflow-x:auto;margin-top:6px;max-width:100%}' +
    '.card{flex:0 0 180px;background:#fff;border:1px solid #e3e5e8;border-radius:10px;padding:8px}.card img{width:100%;border-radius:6px}' +
    '.card p{margin:4px 0}.card .d{font-size:12px;color:#666}' +
    '.link{display:block;margin-top:6px;background:#fff;color:#1d1d1f;border:1px solid #e3e5e8;border-radius:10px;padding:8px;text-decoration:none}' +
    '.link img{max-width:100%;border-radius:6px}.link strong{display:block;color:var(--accent2)}' +
    '.typing{min-height:18px;padding:2px 14px;font-size:12px;color:#555;font-style:italic;background:#f6f7f9}' +
    'form.pre{display:flex;flex-direction:column;gap:10px}.pre p{margin:0}' +
    '.f label{display:block;font-weight:600;margin-bottom:3px}.f.cb label{display:flex;gap:8px;align-items:center;font-weight:400}' +
    '.req{color:#b00020;margin-left:2px}' +
    '.f input:not([type=checkbox]),.f textarea{width:100%;padding:8px;border:1px solid #b9bec5;border-radius:8px;background:#fff;color:#1d1d1f}' +
    '.f [aria-invalid=true]{border-color:#b00020}.err{color:#b00020;font-size:12px;margin:3px 0 0}' +
    '.primary{background:var(--accent);color:var(--on);border:0;border-radius:8px;padding:10px;font-weight:600;cursor:pointer}' +
    '.confirm{padding:10px 14px;background:#fff;border-top:1px solid #e3e5e8;display:flex;gap:8px;align-items:center}' +
    '.confirm span{flex:1}.confirm button,.note button,.st button{background:#fff;border:1px solid #999;border-radius:6px;padding:4px 10px;cursor:pointer;color:#1d1d1f}' +
    '.confirm .danger{background:#b00020;color:#fff;border-color:#b00020}' +
    '.comp{display:flex;align-items:flex-end;gap:6px;padding:8px;border-top:1px solid #e3e5e8;background:#fff;position:relative}' +
    '.comp textarea{flex:1;resize:none;border:1px solid #b9bec5;border-radius:8px;padding:8px;max-height:120px;min-height:38px;color:#1d1d1f;background:#fff}' +
    '.ic{background:transparent;border:0;cursor:pointer;width:36px;height:38px;border-radius:8px;color:#555;font-size:18px;display:flex;align-items:center;justify-content:center}' +
    '.ic svg{width:20px;height:20px;fill:currentColor}.ic.send{color:var(--accent2)}.ic:hover{background:#eef0f3}' +
    '.emo{position:absolute;bottom:52px;right:8px;background:#fff;border:1px solid #ccc;border-radius:10px;padding:6px;display:grid;grid-template-columns:repeat(8,32px);gap:2px;box-shadow:0 4px 14px rgba(0,0,0,.15)}' +
    '.emo button{border:0;background:transparent;font-size:20px;cursor:pointer;border-radius:6px;height:32px}.emo button:hover{background:#eef0f3}' +
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}' +
    '@media (max-width:480px){.win{inset:0;width:100%;height:100%;border-radius:0}.open .launcher{display:none}}' +
    '@media (prefers-reduced-motion:no-preference){.win{transition:opacity .15s}}';

  var ICON_CHAT = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z"/></svg>';
  var ICON_CLIP = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z"/></svg>';
  var ICON_SEND = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M2 21l21-9L2 3v7l15 2-15 2z"/></svg>';
  // Constant markup only: nothing dynamic is ever put into innerHTML.
  var SKELETON =
    '<div class="root" data-testid="parley-widget">' +
    '<button type="button" class="launcher" data-testid="parley-launcher" aria-expanded="false" aria-controls="pw-win">' + ICON_CHAT + '<span class="badge" hidden></span></button>' +
    '<div class="win" id="pw-win" role="dialog" aria-modal="false" aria-labelledby="pw-title" hidden>' +
    '<header><img class="av" alt="" hidden><div class="ht"><h2 id="pw-title"></h2><p class="sub" data-testid="parley-status"></p></div>' +
    '<button type="button" class="tr" data-testid="parley-transcript" hidden></button>' +
    '<button type="button" class="end" data-testid="parley-end" hidden></button>' +
    '<button type="button" class="x" data-testid="parley-close">×</button></header>' +
    '<p class="note conn" role="status" data-testid="parley-connection" hidden><span></span><button type="button" hidden></button></p>' +
    '<p class="note info" role="status" data-testid="parley-notice" hidden></p>' +
    '<p class="note oops" role="alert" data-testid="parley-error" hidden></p>' +
    '<p class="note wait" role="status" data-testid="parley-wait" hidden></p>' +
    '<div class="body"><form class="pre" data-testid="parley-prechat" novalidate hidden></form>' +
    '<div class="log" role="log" aria-live="polite" aria-relevant="additions" data-testid="parley-log"></div>' +
    '<p class="ended" hidden><button type="button" class="primary newc" data-testid="parley-new-chat"></button></p></div>' +
    '<div class="typing" aria-live="polite" data-testid="parley-typing"></div>' +
    '<div class="confirm" data-testid="parley-confirm" hidden><span></span><button type="button" class="danger yes"></button><button type="button" class="no"></button></div>' +
    '<form class="comp" data-testid="parley-composer"><input type="file" class="file" hidden>' +
    '<button type="button" class="ic clip" data-testid="parley-attach">' + ICON_CLIP + '</button>' +
    '<textarea rows="1" data-testid="parley-input"></textarea>' +
    '<button type="button" class="ic emob" aria-haspopup="true" aria-expanded="false" hidden>🙂</button>' +
    '<div class="emo" role="group" hidden></div>' +
    '<button type="submit" class="ic send" data-testid="parley-send">' + ICON_SEND + '</button></form>' +
    '</div></div>';

  // ---- state ----
  var L = TEXT.en;
  var cfg = null;           // the deployment's config, once loaded
  var failed = null;        // why the widget cannot load (a label key)
  var visitor = null;       // { token, expires_at, verified, visitor_id, sub }
  var hidden = {};          // hidden pre-chat fields from the host page
  var session = null;       // { id, status, agent_name }
  var prechatDone = false;
  var entries = {};         // entry id -> element (dedupe: an entry is shown once)
  var lastId = '';          // the highest entry id seen: where the stream resumes
  var pending = {};         // client_message_id -> element of a message not yet echoed
  var isOpen = false, wantOpen = false, loaded = false, unread = 0, verifyFailed = false;
  var streamCtl = null, backoff = 0, retryTimer = null, failures = 0;
  var typingSent = 0, typingStop = null, agentTypingTimer = null;
  var readUpTo = '';
  var ready = null, oopsTimer = null;

  // ---- DOM ----
  var hostEl = document.createElement('div');
  hostEl.setAttribute('data-parley-deployment', DEPLOYMENT);
  var shadow = hostEl.attachShadow({ mode: 'open' });
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet]; // not subject to a host page's style-src policy
  } catch (_) {
    var st = document.createElement('style');
    st.textContent = CSS;
    shadow.appendChild(st);
  }
  var tpl = document.createElement('template');
  tpl.innerHTML = SKELETON;
  shadow.appendChild(tpl.content);
  var $ = function (s) { return shadow.querySelector(s); };
  var root = $('.root'), launcher = $('.launcher'), badge = $('.badge'), win = $('.win');
  var titleEl = $('#pw-title'), subEl = $('.sub'), av = $('.av');
  var trBtn = $('.tr'), endBtn = $('.end'), xBtn = $('.x');
  var conn = $('.conn'), connText = $('.conn span'), connBtn = $('.conn button');
  var info = $('.info'), oops = $('.oops'), waitEl = $('.wait');
  var body = $('.body'), pre = $('.pre'), log = $('.log'), endedP = $('.ended'), newBtn = $('.newc');
  var typingEl = $('.typing'), confirmEl = $('.confirm');
  var comp = $('.comp'), input = $('.comp textarea'), fileIn = $('.file'), clip = $('.clip');
  var emoBtn = $('.emob'), emo = $('.emo'), sendBtn = $('.send');

  function h(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = String(text);
    return el;
  }
  function fmt(s, vars) {
    return s.replace(/\{(\w+)\}/g, function (_, k) { return vars[k] == null ? '' : String(vars[k]); });
  }
  function httpUrl(u) { return typeof u === 'string' && /^https?:\/\/[^\s/]/i.test(u); }
  function uuid() {
    if (window.crypto && crypto.randomUUID && window.isSecureContext) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var x = Array.prototype.map.call(b, function (v) { return (v + 256).toString(16).slice(1); }).join('');
    return x.slice(0, 8) + '-' + x.slice(8, 12) + '-' + x.slice(12, 16) + '-' + x.slice(16, 20) + '-' + x.slice(20);
  }

  // ---- storage (WEB-23: the only thing kept in the browser) ----
  var memory = null;
  function loadVisitor() {
    var v = memory;
    try { v = JSON.parse(localStorage.getItem(STORE_KEY) || 'null'); } catch (_) { /* storage blocked */ }
    if (v && v.token && (!v.expires_at || Date.parse(v.expires_at) > Date.now())) return v;
    forgetVisitor();
    return null;
  }
  function saveVisitor(v) {
    visitor = memory = v;
    try { localStorage.setItem(STORE_KEY, JSON.stringify(v)); } catch (_) { /* memory only */ }
  }
  function forgetVisitor() {
    visitor = memory = null;
    try { localStorage.removeItem(STORE_KEY); } catch (_) { /* nothing stored */ }
  }

  // ---- HTTP ----
  function call(method, path, payload) {
    var headers = {};
    if (visitor) headers.Authorization = 'Bearer ' + visitor.token;
    var data;
    if (payload instanceof Blob) {
      data = payload;
      headers['Content-Type'] = payload.type;
    } else if (payload !== undefined) {
      data = JSON.stringify(payload);
      headers['Content-Type'] = 'application/json';
    }
    return fetch(BASE + path, { method: method, headers: headers, body: data, credentials: 'omit', cache: 'no-store' })
      .then(function (res) {
        if (res.status === 401 && visitor && path !== 'logout') expired();
        return res;
      });
  }
  function errorOf(res) {
    return res.json().catch(function () { return {}; }).then(function (b) {
      return { status: res.status, code: b.code || '', message: b.message || '', fields: b.fields || b.errors || null };
    });
  }
  function json(res) {
    if (res.ok) return res.json();
    return errorOf(res).then(function (e) { throw e; });
  }

  // ---- lifecycle ----
  function init() {
    return fetch(BASE + 'deployments/' + encodeURIComponent(DEPLOYMENT) + '/config', { credentials: 'omit', cache: 'no-store' })
      .then(json)
      .then(function (c) {
        cfg = c;
        var lang = LANGUAGE || c.language || 'en';
        L = Object.assign({}, TEXT[lang] || TEXT.en, c.labels || {});
        brand();
        visitor = loadVisitor();
        if (visitor) return resume();
        render();
      })
      .catch(function (e) {
        failed = e && (e.status === 403 || e.status === 404) ? 'unavailable' : 'offline';
        launcher.setAttribute('data-state', 'unavailable');
        render();
      })
      .then(function () {
        loaded = true;
        if (wantOpen) open();
      });
  }

  function brand() {
    var b = cfg.branding || {};
    var color = /^#[0-9a-f]{6}$/i.test(b.color || '') ? b.color : '#2456d6';
    var n = parseInt(color.slice(1), 16);
    var lum = 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
    root.style.setProperty('--accent', color);
    root.style.setProperty('--on', lum > 160 ? '#111' : '#fff');
    // Links and choice buttons on white need contrast: a light brand color falls back to dark text.
    root.style.setProperty('--accent2', lum > 160 ? '#1d1d1f' : color);
    titleEl.textContent = b.title || 'Chat';
    if (httpUrl(b.avatar_url)) {
      av.referrerPolicy = 'no-referrer';
      av.src = b.avatar_url;
      av.hidden = false;
    }
    var s = cfg.settings || {};
    emoBtn.hidden = !s.emoji;
    launcher.setAttribute('aria-label', L.open + ': ' + (b.title || 'Chat'));
    xBtn.setAttribute('aria-label', L.close);
    trBtn.textContent = L.transcript;
    endBtn.textContent = L.end;
    newBtn.textContent = L.new_chat;
    clip.setAttribute('aria-label', L.attach);
    clip.title = L.attach;
    emoBtn.setAttribute('aria-label', L.emoji);
    sendBtn.setAttribute('aria-label', L.send);
    input.setAttribute('aria-label', L.message);
    input.placeholder = L.placeholder;
    log.setAttribute('aria-label', L.messages);
    fileIn.accept = TYPES.join(',');
    confirmEl.querySelector('span').textContent = L.end_q;
    confirmEl.querySelector('.yes').textContent = L.end;
    confirmEl.querySelector('.no').textContent = L.cancel;
    EMOJI.forEach(function (e) {
      var b2 = h('button', '', e);
      b2.type = 'button';
      b2.setAttribute('aria-label', e);
      b2.addEventListener('click', function () { insert(e); toggleEmoji(false); });
      emo.appendChild(b2);
    });
  }

  // Loads the conversation and opens the live stream; the stream is opened first so that nothing
  // said in between is missed (entries are deduplicated by id).
  function resume() {
    connect();
    return call('GET', 'conversation').then(json).then(function (c) {
      session = c.session || null;
      prechatDone = !!c.prechat_done;
      if (c.business_hours) cfg.business_hours = c.business_hours;
      (c.entries || []).forEach(function (e) { addEntry(e, false); });
      setWait(c.estimated_wait_minutes);
      settleChoices();
      render();
    }).catch(function (e) {
      if (e && e.status) problem(L.error);
      render();
    });
  }

  function expired() {
    // The token was revoked or ran out (6 h for anonymous visitors): start over as someone new.
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
    while (log.firstChild) log.removeChild(log.firstChild);
  }

  function ensureVisitor() {
    if (visitor) return Promise.resolve(visitor);
    if (cfg.verification_required) return Promise.reject({ code: 'verification_required' });
    return call('POST', 'deployments/' + encodeURIComponent(DEPLOYMENT) + '/visitors', {}).then(json).then(function (v) {
      saveVisitor({ token: v.visitor_token, expires_at: v.expires_at, verified: !!v.verified, visitor_id: v.visitor_id });
      connect();
      return visitor;
    });
  }

  // ---- rendering of the window's state ----
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
    var first = !pre.hidden && pre.querySelector('input,textarea');
    (first || (!input.disabled && input) || xBtn).focus();
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

  function openSession() { return session && session.status !== 'ended' && session.status !== 'error'; }

  function render() {
    if (failed) {
      titleEl.textContent = titleEl.textContent || 'Chat';
      if (!launcher.getAttribute('aria-label')) launcher.setAttribute('aria-label', (TEXT[LANGUAGE] || L).open);
      xBtn.setAttribute('aria-label', L.close);
      launcher.setAttribute('data-state', 'unavailable');
      note(L[failed]);
      stopStream();
      pre.hidden = comp.hidden = endBtn.hidden = trBtn.hidden = true;
      return;
    }
    if (!cfg) return;
    var bh = cfg.business_hours || { open: true };
    var needSignIn = cfg.verification_required && !(visitor && visitor.verified);
    var ended = session && !openSession();
    var showPre = !!(!needSignIn && cfg.prechat && cfg.prechat.enabled && visibleFields().length &&
      !openSession() && !prechatDone && !ended);
    if (showPre && !pre.firstChild) buildPrechat();
    pre.hidden = !showPre;
    log.hidden = showPre;
    endedP.hidden = !ended;
    comp.hidden = showPre || needSignIn || !!ended;
    endBtn.hidden = !openSession();
    trBtn.hidden = !visitor || !Object.keys(entries).length;
    if (needSignIn) note(verifyFailed ? L.not_verified : L.sign_in);
    else if (!bh.open) note(bh.message || L.closed);
    else note('');
    if (ended) subEl.textContent = L.ended;
    else if (session && session.agent_name && session.status === 'active') subEl.textContent = fmt(L.with, { name: session.agent_name });
    else if (session && (session.status === 'waiting' || session.status === 'new')) subEl.textContent = L.waiting;
    else subEl.textContent = '';
    if (!(session && session.status === 'waiting')) waitEl.hidden = true;
    greet();
  }

  function greet() {
    var g = cfg.branding && cfg.branding.greeting;
    var el = log.querySelector('.greet');
    if (!g || el) return;
    el = h('div', 'e greet');
    el.appendChild(h('div', 'b', g));
    log.insertBefore(el, log.firstChild);
  }

  function note(text) {
    info.textContent = text || '';
    info.hidden = !text;
  }
  // A passing problem (a refused file, a failed call): announced, then gone.
  function problem(text) {
    clearTimeout(oopsTimer);
    oops.textContent = text || '';
    oops.hidden = !text;
    if (text) oopsTimer = setTimeout(function () { oops.hidden = true; }, 10000);
  }

  function setWait(n) {
    if (typeof n !== 'number' || !(n > 0)) { waitEl.hidden = true; return; }
    n = Math.max(1, Math.ceil(n)); // RT-10: under a minute reads as one minute
    waitEl.textContent = n === 1 ? L.wait_1 : fmt(L.wait_n, { n: n });
    waitEl.hidden = !!(session && session.status === 'active');
  }

  // ---- pre-chat (WEB-11) ----
  function visibleFields() {
    return ((cfg.prechat && cfg.prechat.fields) || []).filter(function (f) { return !f.hidden; });
  }
  function hiddenNames() {
    return ((cfg.prechat && cfg.prechat.fields) || []).filter(function (f) { return f.hidden; }).map(function (f) { return f.name; });
  }
  var KIND = { email: 'email', phone: 'tel', tel: 'tel', number: 'number', checkbox: 'checkbox' };
  var AUTO = { first_name: 'given-name', last_name: 'family-name', email: 'email', phone: 'tel' };

  function field(name, label, type, required) {
    var wrap = h('div', 'f' + (type === 'checkbox' ? ' cb' : ''));
    wrap.setAttribute('data-field', name);
    var id = 'pw-f-' + name;
    var el = type === 'textarea' ? h('textarea') : h('input');
    if (type === 'textarea') el.rows = 3; else el.type = type;
    el.id = id;
    el.name = name;
    if (AUTO[name]) el.autocomplete = AUTO[name];
    if (type === 'number') el.inputMode = 'decimal';
    if (required) { el.required = true; el.setAttribute('aria-required', 'true'); }
    var lab = h('label');
    lab.htmlFor = id;
    var text = h('span', '', label);
    var mark = required ? h('span', 'req', '*') : null;
    if (mark) { mark.setAttribute('aria-hidden', 'true'); }
    var sr = required ? h('span', 'sr', ' (' + L.required + ')') : null;
    if (type === 'checkbox') lab.appendChild(el);
    lab.appendChild(text);
    if (mark) lab.appendChild(mark);
    if (sr) lab.appendChild(sr);
    wrap.appendChild(lab);
    if (type !== 'checkbox') wrap.appendChild(el);
    var err = h('p', 'err');
    err.id = id + '-err';
    err.hidden = true;
    wrap.appendChild(err);
    el.setAttribute('aria-describedby', err.id);
    return wrap;
  }

  function buildPrechat() {
    pre.appendChild(h('p', '', L.intro));
    visibleFields().forEach(function (f) {
      var kind = String(f.kind || 'text').toLowerCase();
      pre.appendChild(field(f.name, f.label || L[f.name] || f.name, KIND[kind] || 'text', !!f.required));
    });
    pre.appendChild(field('__message', L.first, 'textarea', true));
    var general = h('p', 'err');
    general.setAttribute('data-testid', 'parley-prechat-error');
    general.hidden = true;
    pre.appendChild(general);
    var go = h('button', 'primary', L.start);
    go.type = 'submit';
    go.setAttribute('data-testid', 'parley-start');
    pre.appendChild(go);
  }

  function fieldError(name, message) {
    var wrap = pre.querySelector('[data-field="' + name + '"]');
    if (!wrap) return false;
    var el = wrap.querySelector('input,textarea'), err = wrap.querySelector('.err');
    err.textContent = message || '';
    err.hidden = !message;
    if (message) el.setAttribute('aria-invalid', 'true'); else el.removeAttribute('aria-invalid');
    return true;
  }

  function readPrechat() {
    var values = {}, bad = null;
    pre.querySelectorAll('.f').forEach(function (wrap) {
      var name = wrap.getAttribute('data-field');
      var el = wrap.querySelector('input,textarea');
      var v = el.type === 'checkbox' ? (el.checked ? 'true' : 'false') : el.value.trim();
      var problem = '';
      if (el.required && (el.type === 'checkbox' ? !el.checked : !v)) problem = L.need;
      else if (v && el.type === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) problem = L.bad_email;
      else if (v && el.type === 'tel' && !/^\+?[0-9 ().-]{5,20}$/.test(v)) problem = L.bad_phone;
      else if (v && el.type === 'number' && !/^-?\d+([.,]\d+)?$/.test(v)) problem = L.bad_number;
      fieldError(name, problem);
      if (problem && !bad) bad = el;
      if (name !== '__message' && (v || el.type === 'checkbox')) values[name] = v;
    });
    return { values: values, bad: bad, message: pre.querySelector('[name=__message]').value.trim() };
  }

  pre.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var r = readPrechat();
    var general = pre.querySelector('[data-testid=parley-prechat-error]');
    general.hidden = true;
    if (r.bad) { r.bad.focus(); return; }
    var go = pre.querySelector('.primary');
    go.disabled = true;
    send(r.message, { prechat: r.values }).then(function () {
      prechatDone = true;
      render();
      input.focus();
    }, function (e) {
      // A 422 names the field it is about (`prechat.email: ...`): shown under that field.
      var shown = false;
      var msg = (e && e.message) || L.error;
      if (e && e.fields && typeof e.fields === 'object') {
        Object.keys(e.fields).forEach(function (k) {
          var v = e.fields[k];
          var name = (v && v.field) || k;
          if (fieldError(String(name).replace(/^prechat\./, ''), (v && v.message) || String(v))) shown = true;
        });
      }
      if (!shown && e && e.status === 422) {
        var fs = visibleFields();
        for (var i = 0; i < fs.length; i++) {
          if (new RegExp('(^|[^a-z0-9_])(prechat\\.)?' + fs[i].name + '([^a-z0-9_]|$)').test(msg)) {
            fieldError(fs[i].name, msg);
            shown = true;
          }
        }
      }
      if (!shown) { general.textContent = e && e.status === 429 ? L.slow : msg; general.hidden = false; }
      var first = pre.querySelector('[aria-invalid=true]');
      if (first) first.focus();
    }).then(function () { go.disabled = false; });
  });

  // ---- messages ----
  function bubbleFor(cid, text, files) {
    var el = h('div', 'e me');
    el.setAttribute('data-testid', 'parley-message');
    el.setAttribute('data-author', 'customer');
    el.setAttribute('data-pending', cid);
    el.setAttribute('data-text', text || '');
    var b = h('div', 'b', text);
    b.setAttribute('data-testid', 'parley-text');
    (files || []).forEach(function (f) { b.appendChild(h('div', '', '📎 ' + f.name)); });
    el.appendChild(b);
    el.appendChild(statusLine(L.sending));
    log.appendChild(el);
    scroll();
    return el;
  }
  function statusLine(text) {
    var s = h('div', 'st', text);
    s.setAttribute('data-testid', 'parley-receipt');
    return s;
  }

  // Sends one message. `extra` may carry `choice`, `media` (uploaded ids) and `prechat`.
  function send(text, extra) {
    extra = extra || {};
    var cid = uuid();
    var startsSession = !openSession();
    var body = { client_message_id: cid, text: text || '' };
    if (extra.choice != null) body.choice = String(extra.choice);
    if (extra.media) body.media_ids = extra.media.map(function (m) { return m.id; });
    if (startsSession) {
      body.page_url = location.href;
      var values = Object.assign({}, extra.prechat || {});
      var allowed = hiddenNames();
      Object.keys(hidden).forEach(function (k) { if (allowed.indexOf(k) >= 0) values[k] = hidden[k]; });
      if (Object.keys(values).length) body.prechat = values;
    }
    return ensureVisitor().then(function () {
      var el = extra.prechat ? null : bubbleFor(cid, text, extra.files);
      var attempt = function () {
        return call('POST', 'messages', body).then(function (res) {
          if (res.ok) {
            if (el && pending[cid] === el) status(el, L.sent);
            if (startsSession && !session) session = { status: 'waiting' };
            return;
          }
          return errorOf(res).then(function (e) { throw e; });
        });
      };
      if (el) pending[cid] = el;
      return attempt().catch(function (e) {
        if (!el) throw e;
        // WEB-22: a failed message can be resent from the tab where it failed.
        var st = el.querySelector('.st');
        st.textContent = (e && e.status === 429 ? L.slow : L.failed) + ' ';
        var again = h('button', '', L.retry);
        again.type = 'button';
        again.addEventListener('click', function () { status(el, L.sending); attempt().catch(function () { status(el, L.failed); }); });
        st.appendChild(again);
        throw e;
      });
    }, function (e) {
      if (e && e.code === 'verification_required') { render(); }
      throw e;
    });
  }
  function status(el, text) { var st = el.querySelector('.st'); if (st) st.textContent = text; }

  comp.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = '';
    typing(false);
    send(text).catch(function (e) { if (e && e.status === 422) problem(e.message); });
  });
  input.addEventListener('keydown', function (ev) {
    var newline = cfg && cfg.settings && cfg.settings.enter_inserts_newline;
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !newline) {
      ev.preventDefault();
      comp.requestSubmit ? comp.requestSubmit() : comp.dispatchEvent(new Event('submit', { cancelable: true }));
    }
  });
  input.addEventListener('input', function () { if (input.value.trim()) typing(true); });

  function typing(on) {
    if (!cfg || !cfg.settings || !cfg.settings.typing || !visitor || !openSession()) return;
    clearTimeout(typingStop);
    var now = Date.now();
    if (on) {
      if (now - typingSent > 4000) { typingSent = now; call('POST', 'typing', { typing: true }).catch(function () {}); }
      typingStop = setTimeout(function () { typing(false); }, 5000);
    } else if (typingSent) {
      typingSent = 0;
      call('POST', 'typing', { typing: false }).catch(function () {});
    }
  }

  // ---- attachments (WEB-22) ----
  clip.addEventListener('click', function () { fileIn.click(); });
  fileIn.addEventListener('change', function () {
    var f = fileIn.files && fileIn.files[0];
    fileIn.value = '';
    if (!f) return;
    if (TYPES.indexOf(f.type) < 0) { problem(L.bad_type); return; }
    if (f.size > MAX_UPLOAD) { problem(L.too_big); return; }
    problem('');
    var text = input.value.trim();
    input.value = '';
    ensureVisitor().then(function () {
      return call('POST', 'uploads', f).then(json);
    }).then(function (m) {
      return send(text, { media: [m], files: [f] });
    }).catch(function (e) {
      problem(e && e.status === 413 ? L.too_big : e && e.status === 415 ? L.bad_type : e && e.status === 429 ? L.slow : (e && e.message) || L.error);
    });
  });

  function media(m) {
    var wrap = h('div', 'm');
    wrap.setAttribute('data-testid', 'parley-media');
    var name = m.filename || L.file;
    call('GET', 'media/' + encodeURIComponent(m.id)).then(function (res) {
      if (!res.ok) throw res;
      return res.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      if (INLINE.test(m.content_type || blob.type)) {
        var img = h('img');
        img.alt = name;
        img.src = url;
        img.addEventListener('load', scroll);
        wrap.appendChild(img);
      } else {
        var a = h('a', '', '📎 ' + name + ' (' + L.download + ')');
        a.href = url;
        a.download = name;
        wrap.appendChild(a);
      }
    }).catch(function () { wrap.textContent = '📎 ' + name; });
    return wrap;
  }

  // ---- entries ----
  function addEntry(e, live) {
    if (!e || !e.id) return;
    if (entries[e.id]) { setReceipt(entries[e.id], e.status); return; }
    var mine = e.author === 'customer' || e.direction === 'inbound';
    var el = mine && e.client_message_id && pending[e.client_message_id];
    if (!el && mine) {
      // The echo of a message sent from this tab: it replaces the bubble shown while sending.
      var keys = Object.keys(pending);
      for (var i = 0; i < keys.length && !el; i++) {
        var p = pending[keys[i]];
        if (p.getAttribute('data-text') === (e.text || '')) { el = p; delete pending[keys[i]]; }
      }
    } else if (el) delete pending[e.client_message_id];
    var fresh = entryElement(e);
    if (el && el.parentNode) el.parentNode.removeChild(el);
    entries[e.id] = fresh;
    // Entry ids are UUID v7: their order is the conversation's order.
    var after = null;
    for (var n = log.lastChild; n; n = n.previousSibling) {
      var nid = n.getAttribute('data-id');
      if (n.hasAttribute('data-pending')) continue;
      if (!nid || nid < e.id) break;
      after = n;
    }
    log.insertBefore(fresh, after);
    if (e.id > lastId) lastId = e.id;
    if (live) {
      settleChoices();
      if (!mine) {
        agentTyping(null);
        if (!isOpen) { unread++; badge.textContent = String(unread); badge.hidden = false; badge.setAttribute('aria-label', unread + ' ' + L.unread); }
        else markRead();
      }
    }
    scroll();
    if (visitor) trBtn.hidden = false;
  }

  function entryElement(e) {
    var mine = e.author === 'customer' || e.direction === 'inbound';
    var sys = e.author === 'system';
    var el = h('div', 'e' + (mine ? ' me' : sys ? ' sys' : ''));
    el.setAttribute('data-testid', 'parley-message');
    el.setAttribute('data-id', e.id);
    el.setAttribute('data-author', e.author || (mine ? 'customer' : 'agent'));
    if (!mine && !sys) el.appendChild(h('div', 'who', e.author_name || (cfg.branding && cfg.branding.title) || ''));
    var c = e.component;
    var b = h('div', 'b');
    var text = h('span', '', c && c.text ? c.text : e.text || '');
    text.setAttribute('data-testid', 'parley-text');
    b.appendChild(text);
    (e.media || []).forEach(function (m) { b.appendChild(media(m)); });
    el.appendChild(b);
    if (c) component(b, el, c);
    if (mine && cfg.settings && cfg.settings.receipts) { el.appendChild(statusLine('')); setReceipt(el, e.status); }
    return el;
  }

  function setReceipt(el, s) {
    var st = el.querySelector('.st');
    if (!st || !cfg.settings || !cfg.settings.receipts) return;
    var label = s === 'read' ? L.read : s === 'failed' || s === 'undelivered' ? L.failed : L.delivered;
    st.textContent = label;
    st.setAttribute('data-status', s || '');
  }

  function markRead() {
    if (!isOpen || !visitor || document.visibilityState === 'hidden') return;
    var last = '';
    Object.keys(entries).forEach(function (id) { if (entries[id].getAttribute('data-author') !== 'customer' && id > last) last = id; });
    if (!last || last <= readUpTo) return;
    readUpTo = last;
    if (cfg.settings && cfg.settings.receipts) call('POST', 'read', { up_to: last }).catch(function () {});
  }
  document.addEventListener('visibilitychange', markRead);

  // ---- components (MC-02..07), rendered natively ----
  var CAP = { buttons: 3, list: 10, quick_replies: 13, carousel: 10 };
  function component(b, el, c) {
    if (c.type === 'link') {
      if (!httpUrl(c.url)) return;
      var a = h('a', 'link');
      a.href = c.url;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      if (httpUrl(c.image_url)) { var im = h('img'); im.alt = ''; im.referrerPolicy = 'no-referrer'; im.src = c.image_url; a.appendChild(im); }
      a.appendChild(h('strong', '', c.title || c.url));
      a.setAttribute('data-testid', 'parley-link');
      b.appendChild(a);
      return;
    }
    var opts = c.type === 'time_slots'
      ? (c.slots || []).map(function (s) { return { id: s.start, title: s.title }; })
      : (c.options || []);
    if (!opts.length) return;
    var fmts = (c.formats || []).filter(function (f) { return CAP[f] && opts.length <= CAP[f]; });
    var f = fmts[0] || (opts.length <= 3 ? 'buttons' : 'list');
    var box;
    if (f === 'carousel') {
      box = h('div', 'cards');
      opts.forEach(function (o) {
        var card = h('div', 'card');
        if (httpUrl(o.image_url)) { var im = h('img'); im.alt = ''; im.referrerPolicy = 'no-referrer'; im.src = o.image_url; card.appendChild(im); }
        card.appendChild(h('p', '', o.title));
        if (o.description) card.appendChild(h('p', 'd', o.description));
        card.appendChild(choiceButton(o, box));
        box.appendChild(card);
      });
    } else {
      box = h('div', 'ch' + (f === 'quick_replies' ? ' qr' : ''));
      box.setAttribute('role', 'group');
      box.setAttribute('aria-label', c.text || '');
      opts.forEach(function (o) { box.appendChild(choiceButton(o, box)); });
    }
    box.setAttribute('data-testid', 'parley-choices');
    box.setAttribute('data-format', f);
    (f === 'quick_replies' ? el : b).appendChild(box);
  }
  function choiceButton(o, box) {
    var btn = h('button', '', o.title);
    btn.type = 'button';
    btn.setAttribute('data-choice', o.id);
    if (o.description && !box.classList.contains('cards')) btn.title = o.description;
    btn.addEventListener('click', function () {
      box.querySelectorAll('button').forEach(function (x) { x.disabled = true; });
      btn.setAttribute('aria-pressed', 'true');
      send(o.title, { choice: o.id }).catch(function () {
        box.querySelectorAll('button').forEach(function (x) { x.disabled = false; });
        btn.removeAttribute('aria-pressed');
      });
      input.focus();
    });
    return btn;
  }
  // A question already answered (the customer spoke after it) cannot be answered again; quick
  // replies only belong to the latest message.
  function settleChoices() {
    var spoke = false;
    for (var n = log.lastChild; n; n = n.previousSibling) {
      var boxes = n.querySelectorAll ? n.querySelectorAll('[data-testid=parley-choices]') : [];
      boxes.forEach(function (box) {
        if (box.getAttribute('data-format') === 'quick_replies' && (spoke || n.nextSibling)) box.hidden = true;
        if (spoke) box.querySelectorAll('button').forEach(function (x) { x.disabled = true; });
      });
      if (n.getAttribute && n.getAttribute('data-author') === 'customer') spoke = true;
    }
  }

  // ---- the live stream: fetch streaming (the token stays in a header), resumed by Last-Event-ID ----
  function connect() {
    if (streamCtl || !visitor) return;
    var ctl = streamCtl = new AbortController();
    clearTimeout(retryTimer);
    var headers = { Authorization: 'Bearer ' + visitor.token, Accept: 'text/event-stream' };
    if (lastId) headers['Last-Event-ID'] = lastId;
    var watchdog;
    var alive = function () {
      clearTimeout(watchdog);
      // Keep-alive comments come well within this; silence means a dead connection.
      watchdog = setTimeout(function () { ctl.abort(); }, 60000);
    };
    fetch(BASE + 'events', { headers: headers, signal: ctl.signal, credentials: 'omit', cache: 'no-store' }).then(function (res) {
      if (res.status === 401) { expired(); throw { stop: true }; }
      if (res.status === 403) { failed = 'unavailable'; render(); throw { stop: true }; }
      if (!res.ok || !res.body) throw { status: res.status, retryAfter: Number(res.headers.get('Retry-After')) || 0 };
      failures = backoff = 0;
      online(true);
      alive();
      var reader = res.body.getReader();
      var dec = new TextDecoder();
      var buf = '';
      var pump = function () {
        return reader.read().then(function (r) {
          if (r.done) throw { status: 0 };
          alive();
          buf += dec.decode(r.value, { stream: true });
          var m;
          while ((m = /\r\n\r\n|\n\n|\r\r/.exec(buf))) {
            var block = buf.slice(0, m.index);
            buf = buf.slice(m.index + m[0].length);
            dispatch(block);
          }
          return pump();
        });
      };
      return pump();
    }).catch(function (e) {
      clearTimeout(watchdog);
      if (streamCtl !== ctl) return; // stopped on purpose
      streamCtl = null;
      if (e && e.stop) return;
      failures++;
      online(false);
      var wait = Math.max((e && e.retryAfter) * 1000 || 0, Math.min(30000, 1000 * Math.pow(2, Math.min(failures - 1, 5))));
      backoff = wait * (0.8 + Math.random() * 0.4);
      retryTimer = setTimeout(connect, backoff);
    });
  }
  function stopStream() {
    clearTimeout(retryTimer);
    var c = streamCtl;
    streamCtl = null;
    if (c) c.abort();
  }
  function online(ok) {
    if (ok) { conn.hidden = true; return; }
    // A first failure reads as a hiccup; after a few it is an outage, with a way to retry now.
    var down = failures >= 3;
    connText.textContent = down ? L.offline : L.reconnecting;
    connBtn.textContent = L.retry;
    connBtn.hidden = !down;
    conn.hidden = false;
  }
  connBtn.addEventListener('click', function () {
    failures = Math.min(failures, 2);
    clearTimeout(retryTimer);
    connText.textContent = L.reconnecting;
    connBtn.hidden = true;
    connect();
  });

  function dispatch(block) {
    var type = 'message', data = [];
    block.split(/\r\n|\r|\n/).forEach(function (line) {
      if (!line || line.charAt(0) === ':') return;
      var i = line.indexOf(':');
      var k = i < 0 ? line : line.slice(0, i);
      var v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (k === 'event') type = v;
      else if (k === 'data') data.push(v);
    });
    if (!data.length) return;
    var d;
    try { d = JSON.parse(data.join('\n')); } catch (_) { return; }
    if (type === 'entry') addEntry(d, true);
    else if (type === 'status') { var el = entries[d.entry_id]; if (el) setReceipt(el, d.status); }
    else if (type === 'typing') agentTyping(d.typing ? d.author_name || L.someone : null);
    else if (type === 'session') {
      session = Object.assign({}, session || {}, d);
      if (session.status === 'active') waitEl.hidden = true;
      render();
    } else if (type === 'wait') setWait(d.estimated_wait_minutes);
  }

  function agentTyping(name) {
    clearTimeout(agentTypingTimer);
    if (!name || !(cfg.settings && cfg.settings.typing)) { typingEl.textContent = ''; return; }
    typingEl.textContent = fmt(L.typing, { name: name });
    agentTypingTimer = setTimeout(function () { typingEl.textContent = ''; }, 15000);
  }

  // ---- header actions ----
  launcher.addEventListener('click', function () { isOpen ? close() : open(); });
  xBtn.addEventListener('click', close);
  win.addEventListener('keydown', function (ev) {
    if (ev.key !== 'Escape') return;
    if (!emo.hidden) { toggleEmoji(false); emoBtn.focus(); return; }
    if (!confirmEl.hidden) { confirmEl.hidden = true; endBtn.focus(); return; }
    close();
  });
  endBtn.addEventListener('click', function () { confirmEl.hidden = false; confirmEl.querySelector('.no').focus(); });
  confirmEl.querySelector('.no').addEventListener('click', function () { confirmEl.hidden = true; endBtn.focus(); });
  confirmEl.querySelector('.yes').addEventListener('click', function () {
    confirmEl.hidden = true;
    call('POST', 'end', {}).then(function (res) {
      if (!res.ok && res.status !== 409) throw res;
      session = Object.assign({}, session || {}, { status: 'ended' });
      prechatDone = false;
      typing(false);
      render();
      newBtn.focus();
    }).catch(function () { problem(L.error); });
  });
  newBtn.addEventListener('click', function () {
    // SE-13: the next message opens a new session in the same conversation; pre-chat again.
    session = null;
    prechatDone = false;
    while (pre.firstChild) pre.removeChild(pre.firstChild);
    render();
    var first = pre.hidden ? input : pre.querySelector('input,textarea');
    if (first) first.focus();
  });
  trBtn.addEventListener('click', function () {
    call('GET', 'transcript').then(function (res) {
      if (!res.ok) throw res;
      return res.blob();
    }).then(function (blob) {
      var a = h('a');
      a.href = URL.createObjectURL(blob);
      a.download = 'chat-' + DEPLOYMENT + '.txt';
      shadow.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
    }).catch(function () { problem(L.error); });
  });
  emoBtn.addEventListener('click', function () { toggleEmoji(emo.hidden); });
  function toggleEmoji(on) {
    emo.hidden = !on;
    emoBtn.setAttribute('aria-expanded', on ? 'true' : 'false');
    if (on && emo.firstChild) emo.firstChild.focus();
  }
  function insert(text) {
    var s = input.selectionStart || input.value.length, e = input.selectionEnd || s;
    input.value = input.value.slice(0, s) + text + input.value.slice(e);
    input.focus();
    input.selectionStart = input.selectionEnd = s + text.length;
  }
  function scroll() { body.scrollTop = body.scrollHeight; }

  // ---- identity (WEB-16..20) ----
  function subOf(jwt) {
    try {
      var p = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      var c = JSON.parse(atob(p + '==='.slice((p.length + 3) % 4)));
      return c.iss + '|' + c.sub;
    } catch (_) { return ''; }
  }
  function setIdentityToken(jwt) {
    return ready.then(function () {
      if (!cfg) return { ok: false, code: failed };
      var sub = subOf(String(jwt || ''));
      // The host page sets the token on every page load: the same user keeps their widget token.
      if (visitor && visitor.verified && sub && visitor.sub === sub) return { ok: true, reused: true };
      return fetch(BASE + 'deployments/' + encodeURIComponent(DEPLOYMENT) + '/visitors', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ identity_token: String(jwt || '') }),
        credentials: 'omit',
      }).then(function (res) {
        if (!res.ok) {
          return errorOf(res).then(function (e) {
            verifyFailed = true;
            render();
            return { ok: false, status: e.status, code: e.code, message: e.message };
          });
        }
        return res.json().then(function (v) {
          var old = visitor;
          verifyFailed = false;
          if (old && !old.verified) call('POST', 'logout').catch(function () {});
          stopStream();
          clearLog();
          saveVisitor({ token: v.visitor_token, expires_at: v.expires_at, verified: true, visitor_id: v.visitor_id, sub: sub });
          session = null;
          prechatDone = false;
          return resume().then(function () { return { ok: true }; });
        });
      });
    });
  }
  function logout() {
    return ready.then(function () {
      var had = visitor;
      stopStream();
      var done = had ? call('POST', 'logout').catch(function () {}) : Promise.resolve();
      return done.then(function () {
        forgetVisitor();
        session = null;
        prechatDone = false;
        clearLog();
        while (pre.firstChild) pre.removeChild(pre.firstChild);
        if (cfg) render();
      });
    });
  }

  // ---- host API ----
  var api = {
    __widget: true,
    open: function () { open(); },
    close: function () { close(); },
    setHiddenFields: function (o) {
      Object.keys(o || {}).forEach(function (k) { hidden[k] = o[k] == null ? '' : String(o[k]); });
    },
    setIdentityToken: setIdentityToken,
    logout: logout,
  };
  var queued = (host0 && host0.q) || [];
  window.Parley = api;
  if (document.body) document.body.appendChild(hostEl);
  else document.addEventListener('DOMContentLoaded', function () { document.body.appendChild(hostEl); });
  ready = init();
  queued.forEach(function (c) {
    if (c && typeof api[c[0]] === 'function') api[c[0]].apply(api, Array.prototype.slice.call(c, 1));
  });
  window.dispatchEvent(new CustomEvent('parley:ready'));
})();
