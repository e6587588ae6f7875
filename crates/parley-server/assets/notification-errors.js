// Notification errors (admins): the log of triggered notifications that were not sent (TM-08),
// newest first, each with its time in words, channel, recipient, stage, code and reason; the
// request as received on expand; filters by channel and stage; Delete once dealt with. Entries
// leave by themselves after the retention (30 days by default). Everything from the server is
// put in the page as text (Parley.h), never as markup: the inputs hold customers' data.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, ago, t } = P;
  const BASE = '/api/v1/notification-errors';
  const STAGES = [
    ['', t('notification_errors.stage.all')],
    ['validation', t('notification_errors.stage.validation')],
    ['exclusion', t('notification_errors.stage.exclusion')],
    ['provider', t('notification_errors.stage.provider')],
  ];
  const STAGE_WORDS = {
    validation: t('notification_errors.stage.validation'),
    exclusion: t('notification_errors.stage_words.exclusion'),
    provider: t('notification_errors.stage_words.provider'),
  };

  let channels = new Map();
  const filter = { channel_id: '', stage: '' };

  async function loadChannels() {
    try {
      channels = new Map(items(await api('GET', '/api/v1/channels?limit=200')).map((c) => [c.id, c.name]));
    } catch (e) {
      showError(t('notification_errors.error.load_channels'), e);
    }
  }

  function select(id, label, options, value, onchange) {
    const el = h('select', { id, 'data-testid': id, onchange: (ev) => onchange(ev.target.value) },
      ...options.map(([v, words]) => h('option', { value: v, selected: v === value, text: words })));
    return h('label', { class: 'field inline', for: id }, h('span', { text: label }), ' ', el);
  }

  function filters() {
    const chans = [['', t('notification_errors.all_channels')], ...[...channels.entries()].sort((a, b) => a[1].localeCompare(b[1]))];
    return h('div', { class: 'filters', 'data-testid': 'nerr-filters' },
      select('nerr-channel', t('notification_errors.channel'), chans, filter.channel_id, (v) => { filter.channel_id = v; show(); }), ' ',
      select('nerr-stage', t('notification_errors.stage'), STAGES, filter.stage, (v) => { filter.stage = v; show(); }));
  }

  function inputsText(e) {
    try {
      return JSON.stringify(e.inputs, null, 2);
    } catch (_) {
      return String(e.inputs);
    }
  }

  async function remove(e, row, detail) {
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(e.id));
      row.remove();
      detail.remove();
      notify(t('notification_errors.deleted'), 'info');
    } catch (err) {
      showError(t('notification_errors.error.delete'), err);
    }
  }

  function rowsOf(e) {
    const channel = e.channel_id ? (channels.get(e.channel_id) || t('notification_errors.deleted_channel')) : '—';
    const detail = h('tr', { class: 'detail', hidden: true, 'data-testid': 'nerr-detail' },
      h('td', { colspan: '6' },
        h('div', { class: 'empty', text: e.entry_id ? t('notification_errors.template_message', { template: e.template, entry: e.entry_id }) : t('notification_errors.template', { template: e.template }) }),
        h('pre', { class: 'inputs', 'data-testid': 'nerr-inputs', text: inputsText(e) })));
    const toggle = h('button', { type: 'button', 'aria-expanded': 'false', 'data-testid': 'nerr-expand' }, t('notification_errors.inputs'));
    toggle.addEventListener('click', () => {
      detail.hidden = !detail.hidden;
      toggle.setAttribute('aria-expanded', String(!detail.hidden));
    });
    const code = e.code + (e.code_message ? ' · ' + e.code_message : '');
    const row = h('tr', { 'data-testid': 'nerr-row', 'data-stage': e.stage },
      h('td', { class: 'when', title: P.exact(e.at), text: ago(e.at) }),
      h('td', { text: channel }),
      h('td', { text: e.recipient || '—' }),
      h('td', { text: STAGE_WORDS[e.stage] || e.stage }),
      h('td', null, h('strong', { text: code }), h('div', { class: 'reason', text: e.reason })),
      h('td', { class: 'actions' }, toggle, ' ',
        h('button', { type: 'button', class: 'danger', 'data-testid': 'nerr-delete', onclick: () => remove(e, row, detail) }, t('notification_errors.delete'))));
    return [row, detail];
  }

  async function show() {
    const box = $('nerr-list');
    const q = new URLSearchParams({ limit: '200' });
    if (filter.channel_id) q.set('channel_id', filter.channel_id);
    if (filter.stage) q.set('stage', filter.stage);
    let list;
    try {
      list = items(await api('GET', BASE + '?' + q.toString()));
    } catch (e) {
      showError(t('notification_errors.error.load'), e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' }, h('h2', { text: t('notification_errors.title') })));
    box.append(h('p', { class: 'empty' },
      t('notification_errors.intro')));
    box.append(filters());
    if (!list.length) {
      box.append(h('p', { class: 'empty', 'data-testid': 'nerr-empty', text: t('notification_errors.none') }));
      return;
    }
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...[t('notification_errors.col.when'), t('notification_errors.channel'), t('notification_errors.col.recipient'), t('notification_errors.stage'), t('notification_errors.col.code'), ''].map((x) => h('th', { text: x })))),
      h('tbody', null, ...list.flatMap(rowsOf))));
  }

  document.addEventListener('DOMContentLoaded', async () => {
    await loadChannels();
    await show();
  });
})();
