// Retention (Privacy page, #panel-retention): how long each kind of data is kept, for all
// channels and per channel. One row per kind; a picker per channel column (keep forever, or a
// number of days); a change is saved at once (PUT /api/v1/retention-policies) and "keep forever"
// deletes the policy. The built-in error-log period (TM-08) shows until a policy replaces it.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, t } = P;
  const BASE = '/api/v1/retention-policies';
  const CHOICES = [7, 14, 30, 60, 90, 180, 365, 730, 1825, 3650];
  const panel = $('panel-retention');
  if (!panel) return;
  let loaded = false;

  const plurals = new Intl.PluralRules(document.documentElement.lang || 'en');

  function daysWords(d) {
    return t(plurals.select(d) === 'one' ? 'retention.days_one' : 'retention.days_other', { n: P.number(d) });
  }

  function picker(kind, channel, current, fallback) {
    const id = 'retention-' + kind + '-' + (channel ? channel.id : 'all');
    const options = [h('option', { value: '', selected: current === undefined,
      text: fallback === undefined ? t('retention.keep') : t('retention.inherit', { days: daysWords(fallback) }) })];
    const values = new Set(CHOICES);
    if (current !== undefined) values.add(current);
    for (const d of [...values].sort((a, b) => a - b)) {
      options.push(h('option', { value: String(d), selected: d === current, text: daysWords(d) }));
    }
    const label = channel ? t('retention.for_channel', { kind: t('retention.kind.' + kind), channel: channel.name })
      : t('retention.for_all', { kind: t('retention.kind.' + kind) });
    return h('select', { id, 'aria-label': label, 'data-testid': id, 'data-kind': kind,
      onchange: (ev) => save(kind, channel, ev.target.value) }, ...options);
  }

  async function save(kind, channel, value) {
    try {
      if (value === '') {
        const existing = state.policies.find((p) => p.kind === kind && (p.channel_id || null) === (channel ? channel.id : null));
        if (existing) await api('DELETE', BASE + '/' + encodeURIComponent(existing.id));
      } else {
        await api('PUT', BASE, { channel_id: channel ? channel.id : null, kind, days: Number(value) });
      }
      notify(t('retention.saved'), 'info');
      await show();
    } catch (e) {
      showError(t('retention.error.save'), e);
      await show();
    }
  }

  const state = { policies: [], builtin: [], kinds: [], channels: [] };

  async function show() {
    try {
      const [listed, channels] = await Promise.all([api('GET', BASE), api('GET', '/api/v1/channels?limit=200')]);
      state.policies = listed.policies;
      state.builtin = listed.builtin;
      state.kinds = listed.kinds;
      state.channels = items(channels).sort((a, b) => a.name.localeCompare(b.name));
    } catch (e) {
      showError(t('retention.error.load'), e);
      return;
    }
    const head = h('tr', null, h('th', { scope: 'col', text: t('retention.col.kind') }),
      h('th', { scope: 'col', text: t('retention.col.all') }),
      ...state.channels.map((c) => h('th', { scope: 'col', text: c.name })));
    const rows = state.kinds.map((k) => {
      const find = (ch) => state.policies.find((p) => p.kind === k.kind && (p.channel_id || null) === ch);
      const all = find(null);
      const builtin = state.builtin.find((b) => b.kind === k.kind && !b.replaced);
      const allDays = all ? all.days : (builtin ? builtin.days : undefined);
      const cells = state.channels.map((c) => {
        if (!k.per_channel) return h('td', { class: 'muted', text: t('retention.all_only') });
        const own = find(c.id);
        return h('td', null, picker(k.kind, c, own ? own.days : undefined, allDays));
      });
      const allCell = h('td', null, picker(k.kind, null, all ? all.days : undefined, builtin ? builtin.days : undefined));
      return h('tr', { 'data-testid': 'retention-row', 'data-kind': k.kind },
        h('th', { scope: 'row' }, h('div', { text: t('retention.kind.' + k.kind) }),
          h('div', { class: 'muted small', text: t('retention.what.' + k.kind) })),
        allCell, ...cells);
    });
    const body = $('retention-body');
    clear(body);
    body.append(h('div', { class: 'table-scroll' },
      h('table', { class: 'list', 'data-testid': 'retention-table' }, h('thead', null, head), h('tbody', null, ...rows))));
  }

  function build() {
    clear(panel);
    panel.append(
      h('h1', { text: t('privacy.tab.retention') }),
      h('p', { class: 'intro', text: t('retention.intro') }),
      h('p', { class: 'intro muted', text: t('retention.rule') }),
      h('div', { id: 'retention-body' }));
  }

  document.addEventListener('privacy:tab', (ev) => {
    if (ev.detail !== 'retention' || loaded) return;
    loaded = true;
    build();
    show();
  });
  // Opened on this tab: privacy.js showed it before this script listened.
  if (!panel.hidden && !loaded) {
    loaded = true;
    build();
    show();
  }
})();
