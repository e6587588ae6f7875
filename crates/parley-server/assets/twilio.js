// Twilio API area (admins): the accounts programs written for Twilio authenticate as, each with
// its messaging services (pools of SMS and WhatsApp channels, picked by name), and the snippet
// that points an official SDK at this server. The auth token is shown once, when the account is
// issued. Everything goes through /api/v1/twilio-accounts; every text from the server is put in
// the page as text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, ago, copyButton, t } = P;
  const BASE = '/api/v1/twilio-accounts';
  let channels = [];

  async function loadChannels() {
    try {
      channels = items(await api('GET', '/api/v1/channels?limit=200'))
        .filter((c) => c.kind === 'sms' || c.kind === 'whatsapp');
    } catch (e) {
      showError(t('twilio.error.load_channels'), e);
    }
  }

  function channelLabel(id) {
    const c = channels.find((x) => x.id === id);
    return c ? c.name + ' (' + c.kind + ' ' + c.address + ')' : t('twilio.deleted_channel', { id });
  }

  async function showAccounts() {
    const box = $('tw-accounts');
    let list;
    try {
      list = items(await api('GET', BASE));
    } catch (e) {
      showError(t('twilio.error.load'), e);
      return;
    }
    clear(box);
    const name = h('input', { id: 'tw-name', type: 'text', required: true, maxlength: 100, placeholder: t('twilio.name_placeholder') });
    const form = h('form', { class: 'tw-new', 'data-testid': 'tw-new' },
      h('label', { for: 'tw-name', text: t('twilio.new_account') }), ' ', name, ' ',
      h('button', { type: 'submit', class: 'primary' }, t('twilio.issue')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const created = await api('POST', BASE, { name: name.value });
        showToken(created);
        notify(t('twilio.issued_note'), 'info');
        showAccounts();
      } catch (e) {
        showError(t('twilio.error.issue'), e);
      }
    });
    box.append(h('div', { class: 'admin-head' }, h('h2', { text: t('twilio.title') })),
      h('p', { class: 'empty', text: t('twilio.intro') }),
      form);
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: t('twilio.none') }));
      return;
    }
    const rows = list.map((a) => h('tr', { 'data-testid': 'tw-row', 'data-sid': a.sid },
      h('td', null, h('strong', { text: a.name })),
      h('td', null, h('code', { text: a.sid })),
      h('td', { title: P.exact(a.created_at), text: ago(a.created_at) }),
      h('td', { text: a.revoked_at ? t('twilio.revoked_ago', { when: ago(a.revoked_at) }) : t('twilio.active') }),
      h('td', null,
        h('button', { type: 'button', onclick: () => showAccount(a) }, t('twilio.services')), ' ',
        a.revoked_at ? null : h('button', { type: 'button', class: 'danger', 'data-testid': 'tw-revoke', onclick: (ev) => confirmRevoke(a, ev.target) }, t('twilio.revoke')))));
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...[t('twilio.col.name'), t('twilio.col.sid'), t('twilio.col.issued'), t('twilio.col.state'), ''].map((x) => h('th', { text: x })))),
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
    const copy = copyButton(created.auth_token, token, t('twilio.copy'), 'tw-copy');
    box.append(h('h3', { text: t('twilio.token_title', { name: created.name }) }),
      h('p', { class: 'empty', text: t('twilio.token_once', { sid: created.sid }) }),
      h('div', { class: 'token-line' }, token, ' ', copy),
      h('h4', { text: t('twilio.point_sdk') }),
      h('pre', { class: 'snippet', 'data-testid': 'tw-snippet', text: snippet(created.sid) }),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: () => { box.hidden = true; } }, t('twilio.done'))));
  }

  function confirmRevoke(a, button) {
    const cell = button.parentElement;
    const prompt = h('span', { class: 'confirm', 'data-testid': 'tw-confirm' },
      h('span', { text: t('twilio.revoke_confirm', { name: a.name }) }),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'tw-confirm-yes', onclick: () => revoke(a) }, t('twilio.revoke_yes')), ' ',
      h('button', { type: 'button', onclick: () => showAccounts() }, t('twilio.cancel')));
    clear(cell);
    cell.append(prompt);
  }

  async function revoke(a) {
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(a.sid));
      $('tw-account').hidden = true;
      notify(t('twilio.revoked', { name: a.name }), 'info');
      showAccounts();
    } catch (e) {
      showError(t('twilio.error.revoke'), e);
    }
  }

  async function showAccount(a) {
    const box = $('tw-account');
    box.hidden = false;
    let services;
    try {
      services = items(await api('GET', BASE + '/' + encodeURIComponent(a.sid) + '/messaging-services'));
    } catch (e) {
      showError(t('twilio.error.load_services'), e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' },
      h('h3', { text: t('twilio.services_of', { name: a.name }) }),
      a.revoked_at ? null : h('button', { type: 'button', class: 'primary', 'data-testid': 'tw-service-new', onclick: () => editService(a, null) }, t('twilio.new_service'))),
      h('p', { class: 'empty', text: t('twilio.services_intro') }),
      h('h4', { text: t('twilio.point_sdk') }),
      h('pre', { class: 'snippet', 'data-testid': 'tw-account-snippet', text: snippet(a.sid) }));
    if (!services.length) {
      box.append(h('p', { class: 'empty', text: t('twilio.no_services') }));
    } else {
      const rows = services.map((s) => h('tr', { 'data-testid': 'tw-service-row' },
        h('td', null, h('strong', { text: s.name })),
        h('td', null, h('code', { text: s.sid })),
        h('td', null, h('ol', { class: 'pool' }, ...s.channel_ids.map((id) => h('li', { text: channelLabel(id) })))),
        h('td', null,
          a.revoked_at ? null : h('button', { type: 'button', onclick: () => editService(a, s) }, t('twilio.edit')), ' ',
          h('button', { type: 'button', class: 'danger', onclick: () => removeService(a, s) }, t('twilio.delete')))));
      box.append(h('table', { class: 'grid' },
        h('thead', null, h('tr', null, ...[t('twilio.col.name'), 'SID', t('twilio.col.channels'), ''].map((x) => h('th', { text: x })))),
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
        h('button', { type: 'button', 'aria-label': t('twilio.move_up'), disabled: i === 0, onclick: () => { picked.splice(i - 1, 0, picked.splice(i, 1)[0]); redraw(); } }, '↑'), ' ',
        h('button', { type: 'button', 'aria-label': t('twilio.remove'), onclick: () => { picked.splice(i, 1); redraw(); } }, t('twilio.remove')))));
      if (!picked.length) list.append(h('li', { class: 'empty', text: t('twilio.no_channel') }));
      clear(select);
      select.append(h('option', { value: '', text: t('twilio.add_channel') }));
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
      h('div', { class: 'field' }, h('label', { for: 'tw-service-name', text: t('twilio.col.name') }), name),
      h('div', { class: 'field wide' }, h('label', { for: 'tw-channel-pick', text: t('twilio.channels_label') }), list, select),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'primary' }, s ? t('twilio.save') : t('twilio.create')),
        h('button', { type: 'button', onclick: () => clear(box) }, t('twilio.cancel'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const path = BASE + '/' + encodeURIComponent(a.sid) + '/messaging-services' + (s ? '/' + encodeURIComponent(s.sid) : '');
      try {
        await api(s ? 'PUT' : 'POST', path, { name: name.value, channel_ids: picked });
        notify(s ? t('twilio.service_saved') : t('twilio.service_created'), 'info');
        showAccount(a);
      } catch (e) {
        showError(s ? t('twilio.error.save_service') : t('twilio.error.create_service'), e);
      }
    });
    box.append(h('h4', { text: s ? t('twilio.edit_service', { name: s.name }) : t('twilio.new_service') }), form);
  }

  async function removeService(a, s) {
    if (!window.confirm(t('twilio.delete_service_q', { name: s.name }))) return;
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(a.sid) + '/messaging-services/' + encodeURIComponent(s.sid));
      notify(t('twilio.service_deleted'), 'info');
      showAccount(a);
    } catch (e) {
      showError(t('twilio.error.delete_service'), e);
    }
  }

  document.addEventListener('DOMContentLoaded', async () => {
    await loadChannels();
    showAccounts();
  });
})();
