// The simulator phone: a person plays the customer on a simulator channel. Sends go to
// POST /simulator/inbound (the same pipeline as a provider webhook); what the business sent is
// polled from GET /simulator/messages at a fixed, bounded interval.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, showError, when, t } = P;

  const POLL_MS = 1500;
  const POLL_HIDDEN_MS = 6000;
  const STORE_KEY = 'parley.simulator';

  let channels = [];
  let seen = new Set();
  let lastId = null;
  let party = '';
  let timer = null;
  let generation = 0;

  const FROM_LABELS = {
    sms: ['simulator.from_phone', 'simulator.hint_phone'],
    whatsapp: ['simulator.from_whatsapp', 'simulator.hint_phone'],
    messenger: ['simulator.from_messenger', 'simulator.hint_messenger'],
    web: ['simulator.from_web', 'simulator.hint_web'],
  };

  function channel() {
    return channels.find((c) => c.id === $('sim-channel').value) || null;
  }

  function remember() {
    try {
      window.localStorage.setItem(STORE_KEY, JSON.stringify({ channel: $('sim-channel').value, from: $('sim-from').value }));
    } catch (_) {
      // Private windows may refuse storage; the page works without it.
    }
  }

  function recall() {
    try {
      return JSON.parse(window.localStorage.getItem(STORE_KEY) || '{}') || {};
    } catch (_) {
      return {};
    }
  }

  function describe() {
    const c = channel();
    const [labelText, hint] = FROM_LABELS[(c && c.kind) || 'sms'] || FROM_LABELS.sms;
    $('sim-from-label').textContent = t(labelText);
    $('sim-from-hint').textContent = t(hint);
    $('sim-peer').textContent = c ? c.name + ' · ' + c.address : t('simulator.no_channel');
  }

  /** Starts the conversation view over: another channel or another customer. */
  function reset() {
    generation += 1;
    seen = new Set();
    lastId = null;
    party = $('sim-from').value.trim();
    clear($('sim-messages'));
    describe();
    remember();
    poll();
  }

  function render(m) {
    const c = channel();
    if (!m || seen.has(m.id) || (c && m.channel_id !== c.id)) return;
    seen.add(m.id);
    // On the phone, the customer's own messages are on the right.
    const mine = m.direction === 'inbound';
    const list = $('sim-messages');
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.appendChild(h('li', {
      class: 'message ' + (mine ? 'out' : 'in'), 'data-testid': 'sim-message',
      dataset: { direction: m.direction || '', status: m.status || '', id: m.id || '' },
    },
    h('div', { class: 'bubble' }, h('p', { class: 'text', text: m.body || '' })),
    h('div', { class: 'meta' },
      h('time', { datetime: m.created_at || '', text: when(m.created_at) }),
      h('span', { class: 'delivery', text: m.status ? t('simulator.status_' + m.status) : '' }))));
    if (nearBottom) list.scrollTop = list.scrollHeight;
  }

  async function poll() {
    clearTimeout(timer);
    const gen = generation;
    if (party) {
      try {
        const q = '?to=' + encodeURIComponent(party) + '&limit=200' + (lastId ? '&after=' + encodeURIComponent(lastId) : '');
        const found = await api('GET', '/simulator/messages' + q);
        if (gen !== generation) return;
        for (const m of Array.isArray(found) ? found : []) {
          render(m);
          lastId = m.id;
        }
        $('sim-peer').classList.remove('stale');
      } catch (_) {
        $('sim-peer').classList.add('stale');
      }
    }
    if (gen === generation) {
      timer = setTimeout(poll, document.visibilityState === 'visible' ? POLL_MS : POLL_HIDDEN_MS);
    }
  }

  async function send(ev) {
    if (ev) ev.preventDefault();
    const c = channel();
    const text = $('sim-text').value;
    const from = $('sim-from').value.trim();
    if (!c || !from || !text.trim()) return;
    if (from !== party) reset();
    try {
      const m = await api('POST', '/simulator/inbound', { channel: c.id, from, text });
      if ($('sim-text').value === text) $('sim-text').value = '';
      render(m);
    } catch (err) {
      showError(t('simulator.not_sent'), err);
    }
    $('sim-text').focus();
  }

  document.addEventListener('DOMContentLoaded', async () => {
    try {
      channels = await api('GET', '/simulator/channels');
    } catch (err) {
      showError(t('simulator.channels_failed'), err);
      channels = [];
    }
    const select = $('sim-channel');
    for (const c of channels) {
      select.appendChild(h('option', { value: c.id, text: c.name + ' (' + t('simulator.kind_' + c.kind) + ', ' + c.address + ')' }));
    }
    if (!channels.length) select.appendChild(h('option', { value: '', text: t('simulator.no_channels') }));
    const saved = recall();
    if (saved.channel && channels.some((c) => c.id === saved.channel)) select.value = saved.channel;
    if (saved.from) $('sim-from').value = saved.from;
    // A link may name who to play (`?from=+14155552671`): the demo's campaign recipient, say.
    const asked = new URLSearchParams(window.location.search).get('from');
    if (asked && asked.trim()) $('sim-from').value = asked.trim();
    select.addEventListener('change', reset);
    $('sim-from').addEventListener('change', reset);
    $('sim-form').addEventListener('submit', send);
    $('sim-text').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        send();
      }
    });
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') poll(); });
    reset();
  });
})();
