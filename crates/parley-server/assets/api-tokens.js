// API tokens area (admins): the bearer tokens programs use for /api/v1, with their role, the
// agent an agent-role token acts as, when each was created, last used and expires, and revoke
// with a confirmation. A new token is shown once, with a copy button; only its hash is stored.
// Everything goes through /api/v1/api-tokens; every text from the server is put in the page as
// text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, ago, copyButton } = P;
  const BASE = '/api/v1/api-tokens';
  const ROLES = ['admin', 'supervisor', 'agent', 'broadcaster'];
  const LIFETIMES = [['', 'Until revoked'], ['1d', '1 day'], ['7d', '7 days'], ['30d', '30 days'], ['90d', '90 days'], ['365d', '1 year']];
  let agents = [];

  async function loadAgents() {
    try {
      agents = items(await api('GET', '/api/v1/agents?limit=500'));
    } catch (e) {
      showError('Loading agents', e);
    }
  }

  function agentName(id) {
    if (!id) return '';
    const a = agents.find((x) => x.id === id);
    return a ? a.name + ' <' + a.email + '>' : id;
  }

  function state(t) {
    if (t.revoked_at) return 'Revoked ' + ago(t.revoked_at);
    if (t.expires_at && new Date(t.expires_at).getTime() <= Date.now()) return 'Expired ' + ago(t.expires_at);
    if (t.expires_at) return 'Expires ' + ago(t.expires_at);
    return 'Active';
  }

  function newForm() {
    const name = h('input', { id: 'tok-name', type: 'text', required: true, maxlength: 100, placeholder: 'Order system' });
    const role = h('select', { id: 'tok-role', 'data-testid': 'tok-role' }, ...ROLES.map((r) => h('option', { value: r, text: r })));
    const agent = h('select', { id: 'tok-agent', 'data-testid': 'tok-agent' },
      ...agents.map((a) => h('option', { value: a.id, text: a.name + ' <' + a.email + '>' })));
    const agentLabel = h('label', { for: 'tok-agent', text: 'Acts as' });
    const lifetime = h('select', { id: 'tok-expires', 'data-testid': 'tok-expires' },
      ...LIFETIMES.map(([v, t]) => h('option', { value: v, text: t })));
    const showAgent = () => {
      const on = role.value === 'agent';
      agent.hidden = !on;
      agentLabel.hidden = !on;
    };
    role.addEventListener('change', showAgent);
    showAgent();
    const form = h('form', { class: 'tok-new', 'data-testid': 'tok-new' },
      h('label', { for: 'tok-name', text: 'Name' }), ' ', name, ' ',
      h('label', { for: 'tok-role', text: 'Role' }), ' ', role, ' ',
      agentLabel, ' ', agent, ' ',
      h('label', { for: 'tok-expires', text: 'Lasts' }), ' ', lifetime, ' ',
      h('button', { type: 'submit', class: 'primary' }, 'Create token'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { name: name.value, role: role.value };
      if (role.value === 'agent') body.agent_id = agent.value || null;
      if (lifetime.value) body.expires_in = lifetime.value;
      try {
        const created = await api('POST', BASE, body);
        showToken(created);
        notify('Token created', 'info');
        showTokens();
      } catch (e) {
        showError('Creating the token', e);
      }
    });
    return form;
  }

  async function showTokens() {
    const box = $('tok-list');
    let list;
    try {
      list = items(await api('GET', BASE));
    } catch (e) {
      showError('Loading tokens', e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' }, h('h2', { text: 'API tokens' })),
      h('p', { class: 'empty', text: 'Programs call the API with a token: Authorization: Bearer <token>. An agent-role token reads and writes only what its agent may in the console.' }),
      newForm());
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: 'No tokens yet.' }));
      return;
    }
    const rows = list.map((t) => h('tr', { 'data-testid': 'tok-row', 'data-id': t.id },
      h('td', null, h('strong', { text: t.name })),
      h('td', { text: t.role + (t.agent_id ? ' (' + agentName(t.agent_id) + ')' : '') }),
      h('td', { title: t.created_at, text: ago(t.created_at) }),
      h('td', { title: t.last_used_at || '', text: t.last_used_at ? ago(t.last_used_at) : 'Never' }),
      h('td', { 'data-testid': 'tok-state', title: t.revoked_at || t.expires_at || '', text: state(t) }),
      h('td', null, t.revoked_at ? null
        : h('button', { type: 'button', class: 'danger', 'data-testid': 'tok-revoke', onclick: (ev) => confirmRevoke(t, ev.target) }, 'Revoke'))));
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...['Name', 'Role', 'Created', 'Last used', 'State', ''].map((x) => h('th', { text: x })))),
      h('tbody', null, ...rows)));
  }

  function showToken(created) {
    const box = $('tok-token');
    box.hidden = false;
    clear(box);
    const token = h('code', { 'data-testid': 'tok-value', text: created.token });
    const copy = copyButton(created.token, token, 'Copy token', 'tok-copy');
    box.append(h('h3', { text: 'Token ' + created.name }),
      h('p', { class: 'empty', text: 'Copy it now: it is not shown again.' }),
      h('div', { class: 'token-line' }, token, ' ', copy),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: () => { box.hidden = true; clear(box); } }, 'Done')));
  }

  function confirmRevoke(t, button) {
    const cell = button.parentElement;
    const prompt = h('span', { class: 'confirm', 'data-testid': 'tok-confirm' },
      h('span', { text: 'Revoke ' + t.name + '? Programs using it are refused from their next request. ' }),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'tok-confirm-yes', onclick: () => revoke(t) }, 'Yes, revoke'), ' ',
      h('button', { type: 'button', onclick: () => showTokens() }, 'Cancel'));
    clear(cell);
    cell.append(prompt);
  }

  async function revoke(t) {
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(t.id));
      notify(t.name + ' revoked', 'info');
      showTokens();
    } catch (e) {
      showError('Revoking the token', e);
    }
  }

  document.addEventListener('DOMContentLoaded', async () => {
    await loadAgents();
    showTokens();
  });
})();
