// API tokens area (admins): the bearer tokens programs use for /api/v1, with their role, the
// agent an agent-role token acts as, when each was created, last used and expires, and revoke
// with a confirmation. A new token is shown once, with a copy button; only its hash is stored.
// Everything goes through /api/v1/api-tokens; every text from the server is put in the page as
// text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, ago, copyButton, t } = P;
  const BASE = '/api/v1/api-tokens';
  const ROLES = ['admin', 'supervisor', 'agent', 'broadcaster'];
  const LIFETIMES = [['', t('tokens.lifetime.forever')], ['1d', t('tokens.lifetime.1d')], ['7d', t('tokens.lifetime.7d')], ['30d', t('tokens.lifetime.30d')], ['90d', t('tokens.lifetime.90d')], ['365d', t('tokens.lifetime.365d')]];
  let agents = [];

  async function loadAgents() {
    try {
      agents = items(await api('GET', '/api/v1/agents?limit=500'));
    } catch (e) {
      showError(t('tokens.error.load_agents'), e);
    }
  }

  function agentName(id) {
    if (!id) return '';
    const a = agents.find((x) => x.id === id);
    return a ? a.name + ' <' + a.email + '>' : id;
  }

  function state(tok) {
    if (tok.revoked_at) return t('tokens.state.revoked', { when: ago(tok.revoked_at) });
    if (tok.expires_at && new Date(tok.expires_at).getTime() <= Date.now()) return t('tokens.state.expired', { when: ago(tok.expires_at) });
    if (tok.expires_at) return t('tokens.state.expires', { when: ago(tok.expires_at) });
    return t('tokens.state.active');
  }

  function newForm() {
    const name = h('input', { id: 'tok-name', type: 'text', required: true, maxlength: 100, placeholder: t('tokens.name_placeholder') });
    const role = h('select', { id: 'tok-role', 'data-testid': 'tok-role' }, ...ROLES.map((r) => h('option', { value: r, text: r })));
    const agent = h('select', { id: 'tok-agent', 'data-testid': 'tok-agent' },
      ...agents.map((a) => h('option', { value: a.id, text: a.name + ' <' + a.email + '>' })));
    const agentLabel = h('label', { for: 'tok-agent', text: t('tokens.acts_as') });
    const lifetime = h('select', { id: 'tok-expires', 'data-testid': 'tok-expires' },
      ...LIFETIMES.map(([v, label]) => h('option', { value: v, text: label })));
    const showAgent = () => {
      const on = role.value === 'agent';
      agent.hidden = !on;
      agentLabel.hidden = !on;
    };
    role.addEventListener('change', showAgent);
    showAgent();
    const form = h('form', { class: 'tok-new', 'data-testid': 'tok-new' },
      h('label', { for: 'tok-name', text: t('tokens.name') }), ' ', name, ' ',
      h('label', { for: 'tok-role', text: t('tokens.role') }), ' ', role, ' ',
      agentLabel, ' ', agent, ' ',
      h('label', { for: 'tok-expires', text: t('tokens.lasts') }), ' ', lifetime, ' ',
      h('button', { type: 'submit', class: 'primary' }, t('tokens.create')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { name: name.value, role: role.value };
      if (role.value === 'agent') body.agent_id = agent.value || null;
      if (lifetime.value) body.expires_in = lifetime.value;
      try {
        const created = await api('POST', BASE, body);
        showToken(created);
        notify(t('tokens.created'), 'info');
        showTokens();
      } catch (e) {
        showError(t('tokens.error.create'), e);
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
      showError(t('tokens.error.load'), e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' }, h('h2', { text: t('tokens.title') })),
      h('p', { class: 'empty', text: t('tokens.intro') }),
      newForm());
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: t('tokens.none') }));
      return;
    }
    const rows = list.map((tok) => h('tr', { 'data-testid': 'tok-row', 'data-id': tok.id },
      h('td', null, h('strong', { text: tok.name })),
      h('td', { text: tok.role + (tok.agent_id ? ' (' + agentName(tok.agent_id) + ')' : '') }),
      h('td', { 'data-testid': 'tok-created', title: P.exact(tok.created_at), text: ago(tok.created_at) }),
      h('td', { title: P.exact(tok.last_used_at), text: tok.last_used_at ? ago(tok.last_used_at) : t('tokens.never') }),
      h('td', { 'data-testid': 'tok-state', title: P.exact(tok.revoked_at || tok.expires_at), text: state(tok) }),
      h('td', null, tok.revoked_at ? null
        : h('button', { type: 'button', class: 'danger', 'data-testid': 'tok-revoke', onclick: (ev) => confirmRevoke(tok, ev.target) }, t('tokens.revoke')))));
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...[t('tokens.name'), t('tokens.role'), t('tokens.col.created'), t('tokens.col.last_used'), t('tokens.col.state'), ''].map((x) => h('th', { text: x })))),
      h('tbody', null, ...rows)));
  }

  function showToken(created) {
    const box = $('tok-token');
    box.hidden = false;
    clear(box);
    const token = h('code', { 'data-testid': 'tok-value', text: created.token });
    const copy = copyButton(created.token, token, t('tokens.copy'), 'tok-copy');
    box.append(h('h3', { text: t('tokens.token_title', { name: created.name }) }),
      h('p', { class: 'empty', text: t('tokens.shown_once') }),
      h('div', { class: 'token-line' }, token, ' ', copy),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: () => { box.hidden = true; clear(box); } }, t('tokens.done'))));
  }

  function confirmRevoke(tok, button) {
    const cell = button.parentElement;
    const prompt = h('span', { class: 'confirm', 'data-testid': 'tok-confirm' },
      h('span', { text: t('tokens.revoke_confirm', { name: tok.name }) }),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'tok-confirm-yes', onclick: () => revoke(tok) }, t('tokens.revoke_yes')), ' ',
      h('button', { type: 'button', onclick: () => showTokens() }, t('tokens.cancel')));
    clear(cell);
    cell.append(prompt);
  }

  async function revoke(tok) {
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(tok.id));
      notify(t('tokens.revoked', { name: tok.name }), 'info');
      showTokens();
    } catch (e) {
      showError(t('tokens.error.revoke'), e);
    }
  }

  document.addEventListener('DOMContentLoaded', async () => {
    await loadAgents();
    showTokens();
  });
})();
