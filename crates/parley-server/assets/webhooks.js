// Webhooks area (admins): outgoing webhook subscriptions with their event types and the state of
// their last delivery, a form with a checkbox per event type, and a subscription's deliveries
// with their answers and a Retry button. Everything goes through /api/v1/webhook-subscriptions;
// every text from the server is put in the page as text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, ago } = P;
  const BASE = '/api/v1/webhook-subscriptions';

  const EVENTS = [
    ['message.received', 'A customer’s message arrives'],
    ['message.status', 'A message is sent, delivered, read or fails'],
    ['consent.changed', 'A customer’s consent changes'],
    ['session.opened', 'A session opens'],
    ['session.ended', 'A session ends'],
    ['case.opened', 'A case is opened'],
    ['case.updated', 'A case changes'],
    ['case.closed', 'A case is closed'],
  ];
  const STATUS_WORDS = { pending: 'Retrying', succeeded: 'Delivered', failed: 'Gave up' };

  function deliveryState(d) {
    if (!d) return h('span', { class: 'empty', text: 'No deliveries yet' });
    const code = d.last_status_code ? ' (' + d.last_status_code + ')' : '';
    return h('span', { class: 'status-' + d.status, title: d.created_at },
      (STATUS_WORDS[d.status] || d.status) + code + ' · ' + ago(d.created_at));
  }

  async function showList() {
    const box = $('hook-list');
    let list;
    try {
      list = items(await api('GET', BASE + '?limit=200'));
    } catch (e) {
      showError('Loading webhooks', e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' },
      h('h2', { text: 'Webhooks' }),
      h('button', { type: 'button', class: 'primary', 'data-testid': 'hook-new', onclick: () => edit(null) }, 'New subscription')));
    box.append(h('p', { class: 'empty' },
      'Other systems learn what happens here: Parley POSTs each event, signed with the subscription’s secret, and retries with backoff until it is accepted.'));
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: 'No subscriptions yet.' }));
      return;
    }
    const rows = list.map((s) => h('tr', { 'data-testid': 'hook-row' },
      h('td', null, h('strong', { text: s.name }), h('div', { class: 'empty', text: s.url })),
      h('td', { text: s.event_types.join(', ') }),
      h('td', { text: s.channel_ids ? s.channel_ids.length + ' channel(s)' : 'All channels' }),
      h('td', { text: s.active ? 'Active' : 'Paused' }),
      h('td', null, deliveryState(s.last_delivery)),
      h('td', null,
        h('button', { type: 'button', onclick: () => deliveries(s) }, 'Deliveries'), ' ',
        h('button', { type: 'button', onclick: () => edit(s) }, 'Edit'), ' ',
        h('button', { type: 'button', onclick: () => ping(s) }, 'Send test'))));
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...['Name and URL', 'Events', 'Channels', 'State', 'Last delivery', ''].map((t) => h('th', { text: t })))),
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
      h('div', { class: 'field' }, h('label', { for: 'hook-name', text: 'Name' }), name),
      h('div', { class: 'field' }, h('label', { for: 'hook-url', text: 'URL' }), url),
      h('div', { class: 'field wide' }, h('label', { text: 'Events' }), h('div', { class: 'checks' }, ...checks)),
      h('label', { class: 'check' }, active, ' Active'),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'primary' }, s ? 'Save' : 'Create'),
        s ? h('button', { type: 'button', onclick: () => rotate(s) }, 'Rotate secret') : null,
        s ? h('button', { type: 'button', class: 'danger', onclick: () => remove(s) }, 'Delete') : null,
        h('button', { type: 'button', onclick: () => { box.hidden = true; } }, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const event_types = [...form.querySelectorAll('input[data-event]')].filter((c) => c.checked).map((c) => c.value);
      const body = { name: name.value, url: url.value, event_types, active: active.checked };
      if (s) body.channel_ids = s.channel_ids;
      try {
        const saved = await api(s ? 'PUT' : 'POST', s ? BASE + '/' + s.id : BASE, body);
        if (saved.secret) showSecret(saved);
        else box.hidden = true;
        notify(s ? 'Subscription saved' : 'Subscription created', 'info');
        showList();
      } catch (e) {
        showError(s ? 'Saving the subscription' : 'Creating the subscription', e);
      }
    });
    box.append(h('h3', { text: s ? 'Edit ' + s.name : 'New subscription' }), form);
  }

  function showSecret(saved) {
    const box = $('hook-edit');
    box.hidden = false;
    clear(box);
    box.append(h('h3', { text: 'Signing secret of ' + saved.name }),
      h('p', { class: 'empty', text: 'Copy it now: it is not shown again. Verify X-Parley-Signature with it.' }),
      h('code', { 'data-testid': 'hook-secret', text: saved.secret }),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: () => { box.hidden = true; } }, 'Done')));
  }

  async function rotate(s) {
    try {
      showSecret(await api('POST', BASE + '/' + s.id + '/rotate-secret', {}));
    } catch (e) {
      showError('Rotating the secret', e);
    }
  }

  async function remove(s) {
    if (!window.confirm('Delete ' + s.name + ' and its deliveries?')) return;
    try {
      await api('DELETE', BASE + '/' + s.id);
      $('hook-edit').hidden = true;
      notify('Subscription deleted', 'info');
      showList();
    } catch (e) {
      showError('Deleting the subscription', e);
    }
  }

  async function ping(s) {
    try {
      await api('POST', BASE + '/' + s.id + '/test');
      notify('A ping is on its way to ' + s.url, 'info');
      setTimeout(() => deliveries(s), 1000);
    } catch (e) {
      showError('Sending a test', e);
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
      showError('Loading deliveries', e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' },
      h('h3', { text: 'Deliveries of ' + s.name }),
      h('button', { type: 'button', onclick: () => deliveries(s) }, 'Refresh')));
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: 'No deliveries yet.' }));
      return;
    }
    const rows = list.map((d) => h('tr', { 'data-testid': 'delivery-row' },
      h('td', { title: d.created_at, text: ago(d.created_at) }),
      h('td', { text: d.event_type }),
      h('td', { class: 'status-' + d.status, text: STATUS_WORDS[d.status] || d.status }),
      h('td', { text: String(d.attempts) }),
      h('td', { text: d.last_status_code ? String(d.last_status_code) : (d.last_error || '') }),
      h('td', { class: 'excerpt', title: d.last_response || '', text: d.last_response || '' }),
      h('td', { text: d.status === 'pending' && d.next_attempt_at ? 'next ' + ago(d.next_attempt_at) : '' }),
      h('td', null, h('button', { type: 'button', onclick: () => retry(s, d) }, 'Retry'))));
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...['When', 'Event', 'Status', 'Attempts', 'Response', 'Answer', 'Next try', ''].map((t) => h('th', { text: t })))),
      h('tbody', null, ...rows)));
  }

  async function retry(s, d) {
    try {
      await api('POST', BASE + '/' + s.id + '/deliveries/' + d.id + '/retry');
      notify('Redelivering now', 'info');
      setTimeout(() => { deliveries(s); showList(); }, 1000);
    } catch (e) {
      showError('Retrying the delivery', e);
    }
  }

  document.addEventListener('DOMContentLoaded', showList);
})();
