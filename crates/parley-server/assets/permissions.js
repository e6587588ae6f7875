// Permissions page (issue 18, PERM): the permission sets as a table of checkboxes (a row per
// permission with what it grants, a column per set: the four built-in role sets, then custom
// ones), custom sets created, renamed and deleted, and per agent the sets granted, picked from
// the list. Everything goes through /api/v1/permissions, /api/v1/permission-sets and
// /api/v1/agents/{id}/permission-sets; the server refuses a grant of what the admin does not
// hold (422), and this page shows its words. Server text goes into the page as text (Parley.h).
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, t } = P;
  let permissions = [];
  let sets = [];
  let agents = [];

  /** A permission's description in the agent's language; the server's words otherwise. */
  function describe(p) {
    const key = 'permissions.perm.' + p.name;
    const text = t(key);
    return text === key ? (p.description || '') : text;
  }

  function setLabel(s) {
    return s.builtin_role ? t('permissions.role_set', { role: t('permissions.role.' + s.builtin_role) }) : s.name;
  }

  async function load() {
    try {
      const [ps, ss] = await Promise.all([api('GET', '/api/v1/permissions'), api('GET', '/api/v1/permission-sets')]);
      permissions = items(ps);
      sets = items(ss);
      // Built-in role sets first, in the order people meet them; custom sets by name.
      const order = ['admin', 'supervisor', 'agent', 'broadcaster'];
      sets.sort((a, b) => {
        const ra = a.builtin_role ? order.indexOf(a.builtin_role) : 99;
        const rb = b.builtin_role ? order.indexOf(b.builtin_role) : 99;
        return ra - rb || String(a.name).localeCompare(String(b.name));
      });
    } catch (e) {
      showError(t('permissions.load_failed'), e);
      return;
    }
    renderSets();
    await loadAgents();
  }

  async function save(set, body, done) {
    try {
      const updated = await api('PUT', '/api/v1/permission-sets/' + encodeURIComponent(set.id), body);
      Object.assign(set, updated);
      notify(t('permissions.saved', { name: setLabel(set) }), 'info');
      // What each agent may do follows the sets they hold.
      loadAgents();
    } catch (e) {
      showError(t('permissions.save_failed'), e);
    }
    if (done) done();
  }

  function setHead(set) {
    const name = h('span', { class: 'set-name', 'data-testid': 'perm-set-name', text: setLabel(set) });
    const tools = h('span', { class: 'set-tools' });
    if (!set.builtin_role) {
      const rename = h('button', { type: 'button', class: 'small', 'data-testid': 'perm-rename', text: t('permissions.rename'),
        'aria-label': t('permissions.rename_named', { name: set.name }) });
      rename.addEventListener('click', () => {
        const input = h('input', { type: 'text', maxlength: 100, value: set.name, 'aria-label': t('permissions.new_name'), 'data-testid': 'perm-rename-input' });
        const form = h('form', { class: 'set-rename' }, input, h('button', { type: 'submit', class: 'small primary', text: t('common.save') }));
        form.addEventListener('submit', (ev) => {
          ev.preventDefault();
          save(set, { name: input.value.trim(), permissions: set.permissions }, renderSets);
        });
        input.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') renderSets(); });
        name.replaceWith(form);
        input.focus();
        input.select();
      });
      const del = h('button', { type: 'button', class: 'small danger', 'data-testid': 'perm-delete', text: t('permissions.delete'),
        'aria-label': t('permissions.delete_named', { name: set.name }) });
      del.addEventListener('click', () => {
        const yes = h('button', { type: 'button', class: 'small danger', 'data-testid': 'perm-delete-confirm', text: t('permissions.delete_confirm') });
        const no = h('button', { type: 'button', class: 'small', text: t('common.cancel') });
        const box = h('span', { class: 'confirm', role: 'group', 'aria-label': t('permissions.delete_named', { name: set.name }) }, yes, no);
        yes.addEventListener('click', async () => {
          try {
            await api('DELETE', '/api/v1/permission-sets/' + encodeURIComponent(set.id));
            sets = sets.filter((s) => s.id !== set.id);
            notify(t('permissions.deleted', { name: set.name }), 'info');
          } catch (e) {
            showError(t('permissions.delete_failed'), e);
          }
          renderSets();
          renderAgents();
        });
        no.addEventListener('click', renderSets);
        tools.replaceWith(box);
        yes.focus();
      });
      tools.append(rename, del);
    } else {
      tools.append(h('span', { class: 'chip', text: t('permissions.builtin') }));
    }
    return h('th', { scope: 'col', dataset: { setId: set.id } }, h('div', { class: 'set-head' }, name, tools));
  }

  function renderSets() {
    const box = $('perm-sets');
    clear(box);
    if (!permissions.length) {
      box.append(h('p', { class: 'empty', text: t('permissions.none') }));
      return;
    }
    const head = h('tr', {}, h('th', { scope: 'col', text: t('permissions.permission') }), ...sets.map(setHead));
    const rows = permissions.map((p) => h('tr', { dataset: { perm: p.name } },
      h('th', { scope: 'row' },
        h('div', { class: 'perm-name', text: p.name }),
        h('div', { class: 'perm-desc', text: describe(p) })),
      ...sets.map((set) => {
        const box = h('input', {
          type: 'checkbox', 'data-testid': 'perm-check',
          'aria-label': t('permissions.check_label', { permission: p.name, set: setLabel(set) }),
          dataset: { setId: set.id, perm: p.name },
        });
        box.checked = (set.permissions || []).includes(p.name);
        box.addEventListener('change', () => {
          const next = new Set(set.permissions || []);
          if (box.checked) next.add(p.name); else next.delete(p.name);
          box.disabled = true;
          save(set, { name: set.name, permissions: permissions.map((x) => x.name).filter((n) => next.has(n)) }, () => {
            box.disabled = false;
            box.checked = (set.permissions || []).includes(p.name);
          });
        });
        return h('td', { class: 'perm-cell' }, box);
      })));
    box.append(h('div', { class: 'table-scroll' },
      h('table', { class: 'perm-table', 'data-testid': 'perm-table' }, h('thead', {}, head), h('tbody', {}, ...rows))));
  }

  async function loadAgents() {
    try {
      // Filled whole before it replaces the list: a render meanwhile shows the previous one.
      const loaded = items(await api('GET', '/api/v1/agents?limit=500'));
      await Promise.all(loaded.map(async (a) => {
        try {
          const g = await api('GET', '/api/v1/agents/' + encodeURIComponent(a.id) + '/permission-sets');
          a.granted = g.permission_set_ids || [];
          a.effective = g.permissions || [];
        } catch (_) {
          a.granted = [];
          a.effective = [];
        }
      }));
      agents = loaded;
    } catch (e) {
      showError(t('permissions.agents_failed'), e);
      return;
    }
    renderAgents();
  }

  function renderAgents() {
    const box = $('perm-agents');
    clear(box);
    if (!agents.length) {
      box.append(h('p', { class: 'empty', text: t('permissions.no_agents') }));
      return;
    }
    const grantable = sets.filter((s) => !s.builtin_role).concat(sets.filter((s) => s.builtin_role));
    const rows = agents.map((a) => {
      const picks = grantable.map((set) => {
        const box = h('input', { type: 'checkbox', 'data-testid': 'perm-grant', dataset: { setId: set.id, agentId: a.id } });
        box.checked = (a.granted || []).includes(set.id);
        box.addEventListener('change', async () => {
          const next = new Set(a.granted || []);
          if (box.checked) next.add(set.id); else next.delete(set.id);
          box.disabled = true;
          try {
            const g = await api('PUT', '/api/v1/agents/' + encodeURIComponent(a.id) + '/permission-sets', { permission_set_ids: [...next] });
            a.granted = g.permission_set_ids || [...next];
            a.effective = g.permissions || a.effective;
            notify(t('permissions.granted_saved', { name: a.name }), 'info');
          } catch (e) {
            showError(t('permissions.grant_failed'), e);
          }
          renderAgents();
        });
        return h('label', {}, box, setLabel(set));
      });
      return h('tr', { dataset: { agentId: a.id }, 'data-testid': 'perm-agent' },
        h('th', { scope: 'row' }, h('div', { text: a.name }), h('div', { class: 'perm-desc', text: a.email || '' })),
        h('td', { text: t('permissions.role.' + a.role) }),
        h('td', {}, h('div', { class: 'grants', role: 'group', 'aria-label': t('permissions.grants_of', { name: a.name }) }, ...picks)),
        h('td', { class: 'perm-desc', 'data-testid': 'perm-effective', text: (a.effective || []).join(', ') }));
    });
    box.append(h('div', { class: 'table-scroll' }, h('table', { class: 'perm-table' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', text: t('permissions.agent') }),
        h('th', { scope: 'col', text: t('permissions.role_col') }),
        h('th', { scope: 'col', text: t('permissions.granted') }),
        h('th', { scope: 'col', text: t('permissions.effective') }))),
      h('tbody', {}, ...rows))));
  }

  $('perm-new').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = $('perm-new-name').value.trim();
    if (!name) return;
    try {
      const created = await api('POST', '/api/v1/permission-sets', { name, permissions: [] });
      sets.push(created);
      $('perm-new-name').value = '';
      notify(t('permissions.created', { name }), 'info');
    } catch (e) {
      showError(t('permissions.create_failed'), e);
    }
    renderSets();
    renderAgents();
  });

  load();
})();
