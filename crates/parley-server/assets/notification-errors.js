// Notification errors (admins): the log of triggered notifications that were not sent (TM-08),
// newest first, each with its time in words, channel, recipient, stage, code and reason; the
// request as received on expand; filters by channel and stage; Delete once dealt with. Entries
// leave by themselves after the retention (30 days by default). Everything from the server is
// put in the page as text (Parley.h), never as markup: the inputs hold customers' data.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, ago } = P;
  const BASE = '/api/v1/notification-errors';
  const STAGES = [
    ['', 'All stages'],
    ['validation', 'Validation'],
    ['exclusion', 'Exclusion'],
    ['provider', 'Provider'],
  ];
  const STAGE_WORDS = {
    validation: 'Validation',
    exclusion: 'Recipient excluded',
    provider: 'Failed at the provider',
  };

  let channels = new Map();
  const filter = { channel_id: '', stage: '' };

  async function loadChannels() {
    try {
      channels = new Map(items(await api('GET', '/api/v1/channels?limit=200')).map((c) => [c.id, c.name]));
    } catch (e) {
      showError('Loading channels', e);
    }
  }

  function select(id, label, options, value, onchange) {
    const el = h('select', { id, 'data-testid': id, onchange: (ev) => onchange(ev.target.value) },
      ...options.map(([v, words]) => h('option', { value: v, selected: v === value, text: words })));
    return h('label', { class: 'field inline', for: id }, h('span', { text: label }), ' ', el);
  }

  function filters() {
    const chans = [['', 'All channels'], ...[...channels.entries()].sort((a, b) => a[1].localeCompare(b[1]))];
    return h('div', { class: 'filters', 'data-testid': 'nerr-filters' },
      select('nerr-channel', 'Channel', chans, filter.channel_id, (v) => { filter.channel_id = v; show(); }), ' ',
      select('nerr-stage', 'Stage', STAGES, filter.stage, (v) => { filter.stage = v; show(); }));
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
      notify('Error entry deleted', 'info');
    } catch (err) {
      showError('Deleting the entry', err);
    }
  }

  function rowsOf(e) {
    const channel = e.channel_id ? (channels.get(e.channel_id) || 'Deleted channel') : '—';
    const detail = h('tr', { class: 'detail', hidden: true, 'data-testid': 'nerr-detail' },
      h('td', { colspan: '6' },
        h('div', { class: 'empty', text: 'Template ' + e.template + (e.entry_id ? ' · message ' + e.entry_id : '') }),
        h('pre', { class: 'inputs', 'data-testid': 'nerr-inputs', text: inputsText(e) })));
    const toggle = h('button', { type: 'button', 'aria-expanded': 'false', 'data-testid': 'nerr-expand' }, 'Inputs');
    toggle.addEventListener('click', () => {
      detail.hidden = !detail.hidden;
      toggle.setAttribute('aria-expanded', String(!detail.hidden));
    });
    const code = e.code + (e.code_message ? ' · ' + e.code_message : '');
    const row = h('tr', { 'data-testid': 'nerr-row', 'data-stage': e.stage },
      h('td', { class: 'when', title: e.at, text: ago(e.at) }),
      h('td', { text: channel }),
      h('td', { text: e.recipient || '—' }),
      h('td', { text: STAGE_WORDS[e.stage] || e.stage }),
      h('td', null, h('strong', { text: code }), h('div', { class: 'reason', text: e.reason })),
      h('td', { class: 'actions' }, toggle, ' ',
        h('button', { type: 'button', class: 'danger', 'data-testid': 'nerr-delete', onclick: () => remove(e, row, detail) }, 'Delete')));
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
      showError('Loading the notification errors', e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' }, h('h2', { text: 'Notification errors' })));
    box.append(h('p', { class: 'empty' },
      'Notifications that were not sent: a merge field without a value, a recipient the rules exclude, a template that cannot go, or a failure at the provider. Entries are deleted automatically after the retention period (30 days unless configured).'));
    box.append(filters());
    if (!list.length) {
      box.append(h('p', { class: 'empty', 'data-testid': 'nerr-empty', text: 'No notification errors.' }));
      return;
    }
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...['When', 'Channel', 'Recipient', 'Stage', 'Code and reason', ''].map((t) => h('th', { text: t })))),
      h('tbody', null, ...list.flatMap(rowsOf))));
  }

  document.addEventListener('DOMContentLoaded', async () => {
    await loadChannels();
    await show();
  });
})();
