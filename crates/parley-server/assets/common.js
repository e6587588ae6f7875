// Parley console: what every page shares. The JSON API client (CSRF header, error shape), DOM
// building without HTML parsing, polite notices, the presence control and the one SSE stream.
//
// Rule for every script here: text from the server is put in the page with textContent or
// createTextNode only; markup is never parsed from data, so a customer's "<script>" stays text.
'use strict';

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';
  const body = document.body;
  const signedIn = Boolean(body && body.dataset.agentId);

  /** An API answer that was not a success, with the server's code and sentence. */
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  const SAFE_METHODS = new Set(['GET', 'HEAD']);

  /**
   * Calls the JSON API. State-changing requests carry the CSRF token and a JSON content type
   * (the server refuses them otherwise). Errors come back as ApiError whatever their form:
   * `{code, message}` or `{error: {code, message}}`, or no JSON at all.
   */
  async function api(method, path, payload) {
    const headers = { Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin' };
    if (!SAFE_METHODS.has(method)) {
      headers['X-CSRF-Token'] = csrf;
      headers['Content-Type'] = 'application/json';
      if (payload !== undefined) init.body = JSON.stringify(payload);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (_) {
      throw new ApiError(0, 'network', t('common.network_error'));
    }
    if (res.status === 204 || res.status === 304) return null;
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = null;
      }
    }
    if (!res.ok) {
      const err = data && typeof data.error === 'object' && data.error ? data.error : data || {};
      if (res.status === 401 && signedIn) {
        // The console session ended (signed out elsewhere, expired): back to the form.
        notify(t('common.session_ended'), 'error');
        setTimeout(() => { window.location.assign('/console/login'); }, 1500);
      }
      throw new ApiError(res.status, String(err.code || 'http_' + res.status),
        String(err.message || res.statusText || t('common.request_failed')));
    }
    return data;
  }

  /** Items of a list answer, whatever its envelope (`[..]`, `{items}` or a named array). */
  function items(data, ...names) {
    if (Array.isArray(data)) return data;
    if (!data || typeof data !== 'object') return [];
    if (Array.isArray(data.items)) return data.items;
    for (const n of names) if (Array.isArray(data[n])) return data[n];
    return [];
  }

  /**
   * Builds an element. `attrs` keys: `class`, `text`, `dataset` (object), `on<event>` handlers,
   * boolean properties (`hidden`, `disabled`, `checked`, `selected`), anything else as an attribute.
   * Children are nodes or strings (as text). There is deliberately no way to pass HTML.
   */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [key, value] of Object.entries(attrs)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === 'class') node.className = value;
        else if (key === 'text') node.textContent = String(value);
        else if (key === 'dataset') Object.assign(node.dataset, value);
        else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
        else if (key === 'hidden' || key === 'disabled' || key === 'checked' || key === 'selected') node[key] = Boolean(value);
        else if (key === 'value') node.value = String(value);
        else node.setAttribute(key, value === true ? '' : String(value));
      }
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  const $ = (id) => document.getElementById(id);

  // --- Notices -------------------------------------------------------------------------------

  /** Shows a short notice in the corner; errors stay longer and can be closed. */
  function notify(message, kind) {
    const box = $('toasts');
    if (!box) return;
    const item = h('div', { class: 'toast ' + (kind || 'info'), role: kind === 'error' ? 'alert' : 'status' });
    const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': t('common.dismiss'), text: '×' });
    close.addEventListener('click', () => item.remove());
    append(item, [h('span', { text: message }), close]);
    box.appendChild(item);
    setTimeout(() => item.remove(), kind === 'error' ? 10000 : 4000);
  }

  /** A failed API call, in words: what we tried, then what the server said. */
  function showError(what, err) {
    if (err instanceof ApiError) {
      const detail = err.code === 'csrf'
        ? t('common.csrf_stale')
        : err.message;
      notify(what + ': ' + detail, 'error');
    } else {
      notify(what + ': ' + (err && err.message ? err.message : String(err)), 'error');
      if (window.console) window.console.error(err);
    }
  }

  // --- Time ----------------------------------------------------------------------------------

  // Dates and numbers follow the agent's language (<html lang>), not the browser's.
  const lang = (document.documentElement && document.documentElement.lang) || 'en';
  const clockFmt = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });
  const dayFmt = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  const dateFmt = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', year: 'numeric' });
  const relFmt = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  const numFmt = new Intl.NumberFormat(lang);

  /** A count in the agent's language (1,234 or 1 234). */
  function number(n) {
    return numFmt.format(n);
  }

  function when(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? clockFmt.format(d) : dayFmt.format(d);
  }

  /** For lists of records: "just now", "5 minutes ago", "in 3 minutes", else the date. */
  function ago(iso) {
    if (!iso) return '';
    const at = new Date(iso).getTime();
    if (Number.isNaN(at)) return '';
    const s = Math.round((at - Date.now()) / 1000);
    const a = Math.abs(s);
    if (a < 45) return t('common.just_now');
    if (-s >= 86400 * 7) return dateFmt.format(new Date(iso));
    if (a < 5400) return relFmt.format(Math.sign(s) * Math.max(1, Math.round(a / 60)), 'minute');
    if (a < 86400) return relFmt.format(Math.sign(s) * Math.round(a / 3600), 'hour');
    return relFmt.format(Math.sign(s) * Math.round(a / 86400), 'day');
  }

  /** "45 s", "3 min", "2 h 5 min": for ages and countdowns. */
  function duration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return t('common.seconds', { n: number(s) });
    const m = Math.floor(s / 60);
    if (m < 60) return t('common.minutes', { n: number(m) });
    const hours = Math.floor(m / 60);
    return t('common.hours', { n: number(hours) }) + (m % 60 ? ' ' + t('common.minutes', { n: number(m % 60) }) : '');
  }

  function debounce(fn, ms) {
    let timer = null;
    return function (...args) {
      clearTimeout(timer);
      timer = setTimeout(() => fn.apply(this, args), ms);
    };
  }

  // --- Live events ---------------------------------------------------------------------------

  const listeners = new Map();

  /** Registers a handler for an SSE event name, or `resync` (after a reconnect: refetch all). */
  function on(name, fn) {
    if (!listeners.has(name)) listeners.set(name, []);
    listeners.get(name).push(fn);
  }

  function emit(name, data) {
    for (const fn of listeners.get(name) || []) {
      try {
        fn(data);
      } catch (e) {
        if (window.console) window.console.error(e);
      }
    }
  }

  const EVENT_NAMES = ['offer', 'offer_withdrawn', 'session', 'entry', 'presence', 'queue', 'typing', 'note'];
  let source = null;
  let everOpen = false;
  let retryTimer = null;

  function setConnection(state, label) {
    const el = $('connection');
    if (!el) return;
    el.dataset.state = state;
    el.textContent = label;
  }

  /**
   * Opens the stream. The browser reconnects by itself and resends Last-Event-ID, so missed
   * events are replayed; when it gives up (the server answered an error), we start over after a
   * pause. After any reconnect, pages refetch everything: cheap, and right even if a replay was
   * incomplete.
   */
  function connect() {
    if (!window.EventSource) {
      setConnection('offline', t('common.conn_none'));
      return;
    }
    clearTimeout(retryTimer);
    source = new EventSource('/api/v1/events');
    source.addEventListener('open', () => {
      setConnection('live', t('common.conn_live'));
      if (everOpen) emit('resync', null);
      everOpen = true;
    });
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        setConnection('offline', t('common.conn_offline'));
        retryTimer = setTimeout(connect, 5000);
      } else {
        setConnection('reconnecting', t('common.conn_reconnecting'));
      }
    });
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (ev) => {
        let data = null;
        try {
          data = JSON.parse(ev.data);
        } catch (_) {
          return;
        }
        emit(name, data);
      });
    }
  }

  // --- Presence (top bar of every signed-in page) ----------------------------------------------

  function setPresence(value) {
    const select = $('presence');
    if (!select) return;
    select.value = value;
    if (select.parentElement) select.parentElement.dataset.presence = value;
  }

  function wirePresence() {
    const select = $('presence');
    if (!select) return;
    let current = select.value;
    select.addEventListener('change', async () => {
      const wanted = select.value;
      select.disabled = true;
      try {
        const res = await api('PUT', '/api/v1/me/presence', { presence: wanted });
        const agent = res && (res.agent || res);
        current = agent && agent.presence ? agent.presence : wanted;
        setPresence(current);
        emit('presence_changed', current);
      } catch (err) {
        setPresence(current);
        showError(t('common.presence_failed'), err);
      } finally {
        select.disabled = false;
      }
    });
    on('presence', (data) => {
      if (data && data.agent_id === body.dataset.agentId && data.presence) {
        current = data.presence;
        setPresence(current);
        emit('presence_changed', current);
      }
    });
  }

  // --- Language (top bar) ---------------------------------------------------------------------

  /** The agent's language: stored on the agent, then the page is reloaded in it. */
  function wireLocale() {
    const select = $('locale');
    if (!select) return;
    const current = select.value;
    select.addEventListener('change', async () => {
      select.disabled = true;
      try {
        await api('PUT', '/api/v1/me/locale', { locale: select.value });
        window.location.reload();
      } catch (err) {
        select.value = current;
        select.disabled = false;
        showError(t('common.language_failed'), err);
      }
    });
  }

  /**
   * A button that copies `text` (a secret shown once) to the clipboard; without clipboard
   * permission it selects `shown`, the element showing the text, so Ctrl+C copies it.
   */
  function copyButton(text, shown, label, testid, what = t('common.token')) {
    const button = h('button', { type: 'button', 'data-testid': testid }, label);
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(text);
        notify(t('common.copied', { what }), 'info');
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(shown);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        notify(t('common.press_ctrl_c', { what: what.toLowerCase() }), 'info');
      }
    });
    return button;
  }

  /**
   * The text of a catalogue key (parley_core::i18n) in the agent's language, with each {name}
   * filled from `vars`. The page carries its language's catalogue as JSON in
   * <script id="i18n" type="application/json">; a missing key shows as itself.
   */
  let catalogue = null;
  function t(key, vars) {
    if (catalogue === null) {
      const el = document.getElementById('i18n');
      try { catalogue = el ? JSON.parse(el.textContent) : {}; } catch (_) { catalogue = {}; }
    }
    const text = Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : key;
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, (m, name) => (Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m));
  }

  /**
   * Whether the signed-in agent holds a permission (`<body data-permissions>`, from the server's
   * permission sets). The page hides what the agent cannot do; the API refuses it anyway.
   */
  function can(permission) {
    return (body.dataset.permissions || '').split(' ').includes(permission);
  }

  window.Parley = {
    t, can, ApiError, api, items, h, append, clear, $, notify, showError, when, ago, duration, number, debounce, copyButton,
    on, emit, setPresence, csrf,
    me: signedIn ? { id: body.dataset.agentId, name: body.dataset.agentName, role: body.dataset.agentRole } : null,
  };

  // Deferred scripts run in order before DOMContentLoaded: page scripts have registered their
  // handlers by the time the stream opens.
  document.addEventListener('DOMContentLoaded', () => {
    if (!signedIn) return;
    wirePresence();
    wireLocale();
    connect();
  });
  window.addEventListener('beforeunload', () => { if (source) source.close(); });
})();
