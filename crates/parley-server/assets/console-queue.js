// Pick-from-queue: the waiting sessions of queues where agents take work themselves (RT-13), in
// the console's rail: customer, channel, first message, age, and Take. Added to the agent console
// through `Parley.console` (console.js's extension points); refreshed on queue and session events.
'use strict';

(function () {
  const P = window.Parley;
  if (!P || !P.console) return;
  const { api, h, clear, $, showError, notify, duration, items, t, number } = P;

  let list = null;
  let fetchedAt = 0;
  let failing = false;
  let taking = null;

  const named = (group, v) => {
    if (!v) return '';
    const key = 'console.' + group + '_' + v;
    const text = t(key);
    return text === key ? v : text;
  };

  /** What to call the customer: their name, else their number (the console's rule). */
  const customerName = (c) => P.console.customerName({ name: c && c.name, platform_key: c && c.platform_key });

  async function load() {
    if (!P.can('send_receive')) return;
    try {
      list = await api('GET', '/api/v1/me/pick-queues');
      fetchedAt = Date.now();
      failing = false;
      render();
    } catch (err) {
      if (!failing) showError(t('queue_pick.load_failed'), err);
      failing = true;
    }
  }

  function render() {
    const panel = $('pick-panel');
    const queues = items(list && list.queues, 'queues');
    // Agents of push queues only never see the panel.
    panel.hidden = queues.length === 0;
    if (!queues.length) return;
    const load = Number(list.load) || 0;
    const capacity = Number(list.capacity) || 0;
    const full = load >= capacity;
    const capacityNote = $('pick-capacity');
    capacityNote.hidden = !full;
    capacityNote.textContent = full ? t('queue_pick.at_capacity', { load: number(load), capacity: number(capacity) }) : '';
    const box = clear($('pick-queues'));
    let total = 0;
    for (const q of queues) {
      const waiting = Array.isArray(q.waiting) ? q.waiting : [];
      if (!waiting.length) continue;
      total += waiting.length;
      if (queues.length > 1) box.appendChild(h('h3', { class: 'queue-h', text: q.name || '' }));
      box.appendChild(h('ul', { class: 'wait-cards' }, waiting.map((w) => card(w, full))));
    }
    $('pick-empty').hidden = total > 0;
    const count = $('pick-count');
    count.hidden = total === 0;
    count.textContent = number(total);
    tick();
  }

  function card(w, full) {
    const first = w.first_message || '';
    const kind = (w.channel && w.channel.kind) || '';
    const take = h('button', {
      type: 'button', class: 'small primary', 'data-testid': 'pick-take', text: t('queue_pick.take'),
      title: t('queue_pick.take_title'), disabled: full || taking === w.session_id,
      onclick: () => takeIt(w.session_id, take),
    });
    return h('li', { class: 'wait-card', 'data-testid': 'pick-item', dataset: { sessionId: w.session_id || '' } },
      h('div', { class: 'wait-head' },
        h('span', { class: 'chip kind-' + kind, title: (w.channel && w.channel.name) || '', text: named('kind', kind) }),
        h('strong', { class: 'ellipsis', 'data-testid': 'pick-customer', text: customerName(w.customer) }),
        h('span', { class: 'chip age', dataset: { pickSince: String(fetchedAt - (Number(w.waiting_ms) || 0)) } })),
      h('p', { class: 'first-message', 'data-testid': 'pick-first-message', title: first, text: first || t('console.no_text') }),
      h('div', { class: 'wait-foot' },
        h('span', { class: 'muted small ellipsis', text: (w.channel && w.channel.name) || '' }),
        h('span', { class: 'wait-actions' }, take)));
  }

  async function takeIt(id, button) {
    taking = id;
    button.disabled = true;
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/take');
      notify(t('queue_pick.taken'), 'info');
      P.console.refreshWork();
      P.console.select(id);
    } catch (err) {
      showError(t('queue_pick.take_failed'), err);
    } finally {
      taking = null;
      refresh();
    }
  }

  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll('[data-pick-since]')) el.textContent = duration(now - Number(el.dataset.pickSince));
  }

  const refresh = (function () {
    let timer = null;
    return () => {
      if (!timer) timer = setTimeout(() => { timer = null; load(); }, 60);
    };
  })();

  for (const name of ['queue', 'session', 'offer_withdrawn', 'resync']) P.on(name, refresh);
  // Capacity moves with the agent's own work (an end, an inactive): Take is allowed again.
  P.console.on('work', refresh);

  document.addEventListener('DOMContentLoaded', () => {
    load();
    setInterval(tick, 1000);
    // A safety net only: events drive the list.
    setInterval(load, 30000);
  });
})();
