// Supervisor's board: queues and each waiting session (customer, channel, first message, age, whom
// it is offered to) with Open and Assign; agents with presence and load (conversations, pending
// offers apart); an agent's open conversations with Open, Transfer and Whisper. Refetched on the
// stream's events; ages and offer countdowns tick locally between fetches.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, showError, notify, duration, items, t, number } = P;

  let overview = null;
  let fetchedAt = 0;
  let failing = false;
  /** The agent whose conversations the panel shows, and what it last showed. */
  let watched = null;
  let desk = null;
  /** The waiting session the Assign dialog is for, the session Transfer or Whisper is for. */
  let assigning = null;
  let pendingOver = null;
  let transferring = null;
  let whispering = null;

  // Wire values in words, from the catalogue (`console.<group>_<value>`).
  const named = (group, v) => {
    if (!v) return '';
    const key = 'console.' + group + '_' + v;
    const text = t(key);
    return text === key ? v : text;
  };

  /** The customer as agents call them: their name, else their number or visitor id. */
  function customerName(c) {
    if (c && c.name) return c.name;
    const key = (c && c.platform_key) || '';
    if (key.startsWith('anon:')) return t('console.visitor_short', { id: key.slice(-6) });
    if (key.startsWith('uid:')) return key.slice(4);
    return key || t('console.customer');
  }

  function channelChip(ch) {
    const kind = (ch && ch.kind) || '';
    return h('span', { class: 'chip kind-' + kind, title: (ch && ch.name) || '' },
      [named('kind', kind), ch && ch.name].filter(Boolean).join(' · '));
  }

  /** "1 conversation · 2 offers pending / capacity 3". */
  function loadText(a) {
    const conv = Number(a.conversations) || 0;
    const offers = Number(a.offers) || 0;
    let text = conv === 1 ? t('supervisor.conversations_one') : t('supervisor.conversations_many', { n: number(conv) });
    if (offers) text += ' · ' + (offers === 1 ? t('supervisor.offers_one') : t('supervisor.offers_many', { n: number(offers) }));
    return text + ' / ' + t('supervisor.capacity', { n: number(Number(a.capacity) || 0) });
  }

  const agentsById = () => new Map(items(overview && overview.agents, 'agents').map((a) => [a.id, a]));

  async function load() {
    try {
      overview = await api('GET', '/api/v1/supervisor/overview');
      fetchedAt = Date.now();
      failing = false;
      render();
      if (assigning) renderAssign();
    } catch (err) {
      // One notice per outage, not one per event.
      if (!failing) showError(t('supervisor.load_failed'), err);
      failing = true;
    }
    if (watched) await loadDesk();
  }

  /** An age that keeps growing: the element holds when it started, the tick redraws it. */
  const age = (ms, attrs) => h('span', Object.assign({ dataset: { since: String(fetchedAt - (Number(ms) || 0)) } }, attrs || {}),
    duration(Number(ms) || 0));

  function render() {
    if (!overview) return;
    const queues = clear($('queues'));
    const waitingBox = clear($('waiting'));
    const agents = agentsById();
    let anyWaiting = false;
    for (const q of items(overview.queues, 'queues')) {
      const waiting = Array.isArray(q.waiting) ? q.waiting : [];
      const longest = waiting.reduce((m, w) => Math.max(m, Number(w.waiting_ms) || 0), 0);
      const est = q.estimated_wait_minutes;
      queues.appendChild(h('tr', { 'data-testid': 'supervisor-queue', dataset: { queueId: q.id || '', assignment: q.assignment || '' } },
        h('th', { scope: 'row', text: q.name || '' }),
        h('td', null, h('span', { class: 'chip mode-' + (q.assignment || ''), text: t('supervisor.mode_' + (q.assignment === 'pick' ? 'pick' : 'push')) })),
        h('td', { class: 'num', text: number(waiting.length) }),
        h('td', { class: longest > 5 * 60000 && waiting.length ? 'warn' : '' }, waiting.length ? age(longest) : '—'),
        h('td', { text: est === null || est === undefined ? t('supervisor.not_enough_data') : t('common.minutes', { n: number(est) }) })));
      if (!waiting.length) continue;
      anyWaiting = true;
      waitingBox.appendChild(h('h3', { class: 'queue-h', text: q.name || '' }));
      waitingBox.appendChild(h('ul', { class: 'wait-cards' }, waiting.map((w) => waitingCard(q, w, agents))));
    }
    $('waiting-empty').hidden = anyWaiting;
    const rows = clear($('agents'));
    for (const a of agents.values()) {
      const load = Number(a.load) || 0;
      const capacity = Number(a.capacity) || 0;
      const pct = capacity ? Math.min(100, Math.round((load / capacity) * 100)) : 0;
      const over = load > capacity;
      rows.appendChild(h('tr', {
        'data-testid': 'supervisor-agent', dataset: { agentId: a.id || '', presence: a.presence || '' },
        'aria-current': watched === a.id ? 'true' : null,
      },
      h('th', { scope: 'row' }, h('button', {
        type: 'button', class: 'link-button', 'data-testid': 'supervisor-agent-open',
        title: t('supervisor.show_conversations'), text: a.name || '', onclick: () => watch(a.id),
      })),
      h('td', null, h('span', { class: 'presence-chip', dataset: { presence: a.presence || '' } },
        h('span', { class: 'dot', 'aria-hidden': 'true' }), a.presence ? t('common.presence_' + a.presence) : '')),
      h('td', null,
        h('span', { class: 'meter', role: 'img', 'aria-label': t('supervisor.load_of', { load: number(load), capacity: number(capacity) }) },
          h('span', { class: 'meter-fill' + (pct >= 100 ? ' full' : ''), dataset: { pct: String(pct) } })),
        h('span', { class: 'small load-text' + (over ? ' over' : ''), 'data-testid': 'supervisor-load', text: ' ' + loadText(a) }),
        over ? h('span', { class: 'chip warn-chip', text: t('supervisor.over_capacity') }) : null)));
    }
    // Widths through CSSOM, not a style attribute: the policy allows no inline styles.
    for (const fill of document.querySelectorAll('.meter-fill')) fill.style.width = fill.dataset.pct + '%';
    $('updated').textContent = t('supervisor.updated', { time: P.clock(fetchedAt) });
    tick();
  }

  function waitingCard(q, w, agents) {
    const first = w.first_message || '';
    let offer;
    if (w.offered_to) {
      offer = h('span', { class: 'offer-state', 'data-testid': 'waiting-offered-to' },
        t('supervisor.offered_to', { name: w.offered_to_name || '' }), ' · ',
        h('span', { dataset: { until: String(fetchedAt + (Number(w.offer_left_ms) || 0)) } }));
    } else {
      offer = h('span', { class: 'offer-state muted', 'data-testid': 'waiting-offered-to',
        text: q.assignment === 'pick' ? t('supervisor.waiting_to_be_taken') : t('supervisor.not_offered') });
    }
    return h('li', { class: 'wait-card', 'data-testid': 'supervisor-waiting', dataset: { sessionId: w.session_id || '' } },
      h('div', { class: 'wait-head' },
        channelChip(w.channel),
        h('strong', { class: 'ellipsis', 'data-testid': 'waiting-customer', text: customerName(w.customer) }),
        age(w.waiting_ms, { class: 'chip age', 'data-testid': 'waiting-age' })),
      h('p', { class: 'first-message', 'data-testid': 'waiting-first-message', title: first, text: first || t('console.no_text') }),
      h('div', { class: 'wait-foot' }, offer,
        h('span', { class: 'wait-actions' },
          h('a', { class: 'button small', href: '/console#session=' + encodeURIComponent(w.session_id || ''), 'data-testid': 'waiting-open', text: t('supervisor.open') }),
          h('button', {
            type: 'button', class: 'small primary', 'data-testid': 'waiting-assign', text: t('supervisor.assign'),
            onclick: () => openAssign(q, w),
          }))));
  }

  // --- Assign ----------------------------------------------------------------------------------

  function openAssign(q, w) {
    assigning = { queueId: q.id, sessionId: w.session_id };
    pendingOver = null;
    $('assign-q').value = '';
    const dialog = $('assign-dialog');
    renderAssign();
    if (!dialog.open) dialog.showModal();
    $('assign-q').focus();
  }

  /** The waiting session the dialog is for, as the last overview has it (null once taken). */
  function assignedItem() {
    if (!assigning || !overview) return null;
    for (const q of items(overview.queues, 'queues')) {
      for (const w of q.waiting || []) if (w.session_id === assigning.sessionId) return w;
    }
    return null;
  }

  function renderAssign() {
    const w = assignedItem();
    const list = clear($('assign-agents'));
    $('assign-over').hidden = !pendingOver;
    if (!w) {
      $('assign-h').textContent = t('supervisor.assign');
      $('assign-what').textContent = t('supervisor.taken_meanwhile');
      $('assign-none').hidden = true;
      return;
    }
    $('assign-h').textContent = t('supervisor.assign_title', { customer: customerName(w.customer) });
    $('assign-what').textContent = w.first_message || '';
    const query = $('assign-q').value.trim().toLowerCase();
    const agents = agentsById();
    const eligible = (w.assignable_to || []).map((id) => agents.get(id)).filter(Boolean)
      .filter((a) => !query || (a.name || '').toLowerCase().includes(query))
      .sort((x, y) => (x.name || '').localeCompare(y.name || ''));
    $('assign-none').hidden = eligible.length > 0;
    for (const a of eligible) {
      const full = (Number(a.load) || 0) >= (Number(a.capacity) || 0);
      list.appendChild(h('li', null, h('button', {
        type: 'button', class: 'pick', 'data-testid': 'assign-agent', dataset: { agentId: a.id, full: full ? 'true' : 'false' },
        onclick: () => (full ? askOver(a) : assign(a, false)),
      },
      h('span', { class: 'pick-line' }, h('strong', { text: a.name || '' }),
        h('span', { class: 'presence-chip small', dataset: { presence: a.presence || '' } },
          h('span', { class: 'dot', 'aria-hidden': 'true' }), a.presence ? t('common.presence_' + a.presence) : '')),
      h('span', { class: 'small' + (full ? ' over' : ' muted'), text: loadText(a) + (full ? ' · ' + t('supervisor.full') : '') }))));
    }
  }

  function askOver(a) {
    pendingOver = a;
    $('assign-over-text').textContent = t('supervisor.assign_over_question', {
      name: a.name || '', load: number(Number(a.load) || 0), capacity: number(Number(a.capacity) || 0),
    });
    $('assign-over').hidden = false;
    $('assign-over-yes').focus();
  }

  async function assign(a, over) {
    if (!assigning) return;
    const id = assigning.sessionId;
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/assign', { agent_id: a.id, over_capacity: Boolean(over) });
      notify(t('supervisor.assigned', { name: a.name || '' }), 'info');
      closeDialog('assign-dialog');
    } catch (err) {
      showError(t('supervisor.assign_failed'), err);
    }
    refresh();
  }

  // --- An agent's conversations ----------------------------------------------------------------

  function watch(agentId) {
    watched = agentId;
    desk = null;
    $('agent-panel').hidden = false;
    for (const tr of document.querySelectorAll('#agents tr')) {
      if (tr.dataset.agentId === agentId) tr.setAttribute('aria-current', 'true');
      else tr.removeAttribute('aria-current');
    }
    loadDesk();
  }

  async function loadDesk() {
    const id = watched;
    if (!id) return;
    try {
      const got = await api('GET', '/api/v1/supervisor/agents/' + encodeURIComponent(id) + '/sessions');
      if (watched !== id) return;
      desk = got;
      desk.fetchedAt = Date.now();
      renderDesk();
    } catch (err) {
      showError(t('supervisor.desk_failed'), err);
    }
  }

  function renderDesk() {
    if (!desk) return;
    const a = desk.agent || {};
    $('agent-panel-h').textContent = t('supervisor.conversations_of', { name: a.name || '' });
    $('agent-panel-load').textContent = loadText(a);
    const sessions = items(desk.sessions);
    const offers = items(desk.offers);
    const list = clear($('agent-sessions'));
    for (const s of sessions) list.appendChild(deskCard(s, a, false));
    $('agent-sessions-empty').hidden = sessions.length > 0;
    const offerList = clear($('agent-offers'));
    for (const s of offers) offerList.appendChild(deskCard(s, a, true));
    $('agent-offers-h').hidden = offers.length === 0;
    tick();
  }

  function deskCard(s, agent, isOffer) {
    const unread = Number(s.unread) || 0;
    const since = desk.fetchedAt - (Number(s.age_ms) || 0);
    const open = s.status !== 'ended' && s.status !== 'error';
    return h('li', { class: 'wait-card' + (unread ? ' has-unread' : ''), 'data-testid': isOffer ? 'agent-offer' : 'agent-session', dataset: { sessionId: s.session_id || '' } },
      h('div', { class: 'wait-head' },
        channelChip(s.channel),
        h('strong', { class: 'ellipsis', text: customerName(s.customer) }),
        s.status && s.status !== 'active' ? h('span', { class: 'chip status-' + s.status, text: named('session', s.status) }) : null,
        h('span', { class: 'chip age', dataset: { since: String(since) } }),
        unread ? h('span', { class: 'unread', 'data-testid': 'agent-session-unread', 'aria-label': t('console.unread', { n: number(unread) }), text: number(unread) }) : null),
      h('p', { class: 'first-message', title: s.last_message || '', text: s.last_message || s.first_message || t('console.no_text') }),
      h('div', { class: 'wait-foot' },
        h('span', { class: 'muted small', text: isOffer ? t('supervisor.offer_pending') : '' }),
        h('span', { class: 'wait-actions' },
          h('a', { class: 'button small', href: '/console#session=' + encodeURIComponent(s.session_id || ''), 'data-testid': 'agent-session-open', text: t('supervisor.open') }),
          !isOffer && open ? h('button', { type: 'button', class: 'small', 'data-testid': 'agent-session-transfer', text: t('supervisor.transfer'), onclick: () => openTransfer(s, agent) }) : null,
          !isOffer && open ? h('button', { type: 'button', class: 'small', 'data-testid': 'agent-session-whisper', text: t('supervisor.whisper'), onclick: () => openWhisper(s, agent) }) : null)));
  }

  // --- Transfer (the console's transfer service, as the supervisor) -----------------------------

  function openTransfer(s, agent) {
    transferring = { session: s, agent };
    $('transfer-h').textContent = t('supervisor.transfer_title', { customer: customerName(s.customer) });
    $('board-transfer-q').value = '';
    const queues = clear($('board-transfer-queues'));
    for (const q of items(overview && overview.queues, 'queues')) {
      queues.appendChild(h('li', null, h('button', {
        type: 'button', class: 'pick', 'data-testid': 'board-transfer-queue', text: q.name || '',
        onclick: () => transfer({ queue_id: q.id }, q.name),
      })));
    }
    searchTransfer();
    $('transfer-dialog').showModal();
    $('board-transfer-q').focus();
  }

  async function searchTransfer() {
    if (!transferring) return;
    const q = $('board-transfer-q').value.trim();
    let found;
    try {
      found = await api('GET', '/api/v1/agents/transfer-targets?q=' + encodeURIComponent(q));
    } catch (err) {
      showError(t('supervisor.transfer_failed'), err);
      return;
    }
    const list = clear($('board-transfer-agents'));
    for (const a of items(found)) {
      if (transferring && a.id === transferring.agent.id) continue;
      list.appendChild(h('li', null, h('button', {
        type: 'button', class: 'pick', 'data-testid': 'board-transfer-agent', text: a.name || '',
        onclick: () => transfer({ agent_id: a.id }, a.name),
      })));
    }
  }

  async function transfer(to, name) {
    if (!transferring) return;
    const id = transferring.session.session_id;
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/transfer', to);
      notify(t('supervisor.transferred', { name: name || '' }), 'info');
      closeDialog('transfer-dialog');
    } catch (err) {
      showError(t('supervisor.transfer_failed'), err);
    }
    refresh();
  }

  // --- Whisper (a note only the agent sees: s15-notes's notes API) ------------------------------

  function openWhisper(s, agent) {
    whispering = { session: s, agent };
    $('whisper-h').textContent = t('supervisor.whisper_title', { name: agent.name || '', customer: customerName(s.customer) });
    $('whisper-body').value = '';
    $('whisper-dialog').showModal();
    $('whisper-body').focus();
  }

  async function sendWhisper(ev) {
    ev.preventDefault();
    if (!whispering) return;
    const body = $('whisper-body').value.trim();
    if (!body) {
      $('whisper-body').focus();
      return;
    }
    const button = $('whisper-send');
    button.disabled = true;
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(whispering.session.session_id) + '/notes',
        { body, whisper_to: whispering.agent.id });
      notify(t('supervisor.whispered', { name: whispering.agent.name || '' }), 'info');
      closeDialog('whisper-dialog');
    } catch (err) {
      showError(t('supervisor.whisper_failed'), err);
    } finally {
      button.disabled = false;
    }
  }

  function closeDialog(id) {
    const d = $(id);
    if (d.open) d.close();
  }

  // --- Ticking and live events -----------------------------------------------------------------

  /** Ages grow and offer countdowns shrink between fetches. */
  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll('[data-since]')) el.textContent = duration(now - Number(el.dataset.since));
    for (const el of document.querySelectorAll('[data-until]')) {
      const left = Number(el.dataset.until) - now;
      el.textContent = left > 0 ? t('console.time_left', { time: duration(left) }) : t('console.expiring');
    }
  }

  const refresh = (function () {
    let timer = null;
    return () => {
      if (!timer) timer = setTimeout(() => { timer = null; load(); }, 100);
    };
  })();

  for (const name of ['queue', 'session', 'presence', 'offer', 'offer_withdrawn', 'resync']) P.on(name, refresh);
  // A message in a watched agent's conversation: their panel's last message and unread count.
  P.on('entry', (data) => {
    if (!desk || !data) return;
    const shown = items(desk.sessions).concat(items(desk.offers));
    if (shown.some((s) => s.session_id === data.session_id)) loadDesk();
  });

  document.addEventListener('DOMContentLoaded', () => {
    $('assign-q').addEventListener('input', () => { pendingOver = null; renderAssign(); });
    $('assign-over-yes').addEventListener('click', () => { if (pendingOver) assign(pendingOver, true); });
    $('assign-dialog').addEventListener('close', () => { assigning = null; pendingOver = null; });
    $('board-transfer-q').addEventListener('input', P.debounce(searchTransfer, 150));
    $('transfer-dialog').addEventListener('close', () => { transferring = null; });
    $('whisper-form').addEventListener('submit', sendWhisper);
    $('whisper-cancel').addEventListener('click', () => closeDialog('whisper-dialog'));
    $('whisper-dialog').addEventListener('close', () => { whispering = null; });
    $('agent-panel-close').addEventListener('click', () => {
      watched = null;
      desk = null;
      $('agent-panel').hidden = true;
      for (const tr of document.querySelectorAll('#agents tr')) tr.removeAttribute('aria-current');
    });
    load();
    setInterval(tick, 1000);
    // A safety net only: events drive the board.
    setInterval(load, 30000);
  });
})();
