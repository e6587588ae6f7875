// Twilio API area (admins): the accounts programs written for Twilio authenticate as, each with
// its messaging services (pools of SMS and WhatsApp channels, picked by name), and the snippet
// that points an official SDK at this server. The auth token is shown once, when the account is
// issued. Everything goes through /api/v1/twilio-accounts; every text from the server is put in
// the page as text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, ago, copyButton } = P;
  const BASE = '/api/v1/twilio-accounts';
  let channels = [];

  async function loadChannels() {
    try {
      channels = items(await api('GET', '/api/v1/channels?limit=200'))
        .filter((c) => c.kind === 'sms' || c.kind === 'whatsapp');
    } catch (e) {
      showError('Loading channels', e);
    }
  }

  function channelLabel(id) {
    const c = channels.find((x) => x.id === id);
    return c ? c.name + ' (' + c.kind + ' ' + c.address + ')' : id + ' (deleted)';
  }

  async function showAccounts() {
    const box = $('tw-accounts');
    let list;
    try {
      list = items(await api('GET', BASE));
    } catch (e) {
      showError('Loading accounts', e);
      return;
    }
    clear(box);
    const name = h('input', { id: 'tw-name', type: 'text', required: true, maxlength: 100, placeholder: 'Order system' });
    const form = h('form', { class: 'tw-new', 'data-testid': 'tw-new' },
      h('label', { for: 'tw-name', text: 'New account' }), ' ', name, ' ',
      h('button', { type: 'submit', class: 'primary' }, 'Issue account'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const created = await api('POST', BASE, { name: name.value });
        showToken(created);
        notify('Account issued', 'info');
        showAccounts();
      } catch (e) {
        showError('Issuing the account', e);
      }
    });
    box.append(h('div', { class: 'admin-head' }, h('h2', { text: 'Twilio-compatible API' })),
      h('p', { class: 'empty', text: 'Programs written for Twilio’s Messages API send through Parley with an account issued here: its SID and auth token replace Twilio’s, and the SDK’s base URL points at this server.' }),
      form);
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: 'No accounts yet.' }));
      return;
    }
    const rows = list.map((a) => h('tr', { 'data-testid': 'tw-row', 'data-sid': a.sid },
      h('td', null, h('strong', { text: a.name })),
      h('td', null, h('code', { text: a.sid })),
      h('td', { title: a.created_at, text: ago(a.created_at) }),
      h('td', { text: a.revoked_at ? 'Revoked ' + ago(a.revoked_at) : 'Active' }),
      h('td', null,
        h('button', { type: 'button', onclick: () => showAccount(a) }, 'Messaging services'), ' ',
        a.revoked_at ? null : h('button', { type: 'button', class: 'danger', 'data-testid': 'tw-revoke', onclick: (ev) => confirmRevoke(a, ev.target) }, 'Revoke'))));
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...['Name', 'Account SID', 'Issued', 'State', ''].map((t) => h('th', { text: t })))),
      h('tbody', null, ...rows)));
  }

  function snippet(sid) {
    const base = window.location.origin;
    return [
      '# Python (twilio)',
      'client = Client("' + sid + '", auth_token)',
      'client.api.base_url = "' + base + '"',
      '',
      '// Node (twilio)',
      'const client = twilio("' + sid + '", authToken);',
      'client.api.baseUrl = "' + base + '";',
    ].join('\n');
  }

  function showToken(created) {
    const box = $('tw-token');
    box.hidden = false;
    clear(box);
    const token = h('code', { 'data-testid': 'tw-token-value', text: created.auth_token });
    const copy = copyButton(created.auth_token, token, 'Copy token', 'tw-copy');
    box.append(h('h3', { text: 'Auth token of ' + created.name }),
      h('p', { class: 'empty', text: 'Copy it now: it is not shown again. It is the HTTP Basic password of account ' + created.sid + ' and signs its status callbacks.' }),
      h('div', { class: 'token-line' }, token, ' ', copy),
      h('h4', { text: 'Point the SDK at Parley' }),
      h('pre', { class: 'snippet', 'data-testid': 'tw-snippet', text: snippet(created.sid) }),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: () => { box.hidden = true; } }, 'Done')));
  }

  function confirmRevoke(a, button) {
    const cell = button.parentElement;
    const prompt = h('span', { class: 'confirm', 'data-testid': 'tw-confirm' },
      h('span', { text: 'Revoke ' + a.name + '? Its programs stop authenticating. ' }),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'tw-confirm-yes', onclick: () => revoke(a) }, 'Yes, revoke'), ' ',
      h('button', { type: 'button', onclick: () => showAccounts() }, 'Cancel'));
    clear(cell);
    cell.append(prompt);
  }

  async function revoke(a) {
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(a.sid));
      $('tw-account').hidden = true;
      notify(a.name + ' revoked', 'info');
      showAccounts();
    } catch (e) {
      showError('Revoking the account', e);
    }
  }

  async function showAccount(a) {
    const box = $('tw-account');
    box.hidden = false;
    let services;
    try {
      services = items(await api('GET', BASE + '/' + encodeURIComponent(a.sid) + '/messaging-services'));
    } catch (e) {
      showError('Loading messaging services', e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' },
      h('h3', { text: 'Messaging services of ' + a.name }),
      a.revoked_at ? null : h('button', { type: 'button', class: 'primary', 'data-testid': 'tw-service-new', onclick: () => editService(a, null) }, 'New messaging service')),
      h('p', { class: 'empty', text: 'A send with MessagingServiceSid instead of From picks the sender from the pool: the channel that last wrote to the same number through the service, else one of the number’s country, else the first in the pool.' }),
      h('h4', { text: 'Point the SDK at Parley' }),
      h('pre', { class: 'snippet', 'data-testid': 'tw-account-snippet', text: snippet(a.sid) }));
    if (!services.length) {
      box.append(h('p', { class: 'empty', text: 'No messaging services yet.' }));
    } else {
      const rows = services.map((s) => h('tr', { 'data-testid': 'tw-service-row' },
        h('td', null, h('strong', { text: s.name })),
        h('td', null, h('code', { text: s.sid })),
        h('td', null, h('ol', { class: 'pool' }, ...s.channel_ids.map((id) => h('li', { text: channelLabel(id) })))),
        h('td', null,
          a.revoked_at ? null : h('button', { type: 'button', onclick: () => editService(a, s) }, 'Edit'), ' ',
          h('button', { type: 'button', class: 'danger', onclick: () => removeService(a, s) }, 'Delete'))));
      box.append(h('table', { class: 'grid' },
        h('thead', null, h('tr', null, ...['Name', 'SID', 'Channels, in order', ''].map((t) => h('th', { text: t })))),
        h('tbody', null, ...rows)));
    }
    box.append(h('div', { id: 'tw-service-edit', 'data-testid': 'tw-service-edit' }));
  }

  function editService(a, s) {
    const box = $('tw-service-edit');
    clear(box);
    const picked = s ? [...s.channel_ids] : [];
    const name = h('input', { id: 'tw-service-name', type: 'text', value: s ? s.name : '', required: true, maxlength: 100 });
    const list = h('ol', { class: 'pool', 'data-testid': 'tw-pool' });
    const select = h('select', { id: 'tw-channel-pick', 'data-testid': 'tw-channel-pick' });
    function redraw() {
      clear(list);
      picked.forEach((id, i) => list.append(h('li', null,
        h('span', { text: channelLabel(id) }), ' ',
        h('button', { type: 'button', 'aria-label': 'Move up', disabled: i === 0, onclick: () => { picked.splice(i - 1, 0, picked.splice(i, 1)[0]); redraw(); } }, '↑'), ' ',
        h('button', { type: 'button', 'aria-label': 'Remove', onclick: () => { picked.splice(i, 1); redraw(); } }, 'Remove'))));
      if (!picked.length) list.append(h('li', { class: 'empty', text: 'No channel yet' }));
      clear(select);
      select.append(h('option', { value: '', text: 'Add a channel…' }));
      for (const c of channels) {
        if (!picked.includes(c.id)) select.append(h('option', { value: c.id, text: c.name + ' (' + c.kind + ' ' + c.address + ')' }));
      }
    }
    select.addEventListener('change', () => {
      if (select.value) picked.push(select.value);
      redraw();
    });
    redraw();
    const form = h('form', { class: 'form-grid' },
      h('div', { class: 'field' }, h('label', { for: 'tw-service-name', text: 'Name' }), name),
      h('div', { class: 'field wide' }, h('label', { for: 'tw-channel-pick', text: 'Channels (SMS and WhatsApp), in order' }), list, select),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'primary' }, s ? 'Save' : 'Create'),
        h('button', { type: 'button', onclick: () => clear(box) }, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const path = BASE + '/' + encodeURIComponent(a.sid) + '/messaging-services' + (s ? '/' + encodeURIComponent(s.sid) : '');
      try {
        await api(s ? 'PUT' : 'POST', path, { name: name.value, channel_ids: picked });
        notify(s ? 'Messaging service saved' : 'Messaging service created', 'info');
        showAccount(a);
      } catch (e) {
        showError(s ? 'Saving the messaging service' : 'Creating the messaging service', e);
      }
    });
    box.append(h('h4', { text: s ? 'Edit ' + s.name : 'New messaging service' }), form);
  }

  async function removeService(a, s) {
    if (!window.confirm('Delete the messaging service ' + s.name + '?')) return;
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(a.sid) + '/messaging-services/' + encodeURIComponent(s.sid));
      notify('Messaging service deleted', 'info');
      showAccount(a);
    } catch (e) {
      showError('Deleting the messaging service', e);
    }
  }

  document.addEventListener('DOMContentLoaded', async () => {
    await loadChannels();
    showAccounts();
  });
})();
