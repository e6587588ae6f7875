// Supervisor view: queues with their waiting sessions and how long each has waited, agents with
// presence and load. Refetched on queue, session and presence events; ages tick locally between.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, showError, duration, items, t, number } = P;

  let overview = null;
  let fetchedAt = 0;
  let failing = false;

  async function load() {
    try {
      overview = await api('GET', '/api/v1/supervisor/overview');
      fetchedAt = Date.now();
      failing = false;
      render();
    } catch (err) {
      // One notice per outage, not one per event.
      if (!failing) showError(t('supervisor.load_failed'), err);
      failing = true;
    }
  }

  /** Ages grow by the time since the fetch, so the board stays right between events. */
  function render() {
    if (!overview) return;
    const elapsed = Date.now() - fetchedAt;
    const queues = clear($('queues'));
    for (const q of items(overview.queues, 'queues')) {
      const waiting = Array.isArray(q.waiting) ? q.waiting : [];
      const longest = waiting.reduce((m, w) => Math.max(m, Number(w.waiting_ms) || 0), 0);
      const est = q.estimated_wait_minutes;
      queues.appendChild(h('tr', { 'data-testid': 'supervisor-queue', dataset: { queueId: q.id || '' } },
        h('th', { scope: 'row', text: q.name || '' }),
        h('td', { class: 'num', text: number(waiting.length) }),
        h('td', { class: longest + elapsed > 5 * 60000 && waiting.length ? 'warn' : '', text: waiting.length ? duration(longest + elapsed) : '—' }),
        h('td', { text: est === null || est === undefined ? t('supervisor.not_enough_data') : t('common.minutes', { n: number(est) }) }),
        h('td', null, h('ul', { class: 'waits' }, waiting.map((w) => h('li', {
          'data-testid': 'supervisor-waiting', dataset: { sessionId: w.session_id || '' },
        }, h('span', { class: 'chip', text: duration((Number(w.waiting_ms) || 0) + elapsed) })))))));
    }
    const agents = clear($('agents'));
    for (const a of items(overview.agents, 'agents')) {
      const load = Number(a.load) || 0;
      const capacity = Number(a.capacity) || 0;
      const pct = capacity ? Math.min(100, Math.round((load / capacity) * 100)) : 0;
      agents.appendChild(h('tr', { 'data-testid': 'supervisor-agent', dataset: { agentId: a.id || '', presence: a.presence || '' } },
        h('th', { scope: 'row', text: a.name || '' }),
        h('td', null, h('span', { class: 'presence-chip', dataset: { presence: a.presence || '' } },
          h('span', { class: 'dot', 'aria-hidden': 'true' }), a.presence ? t('common.presence_' + a.presence) : '')),
        h('td', null,
          h('span', { class: 'meter', role: 'img', 'aria-label': t('supervisor.load_of', { load: number(load), capacity: number(capacity) }) },
            h('span', { class: 'meter-fill' + (pct >= 100 ? ' full' : ''), style: null, dataset: { pct: String(pct) } })),
          h('span', { class: 'small', text: ' ' + number(load) + ' / ' + number(capacity) }))));
    }
    // Widths through CSSOM, not a style attribute: the policy allows no inline styles.
    for (const fill of document.querySelectorAll('.meter-fill')) fill.style.width = fill.dataset.pct + '%';
    $('updated').textContent = t('supervisor.updated', { time: P.clock(fetchedAt) });
  }

  const refresh = (function () {
    let timer = null;
    return () => {
      if (!timer) timer = setTimeout(() => { timer = null; load(); }, 100);
    };
  })();

  for (const name of ['queue', 'session', 'presence', 'resync']) P.on(name, refresh);

  document.addEventListener('DOMContentLoaded', () => {
    load();
    setInterval(render, 1000);
    // A safety net only: events drive the board.
    setInterval(load, 30000);
  });
})();
