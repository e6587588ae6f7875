// Search across conversations, and the agent's closed conversations. Added to the agent console
// through `Parley.console` (console.js's extension points). Results come from the blind index
// (GET /api/v1/search/conversations): every word must match a message or the person; the words
// found are marked in the snippet here, in the browser, since the server only compares hashes.
'use strict';

(function () {
  const P = window.Parley;
  if (!P || !P.console) return;
  const { api, h, clear, $, ago, when, debounce } = P;

  // The folding of parley_core::search: lowercase, accents dropped.
  const fold = (s) => String(s || '').toLowerCase().normalize('NFD').replace(/\p{M}/gu, '');
  const WORD = /[\p{L}\p{N}]+/gu;

  const search = { q: '', next: null, seq: 0, items: [] };
  const closed = { next: null, loaded: false, open: false };

  const kindName = (k) => {
    const key = 'console.kind_' + k;
    const text = P.t(key);
    return text === key ? k : text;
  };

  /** The customer's name as the console shows it, then the linked contact's. */
  function who(item) {
    const name = P.console.customerName(item.messaging_user);
    return item.contact_name && item.contact_name !== name ? name + ' (' + item.contact_name + ')' : name;
  }

  /** The snippet with the query's words in <mark> (text nodes only: customer text is never HTML). */
  function marked(text, words) {
    const out = [];
    let at = 0;
    for (const m of String(text).matchAll(WORD)) {
      if (m.index > at) out.push(text.slice(at, m.index));
      const w = fold(m[0]);
      const hit = words.some((q) => w === q || (q.length >= 3 && w.startsWith(q)));
      out.push(hit ? h('mark', { text: m[0] }) : m[0]);
      at = m.index + m[0].length;
    }
    if (at < text.length) out.push(text.slice(at));
    return out;
  }

  function rail(searching) {
    // While searching, the results replace the rail's lists (a class, so what another script
    // hid stays hidden afterwards).
    const railEl = document.querySelector('.rail');
    if (railEl) railEl.classList.toggle('searching', searching);
    $('search-results').hidden = !searching;
  }

  function openHit(item) {
    // Chosen by the agent: the opened conversation may take the keys (see console.js select).
    if (document.activeElement === $('search-q')) $('search-q').blur();
    const hash = '#session=' + encodeURIComponent(item.session_id) + (item.entry_id ? '&entry=' + encodeURIComponent(item.entry_id) : '');
    if (window.location.hash === hash) P.console.select(item.session_id);
    else window.location.hash = hash;
  }

  function renderHits() {
    const list = $('search-hits');
    clear(list);
    const words = (search.q.match(WORD) || []).map(fold);
    for (const item of search.items) {
      const li = h('li', { class: 'search-hit', dataset: { sessionId: item.session_id } },
        h('button', { type: 'button', class: 'hit-open', onclick: () => openHit(item) },
          h('span', { class: 'hit-head' },
            h('strong', { text: who(item) }),
            h('span', { class: 'chip', text: kindName(item.channel.kind) + ' · ' + item.channel.name }),
            h('time', { class: 'muted small', datetime: item.created_at, title: when(item.created_at), text: ago(item.created_at) })),
          item.snippet !== null && item.snippet !== undefined
            ? h('span', { class: 'hit-snippet' }, ...marked(item.snippet, words))
            : h('span', { class: 'hit-snippet muted', text: P.t('search.person_match', { key: item.messaging_user.platform_key }) })));
      list.appendChild(li);
    }
    const status = $('search-status');
    if (!search.items.length) status.textContent = P.t('search.none', { q: search.q });
    else status.textContent = P.t('search.count', { n: search.items.length });
    $('search-more').hidden = !search.next;
  }

  async function run(more) {
    const q = $('search-q').value.trim();
    const seq = ++search.seq;
    if (!q) {
      search.q = '';
      search.items = [];
      rail(false);
      return;
    }
    rail(true);
    if (!more) {
      search.q = q;
      search.items = [];
      search.next = null;
      clear($('search-hits'));
      $('search-more').hidden = true;
    }
    $('search-status').textContent = P.t('search.loading');
    let path = '/api/v1/search/conversations?q=' + encodeURIComponent(q);
    if (more && search.next) path += '&after=' + encodeURIComponent(search.next);
    try {
      const page = await api('GET', path);
      if (seq !== search.seq) return;
      // A page boundary inside one millisecond may repeat a hit (never skip one): keep it once.
      const known = new Set(search.items.map((i) => (i.entry_id || '') + '/' + (i.session_id || '')));
      search.items = search.items.concat((page.items || []).filter((i) => !known.has((i.entry_id || '') + '/' + (i.session_id || ''))));
      search.next = page.next || null;
      renderHits();
    } catch (err) {
      if (seq !== search.seq) return;
      $('search-status').textContent = P.t('search.failed', { error: err.message });
    }
  }

  // --- The agent's closed conversations ---------------------------------------------------

  function renderClosed(items, append) {
    const list = $('closed-list');
    if (!append) clear(list);
    for (const item of items) {
      const caseText = item.case_id ? P.t('search.case', { number: item.case_number || '', subject: item.case_subject || '' }) : '';
      list.appendChild(h('li', { class: 'closed', dataset: { sessionId: item.session_id } },
        h('a', { href: '#session=' + encodeURIComponent(item.session_id), class: 'closed-open' },
          h('span', { class: 'hit-head' },
            h('strong', { text: who(item) }),
            h('span', { class: 'chip', text: kindName(item.channel.kind) + ' · ' + item.channel.name }),
            h('time', { class: 'muted small', datetime: item.ended_at, title: when(item.ended_at), text: P.t('search.ended', { when: ago(item.ended_at) }) })),
          item.last_message ? h('span', { class: 'hit-snippet', text: item.last_message }) : null,
          caseText ? h('span', { class: 'muted small', text: caseText }) : null)));
    }
    const status = $('closed-status');
    status.hidden = list.children.length > 0;
    status.textContent = P.t('search.closed_empty');
    $('closed-more').hidden = !closed.next;
  }

  async function loadClosed(more) {
    const status = $('closed-status');
    if (!more) {
      status.hidden = false;
      status.textContent = P.t('search.loading');
    }
    let path = '/api/v1/me/closed-sessions';
    if (more && closed.next) path += '?after=' + encodeURIComponent(closed.next);
    try {
      const page = await api('GET', path);
      closed.next = page.next || null;
      closed.loaded = true;
      renderClosed(page.items || [], more);
    } catch (err) {
      status.hidden = false;
      status.textContent = P.t('search.failed', { error: err.message });
    }
  }

  function toggleClosed() {
    closed.open = !closed.open;
    $('closed-toggle').setAttribute('aria-expanded', String(closed.open));
    $('closed-body').hidden = !closed.open;
    if (closed.open) loadClosed(false);
  }

  // --- The entry a link points at (#session=..&entry=..) -------------------------------------

  let scrolledTo = null;
  function highlight() {
    const m = /[#&]entry=([0-9a-fA-F-]{36})/.exec(window.location.hash);
    if (!m) return;
    const li = document.querySelector('#messages li[data-entry-id="' + m[1] + '"]');
    if (!li) return;
    li.classList.add('search-target');
    if (scrolledTo !== window.location.hash) {
      scrolledTo = window.location.hash;
      li.scrollIntoView({ block: 'center' });
    }
  }
  P.console.on('timeline', highlight);

  document.addEventListener('DOMContentLoaded', () => {
    const input = $('search-q');
    if (!input) return;
    const later = debounce(() => run(false), 250);
    input.addEventListener('input', later);
    $('search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      // Enter opens the first result once it is listed; else it searches now.
      if (search.q === input.value.trim() && search.items.length) openHit(search.items[0]);
      else run(false);
    });
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        input.value = '';
        run(false);
      } else if (ev.key === 'ArrowDown') {
        const first = document.querySelector('#search-hits .hit-open');
        if (first) {
          ev.preventDefault();
          first.focus();
        }
      }
    });
    $('search-hits').addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
      const all = Array.from(document.querySelectorAll('#search-hits .hit-open'));
      const at = all.indexOf(document.activeElement);
      if (at < 0) return;
      ev.preventDefault();
      if (ev.key === 'ArrowUp' && at === 0) input.focus();
      else (all[ev.key === 'ArrowDown' ? Math.min(all.length - 1, at + 1) : at - 1]).focus();
    });
    $('search-more').addEventListener('click', () => run(true));
    // "/" focuses the search box, unless the agent is typing somewhere.
    document.addEventListener('keydown', (ev) => {
      if (ev.key !== '/' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (P.isField(ev.target)) return;
      ev.preventDefault();
      input.focus();
      input.select();
    });
    $('closed-toggle').addEventListener('click', toggleClosed);
    $('closed-more').addEventListener('click', () => loadClosed(true));
    // A conversation ending moves it into the list: reload it when it is open.
    P.on('session', () => {
      if (closed.open) loadClosed(false);
    });
  });
})();
