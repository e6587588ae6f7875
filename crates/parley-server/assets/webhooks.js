// Webhooks area (admins): outgoing webhook subscriptions with their event types and the state of
// their last delivery, a form with a checkbox per event type, and a subscription's deliveries
// with their answers and a Retry button. Everything goes through /api/v1/webhook-subscriptions;
// every text from the server is put in the page as text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, ago, t } = P;
  const BASE = '/api/v1/webhook-subscriptions';
  const plurals = new Intl.PluralRules(document.documentElement.lang || 'en');

  const EVENTS = [
    ['message.received', t('webhooks.event.message_received')],
    ['message.status', t('webhooks.event.message_status')],
    ['consent.changed', t('webhooks.event.consent_changed')],
    ['session.opened', t('webhooks.event.session_opened')],
    ['session.ended', t('webhooks.event.session_ended')],
    ['case.opened', t('webhooks.event.case_opened')],
    ['case.updated', t('webhooks.event.case_updated')],
    ['case.closed', t('webhooks.event.case_closed')],
  ];
  const STATUS_WORDS = { pending: t('webhooks.status.pending'), succeeded: t('webhooks.status.succeeded'), failed: t('webhooks.status.failed') };

  function deliveryState(d) {
    if (!d) return h('span', { class: 'empty', text: t('webhooks.no_deliveries_short') });
    const code = d.last_status_code ? ' (' + d.last_status_code + ')' : '';
    return h('span', { class: 'status-' + d.status, title: P.exact(d.created_at) },
      (STATUS_WORDS[d.status] || d.status) + code + ' · ' + ago(d.created_at));
  }

  async function showList() {
    const box = $('hook-list');
    let list;
    try {
      list = items(await api('GET', BASE + '?limit=200'));
    } catch (e) {
      showError(t('webhooks.error.load'), e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' },
      h('h2', { text: t('webhooks.title') }),
      h('button', { type: 'button', class: 'primary', 'data-testid': 'hook-new', onclick: () => edit(null) }, t('webhooks.new'))));
    box.append(h('p', { class: 'empty' },
      t('webhooks.intro')));
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: t('webhooks.none') }));
      return;
    }
    const rows = list.map((s) => h('tr', { 'data-testid': 'hook-row' },
      h('td', null, h('strong', { text: s.name }), h('div', { class: 'empty', text: s.url })),
      h('td', { text: s.event_types.join(', ') }),
      h('td', { text: s.channel_ids ? t('webhooks.channels_' + (plurals.select(s.channel_ids.length) === 'one' ? 'one' : 'other'), { n: s.channel_ids.length }) : t('webhooks.all_channels') }),
      h('td', { text: s.active ? t('webhooks.active') : t('webhooks.paused') }),
      h('td', null, deliveryState(s.last_delivery)),
      h('td', null,
        h('button', { type: 'button', onclick: () => deliveries(s) }, t('webhooks.deliveries')), ' ',
        h('button', { type: 'button', onclick: () => edit(s) }, t('webhooks.edit')), ' ',
        h('button', { type: 'button', onclick: () => ping(s) }, t('webhooks.send_test')))));
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...[t('webhooks.col.name_url'), t('webhooks.col.events'), t('webhooks.col.channels'), t('webhooks.col.state'), t('webhooks.col.last_delivery'), ''].map((x) => h('th', { text: x })))),
      h('tbody', null, ...rows)));
  }

  function edit(s) {
    const box = $('hook-edit');
    box.hidden = false;
    $('hook-deliveries').hidden = true;
    clear(box);
    const chosen = new Set(s ? s.event_types : ['message.received']);
    const name = h('input', { id: 'hook-name', type: 'text', value: s ? s.name : '', required: true, maxlength: 100 });
    const url = h('input', { id: 'hook-url', type: 'url', value: s ? s.url : '', required: true, placeholder: 'https://shop.example/parley' });
    const active = h('input', { id: 'hook-active', type: 'checkbox', checked: s ? s.active : true });
    const checks = EVENTS.map(([id, words]) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', value: id, checked: chosen.has(id), 'data-event': id }), ' ', h('span', { title: words, text: id })));
    const form = h('form', { class: 'form-grid' },
      h('div', { class: 'field' }, h('label', { for: 'hook-name', text: t('webhooks.name') }), name),
      h('div', { class: 'field' }, h('label', { for: 'hook-url', text: t('webhooks.url') }), url),
      h('div', { class: 'field wide' }, h('label', { text: t('webhooks.col.events') }), h('div', { class: 'checks' }, ...checks)),
      h('label', { class: 'check' }, active, t('webhooks.active_check')),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'primary' }, s ? t('webhooks.save') : t('webhooks.create')),
        s ? h('button', { type: 'button', onclick: () => rotate(s) }, t('webhooks.rotate')) : null,
        s ? h('button', { type: 'button', class: 'danger', onclick: () => remove(s) }, t('webhooks.delete')) : null,
        h('button', { type: 'button', onclick: () => { box.hidden = true; } }, t('webhooks.cancel'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const event_types = [...form.querySelectorAll('input[data-event]')].filter((c) => c.checked).map((c) => c.value);
      const body = { name: name.value, url: url.value, event_types, active: active.checked };
      if (s) body.channel_ids = s.channel_ids;
      try {
        const saved = await api(s ? 'PUT' : 'POST', s ? BASE + '/' + s.id : BASE, body);
        if (saved.secret) showSecret(saved);
        else box.hidden = true;
        notify(s ? t('webhooks.saved') : t('webhooks.created'), 'info');
        showList();
      } catch (e) {
        showError(s ? t('webhooks.error.save') : t('webhooks.error.create'), e);
      }
    });
    box.append(h('h3', { text: s ? t('webhooks.edit_title', { name: s.name }) : t('webhooks.new') }), form);
  }

  function showSecret(saved) {
    const box = $('hook-edit');
    box.hidden = false;
    clear(box);
    box.append(h('h3', { text: t('webhooks.secret_title', { name: saved.name }) }),
      h('p', { class: 'empty', text: t('webhooks.secret_once') }),
      h('code', { 'data-testid': 'hook-secret', text: saved.secret }),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: () => { box.hidden = true; } }, t('webhooks.done'))));
  }

  async function rotate(s) {
    try {
      showSecret(await api('POST', BASE + '/' + s.id + '/rotate-secret', {}));
    } catch (e) {
      showError(t('webhooks.error.rotate'), e);
    }
  }

  async function remove(s) {
    if (!window.confirm(t('webhooks.delete_q', { name: s.name }))) return;
    try {
      await api('DELETE', BASE + '/' + s.id);
      $('hook-edit').hidden = true;
      notify(t('webhooks.deleted'), 'info');
      showList();
    } catch (e) {
      showError(t('webhooks.error.delete'), e);
    }
  }

  async function ping(s) {
    try {
      await api('POST', BASE + '/' + s.id + '/test');
      notify(t('webhooks.ping_sent', { url: s.url }), 'info');
      setTimeout(() => deliveries(s), 1000);
    } catch (e) {
      showError(t('webhooks.error.test'), e);
    }
  }

  async function deliveries(s) {
    const box = $('hook-deliveries');
    $('hook-edit').hidden = true;
    box.hidden = false;
    let list;
    try {
      list = items(await api('GET', BASE + '/' + s.id + '/deliveries?limit=50'));
    } catch (e) {
      showError(t('webhooks.error.load_deliveries'), e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' },
      h('h3', { text: t('webhooks.deliveries_of', { name: s.name }) }),
      h('button', { type: 'button', onclick: () => deliveries(s) }, t('webhooks.refresh'))));
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: t('webhooks.no_deliveries') }));
      return;
    }
    const rows = list.map((d) => h('tr', { 'data-testid': 'delivery-row' },
      h('td', { title: P.exact(d.created_at), text: ago(d.created_at) }),
      h('td', { text: d.event_type }),
      h('td', { class: 'status-' + d.status, text: STATUS_WORDS[d.status] || d.status }),
      h('td', { text: String(d.attempts) }),
      h('td', { text: d.last_status_code ? String(d.last_status_code) : (d.last_error || '') }),
      h('td', { class: 'excerpt', title: d.last_response || '', text: d.last_response || '' }),
      h('td', { text: d.status === 'pending' && d.next_attempt_at ? t('webhooks.next', { when: ago(d.next_attempt_at) }) : '' }),
      h('td', null, h('button', { type: 'button', onclick: () => retry(s, d) }, t('webhooks.retry')))));
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...[t('webhooks.col.when'), t('webhooks.col.event'), t('webhooks.col.status'), t('webhooks.col.attempts'), t('webhooks.col.response'), t('webhooks.col.answer'), t('webhooks.col.next'), ''].map((x) => h('th', { text: x })))),
      h('tbody', null, ...rows)));
  }

  async function retry(s, d) {
    try {
      await api('POST', BASE + '/' + s.id + '/deliveries/' + d.id + '/retry');
      notify(t('webhooks.redelivering'), 'info');
      setTimeout(() => { deliveries(s); showList(); }, 1000);
    } catch (e) {
      showError(t('webhooks.error.retry'), e);
    }
  }

  document.addEventListener('DOMContentLoaded', showList);
})();
