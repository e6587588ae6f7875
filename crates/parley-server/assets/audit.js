// Audit log (Privacy page, #panel-audit): who (agent or token, by name) did what (in words) to
// which resource, and when (relative, exact on hover); filters as pickers; "Load more" pages back
// through older entries; export links (JSON lines, CSV) carry the same filters. Everything from
// the server goes in as text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, showError, items, ago, t } = P;
  const BASE = '/api/v1/audit-log';
  const panel = $('panel-audit');
  if (!panel) return;
  const ACTIONS = ['conversation_opened', 'audit_log_exported', 'retention_run', 'workspace_applied',
    'api_token_created', 'api_token_revoked', 'privacy_export', 'privacy_erasure', 'processing_restricted'];
  const KINDS = ['channel', 'queue', 'skill', 'agent', 'api_token', 'permission_set', 'template', 'flow',
    'campaign', 'session', 'messaging_user', 'contact', 'retention_policy', 'workspace', 'audit_log', 'retention'];
  const filter = { actor: '', action: '', resource_kind: '', from: '', to: '' };
  let next = null;
  let loaded = false;
  let agents = [];

  const known = (key) => t(key) !== key;

  function kindWords(kind) {
    return known('audit.kind.' + kind) ? t('audit.kind.' + kind) : kind.replace(/_/g, ' ');
  }

  /** The action in words: its own phrase, else "<kind> created/updated/deleted", else its name. */
  function what(e) {
    if (known('audit.action.' + e.action)) return t('audit.action.' + e.action);
    for (const verb of ['created', 'updated', 'deleted']) {
      if (e.action === e.resource_kind + '_' + verb) return t('audit.verb.' + verb, { kind: kindWords(e.resource_kind) });
    }
    return e.action.replace(/_/g, ' ');
  }

  function who(e) {
    if (e.actor_kind === 'cli') return t('audit.actor.cli');
    if (e.actor_kind === 'system') return t('audit.actor.system');
    if (e.actor_kind === 'token') {
      const token = e.token_name ? t('audit.actor.token', { name: e.token_name }) : t('audit.actor.deleted_token');
      return e.agent_name ? t('audit.actor.token_for', { token, agent: e.agent_name }) : token;
    }
    return e.agent_name || t('audit.actor.deleted_agent');
  }

  function query(extra) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
    for (const [k, v] of Object.entries(extra || {})) if (v) q.set(k, v);
    return q.toString();
  }

  function row(e) {
    const resource = kindWords(e.resource_kind) + (e.resource_id ? ' · ' + e.resource_id : '');
    return h('tr', { 'data-testid': 'audit-row', 'data-action': e.action },
      h('td', { class: 'when' }, P.timeEl(e.at)),
      h('td', { 'data-testid': 'audit-who', text: who(e) }),
      h('td', { 'data-testid': 'audit-what', text: what(e) }),
      h('td', { class: 'mono', text: resource }));
  }

  async function load(more) {
    const body = $('audit-rows');
    try {
      const page = await api('GET', BASE + '?' + query({ limit: '50', before: more ? next : '' }));
      if (!more) clear(body);
      const list = items(page);
      for (const e of list) body.append(row(e));
      next = page.next || null;
      $('audit-more').hidden = !next;
      $('audit-empty').hidden = body.childElementCount > 0;
    } catch (e) {
      showError(t('audit.error.load'), e);
    }
    const base = BASE + '/export?' + query();
    $('audit-export-jsonl').href = base;
    $('audit-export-csv').href = base + (base.endsWith('?') ? '' : '&') + 'format=csv';
  }

  function select(id, label, options, key) {
    const el = h('select', { id, 'data-testid': id, onchange: (ev) => { filter[key] = ev.target.value; load(false); } },
      ...options.map(([v, words]) => h('option', { value: v, selected: v === filter[key], text: words })));
    return h('label', { class: 'field inline', for: id }, h('span', { text: label }), ' ', el);
  }

  function date(id, label, key) {
    const el = h('input', { id, type: 'date', 'data-testid': id, onchange: (ev) => { filter[key] = ev.target.value; load(false); } });
    return h('label', { class: 'field inline', for: id }, h('span', { text: label }), ' ', el);
  }

  async function build() {
    if (P.can('manage_users')) {
      try {
        agents = items(await api('GET', '/api/v1/agents?limit=500')).sort((a, b) => a.name.localeCompare(b.name));
      } catch (_) {
        agents = [];
      }
    }
    clear(panel);
    const any = ['', t('audit.any')];
    panel.append(
      h('h1', { text: t('privacy.tab.audit') }),
      h('p', { class: 'intro', text: t('audit.intro') }),
      h('div', { class: 'filters', 'data-testid': 'audit-filters' },
        agents.length ? select('audit-actor', t('audit.filter.actor'), [any, ...agents.map((a) => [a.id, a.name])], 'actor') : null, ' ',
        select('audit-action', t('audit.filter.action'), [any, ...ACTIONS.map((a) => [a, t('audit.action.' + a)])], 'action'), ' ',
        select('audit-kind', t('audit.filter.resource'), [any, ...KINDS.map((k) => [k, kindWords(k)])], 'resource_kind'), ' ',
        date('audit-from', t('audit.filter.from'), 'from'), ' ',
        date('audit-to', t('audit.filter.to'), 'to'), ' ',
        h('a', { id: 'audit-export-jsonl', class: 'button', 'data-testid': 'audit-export-jsonl', href: BASE + '/export', download: '' }, t('audit.export_jsonl')), ' ',
        h('a', { id: 'audit-export-csv', class: 'button', 'data-testid': 'audit-export-csv', href: BASE + '/export?format=csv', download: '' }, t('audit.export_csv'))),
      h('div', { class: 'table-scroll' },
        h('table', { class: 'list', 'data-testid': 'audit-table' },
          h('thead', null, h('tr', null,
            h('th', { scope: 'col', text: t('audit.col.when') }),
            h('th', { scope: 'col', text: t('audit.col.who') }),
            h('th', { scope: 'col', text: t('audit.col.what') }),
            h('th', { scope: 'col', text: t('audit.col.resource') }))),
          h('tbody', { id: 'audit-rows' }))),
      h('p', { id: 'audit-empty', class: 'empty', hidden: true, text: t('audit.none') }),
      h('button', { type: 'button', id: 'audit-more', 'data-testid': 'audit-more', hidden: true, onclick: () => load(true) }, t('audit.more')));
    await load(false);
  }

  document.addEventListener('privacy:tab', (ev) => {
    if (ev.detail !== 'audit' || loaded) return;
    loaded = true;
    build();
  });
  // Opened on this tab: privacy.js showed it before this script listened.
  if (!panel.hidden && !loaded) {
    loaded = true;
    build();
  }
})();
