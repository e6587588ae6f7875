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
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      // Machine-readable facts (times in RFC 3339 UTC) when the server gives them.
      this.details = details || null;
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
        String(err.message || res.statusText || t('common.request_failed')),
        err.details && typeof err.details === 'object' ? err.details : null);
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
        : problemText(err);
      notify(what + ': ' + detail, 'error');
    } else {
      notify(what + ': ' + problemText(err && err.message ? err.message : String(err)), 'error');
      if (window.console) window.console.error(err);
    }
  }

  // --- Time ----------------------------------------------------------------------------------

  // Dates and numbers follow the agent's language (<html lang>), not the browser's, and the
  // agent's time zone (<body data-time-zone>: theirs, else the deployment's default, else the
  // browser's). Every page formats times through these helpers, never toLocaleString() alone.
  const lang = (document.documentElement && document.documentElement.lang) || 'en';
  const browserZone = (() => {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (_) { return 'UTC'; }
  })();
  function usableZone(z) {
    if (!z) return null;
    try { new Intl.DateTimeFormat('en', { timeZone: z }); return z; } catch (_) { return null; }
  }
  const zone = usableZone(body && body.dataset.timeZone) || browserZone;
  const fmt = (opts) => new Intl.DateTimeFormat(lang, Object.assign({ timeZone: zone }, opts));
  const clockFmt = fmt({ hour: '2-digit', minute: '2-digit' });
  const secondsFmt = fmt({ hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const dayFmt = fmt({ day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  const dateFmt = fmt({ day: 'numeric', month: 'short', year: 'numeric' });
  const weekdayFmt = fmt({ weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  const exactFmt = fmt({ year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });
  const dayKeyFmt = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' });
  const relFmt = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  const numFmt = new Intl.NumberFormat(lang);

  /** A count in the agent's language (1,234 or 1 234). */
  function number(n) {
    return numFmt.format(n);
  }

  /** A Date from an RFC 3339 text, milliseconds or a Date; null when it is none. */
  function toDate(v) {
    if (v === undefined || v === null || v === '') return null;
    const d = v instanceof Date ? v : new Date(v);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  /** The calendar day of a time in the agent's zone (`2026-12-04`). */
  function dayKey(v) {
    const d = toDate(v);
    return d ? dayKeyFmt.format(d) : '';
  }

  /** Today: the time ("14:05"); another day: day, month and time. */
  function when(v) {
    const d = toDate(v);
    if (!d) return '';
    return dayKey(d) === dayKey(new Date()) ? clockFmt.format(d) : dayFmt.format(d);
  }

  /** The full date and time with the zone's name, for titles and error texts. */
  function exact(v) {
    const d = toDate(v);
    return d ? exactFmt.format(d) : '';
  }

  /** The day only ("4 Dec 2026"). */
  function date(v) {
    const d = toDate(v);
    return d ? dateFmt.format(d) : '';
  }

  /** Weekday, day, month and time ("Fri 4 Dec, 14:05"), for schedules. */
  function dateTime(v) {
    const d = toDate(v);
    return d ? weekdayFmt.format(d) : '';
  }

  /** The time of day ("14:05:09"), for "updated at". */
  function clock(v) {
    const d = toDate(v);
    return d ? secondsFmt.format(d) : '';
  }

  /** For lists of records: "just now", "5 minutes ago", "in 3 minutes", else the date. */
  function ago(v) {
    const d = toDate(v);
    if (!d) return '';
    const s = Math.round((d.getTime() - Date.now()) / 1000);
    const a = Math.abs(s);
    if (a < 45) return t('common.just_now');
    if (-s >= 86400 * 7) return dateFmt.format(d);
    if (a < 5400) return relFmt.format(Math.sign(s) * Math.max(1, Math.round(a / 60)), 'minute');
    if (a < 86400) return relFmt.format(Math.sign(s) * Math.round(a / 3600), 'hour');
    return relFmt.format(Math.sign(s) * Math.round(a / 86400), 'day');
  }

  /**
   * A <time> element: `text` (default: relative, "il y a 3 minutes") with the exact time in
   * the agent's zone as its title and the machine form in `datetime`.
   */
  function timeEl(v, text, attrs) {
    const d = toDate(v);
    if (!d) return h('time', attrs || null, '');
    return h('time', Object.assign({ datetime: d.toISOString(), title: exact(d) }, attrs || {}),
      text === undefined ? ago(d) : text);
  }

  // Times the server writes into texts (error messages, refusal reasons): RFC 3339 in UTC
  // (`2026-12-04T11:50:40.138Z`) or a Timestamp's words (`2026-12-04 11:50 UTC`).
  const TIME_IN_TEXT = /\b(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(?:Z| UTC|[+-]\d{2}:\d{2})/g;

  /** A server's text with every time in it written in the agent's zone and language. */
  function localizeTimes(text) {
    if (!text) return '';
    return String(text).replace(TIME_IN_TEXT, (m, day, time) => {
      const offset = m.endsWith(' UTC') || m.endsWith('Z') ? 'Z' : m.slice(-6);
      const d = toDate(day + 'T' + time + offset);
      return d ? exact(d) : m;
    });
  }

  /** What a problem says, for people: its message (or the text given), times localized. */
  function problemText(p) {
    return localizeTimes(typeof p === 'string' ? p : (p && p.message) || '');
  }

  const partsFmt = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  /** The wall-clock fields of a time in the agent's zone. */
  function zoneParts(d) {
    const p = {};
    for (const { type, value } of partsFmt.formatToParts(d)) p[type] = Number(value);
    return p;
  }
  const pad2 = (n) => String(n).padStart(2, '0');

  /** A time as an `<input type="datetime-local">` value in the agent's zone (not the browser's). */
  function localInput(v) {
    const d = toDate(v);
    if (!d) return '';
    const p = zoneParts(d);
    return p.year + '-' + pad2(p.month) + '-' + pad2(p.day) + 'T' + pad2(p.hour % 24) + ':' + pad2(p.minute);
  }

  /** The RFC 3339 time of a `datetime-local` value read as the agent's zone's wall clock. */
  function fromLocalInput(value) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(String(value || ''));
    if (!m) return null;
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    const offsetAt = (ms) => {
      const p = zoneParts(new Date(ms));
      return Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second) - ms;
    };
    // Twice: the first guess may sit across a change of offset from the answer.
    let at = wall - offsetAt(wall);
    at = wall - offsetAt(at);
    return new Date(at).toISOString();
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

  // --- Time zone (top bar) -------------------------------------------------------------------

  /**
   * How the picker names a zone: the city first, so typing "Tor" finds Toronto, then the zone's
   * name and offset in the agent's language ("Toronto · Eastern Time (GMT-5)"). The IANA name
   * stays the value and the tooltip.
   */
  function zoneParts(name) {
    const parts = name.split('/');
    const region = parts.length > 1 ? parts[0] : '';
    const city = parts[parts.length - 1].replace(/_/g, ' ');
    const part = (style) => {
      try {
        const p = new Intl.DateTimeFormat(lang, { timeZone: name, timeZoneName: style })
          .formatToParts(new Date()).find((x) => x.type === 'timeZoneName');
        return p ? p.value : '';
      } catch (_) { return ''; }
    };
    const generic = part('longGeneric');
    const offset = part('shortOffset');
    const words = generic && generic !== offset && generic !== city ? `${city} · ${generic}` : city;
    return { region, city, label: offset ? `${words} (${offset})` : words };
  }

  /**
   * The agent's time zone. On the first signed-in page with none stored, the browser's is
   * stored (the page already shows it). The picker lists the browser's IANA names
   * (`Intl.supportedValuesOf`) by region and city; the server checks the name against its own
   * database.
   */
  function wireTimeZone() {
    const select = $('time-zone');
    if (!body.hasAttribute('data-time-zone-chosen') && !body.dataset.timeZone) {
      api('PUT', '/api/v1/me/time-zone', { time_zone: browserZone })
        .then(() => body.setAttribute('data-time-zone-chosen', ''))
        .catch(() => {});
    }
    if (!select) return;
    const current = zone;
    const option = (n, label) => h('option', { value: n, title: n, selected: n === current }, label);
    clear(select);
    select.appendChild(option(current, zoneParts(current).label));
    select.title = current;
    let filled = false;
    const fill = () => {
      if (filled) return;
      filled = true;
      let names = [];
      try { names = Intl.supportedValuesOf('timeZone'); } catch (_) { names = []; }
      if (!names.includes(current)) names = [current].concat(names);
      const regions = new Map();
      for (const n of names) {
        const z = zoneParts(n);
        const key = z.region || 'UTC';
        if (!regions.has(key)) regions.set(key, []);
        regions.get(key).push(Object.assign({ name: n }, z));
      }
      clear(select);
      for (const key of Array.from(regions.keys()).sort()) {
        const group = h('optgroup', { label: key.replace(/_/g, ' ') });
        const zones = regions.get(key).sort((a, b) => a.city.localeCompare(b.city, lang));
        for (const z of zones) group.appendChild(option(z.name, z.label));
        select.appendChild(group);
      }
    };
    select.addEventListener('focus', fill);
    select.addEventListener('pointerdown', fill);
    select.addEventListener('change', async () => {
      select.disabled = true;
      try {
        await api('PUT', '/api/v1/me/time-zone', { time_zone: select.value });
        window.location.reload();
      } catch (err) {
        select.value = current;
        select.disabled = false;
        showError(t('common.time_zone_failed'), err);
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

  /** Whether an element takes typed text (a field or an editable element): keys go to it. */
  function isField(el) {
    return el instanceof HTMLElement && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  window.Parley = {
    t, can, isField, ApiError, api, items, h, append, clear, $, notify, showError, when, ago, duration, number, debounce, copyButton,
    exact, date, dateTime, clock, dayKey, timeEl, localizeTimes, problemText, localInput, fromLocalInput, timeZone: zone,
    on, emit, setPresence, csrf,
    me: signedIn ? { id: body.dataset.agentId, name: body.dataset.agentName, role: body.dataset.agentRole } : null,
  };

  // Deferred scripts run in order before DOMContentLoaded: page scripts have registered their
  // handlers by the time the stream opens.
  document.addEventListener('DOMContentLoaded', () => {
    if (!signedIn) return;
    wirePresence();
    wireLocale();
    wireTimeZone();
    connect();
  });
  window.addEventListener('beforeunload', () => { if (source) source.close(); });
})();
