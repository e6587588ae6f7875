/**
 * Sender limits on the admin page's Channels tab (issue 18): each channel's limits as bars with
 * their use, maximum and state in words, and the messages held for review with Release and
 * Cancel. Reads GET /api/v1/sender-limits; every text goes through Parley.t (area `limits`), and
 * channel names and held messages' text are set as text, never as HTML.
 */
(function () {
  const { t, api, items, h, clear, notify, showError, when } = window.Parley;

  function section() {
    return document.getElementById('sender-limits');
  }

  function channelsTabActive() {
    const tab = document.querySelector('#admin-tabs [role="tab"][aria-selected="true"]');
    return tab ? tab.dataset.resource === 'channels' : true;
  }

  function bar(limit) {
    const max = limit.max;
    const share = max ? Math.min(100, Math.round((limit.used / max) * 100)) : 0;
    const use = max === null || max === undefined
      ? t('limits.use_unlimited', { used: limit.used })
      : t('limits.use', { used: limit.used, max });
    const meter = h('meter', {
      min: '0', max: String(max || 1), value: String(Math.min(limit.used, max || 0)),
      low: String(limit.warn_at || max || 1), high: String(limit.warn_at || max || 1), optimum: '0',
      'aria-label': t('limits.limit.' + limit.limit),
    });
    return h('li', { class: 'limit limit-' + limit.state, dataset: { limit: limit.limit, state: limit.state, testid: 'limit-' + limit.limit } },
      h('span', { class: 'limit-name', text: t('limits.limit.' + limit.limit) }),
      meter,
      h('span', { class: 'limit-use', text: use + (max ? ' (' + share + ' %)' : '') }),
      h('strong', { class: 'limit-state', text: t('limits.state.' + limit.state) }),
      h('span', { class: 'muted limit-action', text: t('limits.action.' + limit.action) }));
  }

  function held(channel) {
    if (!channel.held.length) return null;
    const rows = channel.held.map((m) => h('li', { dataset: { entry: m.entry_id } },
      h('span', { class: 'muted', text: when(m.held_at) + ' · ' + t('limits.limit.' + m.limit) + ' · ' }),
      h('span', { text: m.body }),
      ' ',
      h('button', { type: 'button', text: t('limits.release'), dataset: { testid: 'limit-release' }, onclick: () => act(m.entry_id, 'release') }),
      ' ',
      h('button', { type: 'button', text: t('limits.cancel'), dataset: { testid: 'limit-cancel' }, onclick: () => act(m.entry_id, 'cancel') })));
    return h('details', { open: true },
      h('summary', { text: t('limits.held', { count: channel.held.length }) }),
      h('ul', { class: 'held' }, rows));
  }

  async function act(entryId, action) {
    try {
      await api('POST', '/api/v1/sender-holds/' + encodeURIComponent(entryId) + '/' + action);
      notify(t(action === 'release' ? 'limits.released' : 'limits.cancelled'));
      await load();
    } catch (err) {
      showError(t('limits.load_failed'), err);
    }
  }

  function card(channel) {
    const limits = channel.limits.length
      ? h('ul', { class: 'limits' }, channel.limits.map(bar))
      : h('p', { class: 'muted', text: t('limits.none') });
    return h('article', { class: 'sender-limit', dataset: { channel: channel.channel_id, testid: 'sender-limit' } },
      h('h3', { text: channel.channel_name }),
      h('p', { class: 'muted', text: t('console.kind_' + channel.kind) + (channel.number_type ? ' · ' + t('limits.number_type.' + channel.number_type) : '') + ' · ' + t('limits.throughput', { mps: channel.throughput_mps }) }),
      limits,
      held(channel));
  }

  async function load() {
    const root = section();
    if (!root) return;
    root.hidden = !channelsTabActive();
    if (root.hidden) return;
    const body = document.getElementById('sender-limits-body');
    clear(body).append(h('p', { class: 'muted', text: t('limits.loading') }));
    try {
      const data = await api('GET', '/api/v1/sender-limits');
      const list = items(data);
      clear(body);
      if (!list.length) body.append(h('p', { class: 'empty', text: t('limits.empty') }));
      for (const channel of list) body.append(card(channel));
    } catch (err) {
      clear(body);
      // Someone without configure_messaging sees no limits rather than an error.
      if (err.status === 403) { root.hidden = true; return; }
      showError(t('limits.load_failed'), err);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    const root = section();
    if (!root) return;
    root.prepend(h('h2', { text: t('limits.title') }), h('p', { class: 'muted', text: t('limits.help') }));
    for (const tab of document.querySelectorAll('#admin-tabs [role="tab"]')) {
      tab.addEventListener('click', () => setTimeout(load, 0));
    }
    window.addEventListener('hashchange', load);
    load();
  });
})();
