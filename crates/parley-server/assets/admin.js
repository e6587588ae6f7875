// Admin area: forms over the REST API for channels, keyword sets, keyword processes, queues, skills, agents, quick
// text and routing rules. The fields of each form come from the server's own OpenAPI document (the
// request body of the resource's POST), so a form can never ask for what the API does not take;
// a few fields get a better widget (pick a queue by name, skills with levels, JSON for settings).
// Dead letters are not configuration: their tab lists them and replays them (see deadLetters below).
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, t } = P;
  /** A catalogue text, or `fallback` when the catalogue has no such key (names built at run time). */
  const tOr = (key, fallback) => {
    const text = t(key);
    return text === key ? fallback : text;
  };

  const RESOURCES = {
    channels: {
      title: t('admin.channels.title'), key: 'channels', path: '/api/v1/channels', columns: ['name', 'kind', 'provider', 'address', 'queue_id', 'consent_level'],
      help: t('admin.channels.help'),
      // Settings and secrets are drawn from the provider's own field list (providerFields below);
      // keyword sets have their own tab.
      providerForm: true, skip: ['settings', 'secrets', 'keyword_sets'],
      order: ['kind', 'provider', 'name', 'address', 'number_type', 'country', 'consent_level', 'queue_id', 'throughput_mps', 'provider_keyword'],
      fieldErrors: [
        { field: 'keyword_sets', match: /responses\.help/ },
        { field: 'settings', match: /default help response/ },
      ],
    },
    'sms-processes': {
      title: t('admin.sms_processes.title'), key: 'sms_processes', path: '/api/v1/sms-processes', columns: ['name', 'kind', 'status', 'inbound', 'keywords'],
      help: t('admin.sms_processes.help'),
      actions: [
        { name: 'start', label: t('admin.action.start'), when: (i) => i.status !== 'started' },
        { name: 'pause', label: t('admin.action.pause'), when: (i) => i.status === 'started' },
      ],
      list: ['custom_keywords'],
      fieldErrors: [{ field: 'message', match: /the message does not/ }],
    },
    'keyword-sets': {
      title: t('admin.keyword_sets.title'), key: 'keyword_sets', path: '/api/v1/keyword-sets', columns: ['channel_id', 'language', 'config'],
      help: t('admin.keyword_sets.help'),
      json: ['config'], order: ['channel_id', 'language', 'config'],
      fieldErrors: [{ field: 'config', match: /responses\.help/ }],
    },
    queues: { title: t('admin.queues.title'), key: 'queues', path: '/api/v1/queues', columns: ['name', 'routing_model', 'assignment', 'priority'], help: t('admin.queues.help') },
    skills: { title: t('admin.skills.title'), key: 'skills', path: '/api/v1/skills', columns: ['name', 'description'], help: t('admin.skills.help') },
    agents: {
      title: t('admin.agents.title'), key: 'agents', path: '/api/v1/agents', columns: ['name', 'email', 'role', 'capacity', 'presence', 'queue_ids'],
      help: t('admin.agents.help'),
    },
    'quick-texts': {
      title: t('admin.quick_texts.title'), key: 'quick_texts', path: '/api/v1/quick-texts', columns: ['title', 'body'],
      help: t('admin.quick_texts.help'),
      fallback: [
        { name: 'title', kind: 'text', required: true },
        { name: 'body', kind: 'textarea', required: true },
      ],
    },
    'routing-rules': {
      title: t('admin.routing_rules.title'), key: 'routing_rules', path: '/api/v1/routing-rules', columns: null,
      help: t('admin.routing_rules.help'),
    },
    // Its own panel and script (templates.js).
    templates: { title: t('templates.title'), key: 'templates', path: '/api/v1/templates', external: true },
    'dead-letters': {
      title: t('admin.dead_letters.title'), key: 'dead_letters', path: '/api/v1/dead-letters', custom: true,
      help: t('admin.dead_letters.help'),
    },
  };

  /** Fields whose value is the id of another resource, shown by name. */
  const REFERENCES = { queue_id: 'queues', queue_ids: 'queues', skill_id: 'skills', skill_ids: 'skills', agent_id: 'agents', agent_ids: 'agents', channel_id: 'channels', channel_ids: 'channels' };
  const TEXTAREAS = new Set(['body', 'message', 'description', 'text']);
  const READ_ONLY = new Set(['id', 'created_at', 'updated_at']);

  let openapi = null;
  let current = null;
  let rows = [];
  let next = null;
  const names = {};

  // --- OpenAPI --------------------------------------------------------------------------------

  async function loadOpenApi() {
    try {
      openapi = await api('GET', '/api/openapi.json');
    } catch (_) {
      openapi = { paths: {}, components: { schemas: {} } };
    }
    if (P.can('configure_messaging')) {
      try {
        providerForms = items(await api('GET', '/api/v1/channel-providers'));
      } catch (_) {
        providerForms = [];
      }
    }
  }

  // --- Provider settings and secrets ----------------------------------------------------------

  /** Each provider and kind with its settings and secrets fields (GET /api/v1/channel-providers). */
  let providerForms = [];

  function formValue(name) {
    const el = document.querySelector('#admin-form [data-field="' + name + '"]');
    return el ? el.value : '';
  }

  function getPath(obj, path) {
    return path.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), obj);
  }

  function setPath(obj, path, value) {
    const keys = path.split('.');
    const last = keys.pop();
    let o = obj;
    for (const k of keys) {
      if (!o[k] || typeof o[k] !== 'object') o[k] = {};
      o = o[k];
    }
    o[last] = value;
  }

  /** The providers that carry the chosen kind, in the provider select. */
  function fillProviders(select, chosen) {
    const kind = formValue('kind');
    clear(select);
    const names = providerForms.filter((f) => !kind || f.kind === kind).map((f) => f.provider);
    for (const name of [...new Set(names)]) select.appendChild(h('option', { value: name, text: tOr('channel_settings.provider.' + name, name) }));
    if (chosen && names.includes(chosen)) select.value = chosen;
  }

  function settingLabel(f) {
    return tOr('channel_settings.field.' + f.name.replace(/\./g, '_'), f.name) + (f.required ? ' *' : '');
  }

  /** The fields of the chosen provider and kind: settings, then write-only secrets, then the
   * settings keys the provider does not describe (channel behaviour) as JSON, only if any. */
  function renderProviderFields(row) {
    const box = clear($('provider-fields'));
    const spec = providerForms.find((f) => f.provider === formValue('provider') && f.kind === formValue('kind'));
    if (!spec) {
      box.appendChild(h('p', { class: 'muted', text: t('channel_settings.pick_provider') }));
      return;
    }
    const settings = (row && row.settings) || {};
    const sameProvider = row && row.provider === spec.provider;
    if (spec.settings.length) box.appendChild(h('h3', { text: t('channel_settings.settings_title') }));
    for (const f of spec.settings) {
      const id = 'cs-' + f.name.replace(/\./g, '-');
      const value = sameProvider ? getPath(settings, f.name) : undefined;
      const hint = f.example || f.default || '';
      let input;
      switch (f.kind) {
        case 'bool':
          input = h('input', { id, type: 'checkbox', checked: Boolean(value) });
          break;
        case 'enum':
          input = h('select', { id });
          input.appendChild(h('option', { value: '', text: f.default ? t('channel_settings.default_choice', { value: f.default }) : t('admin.none') }));
          for (const c of f.choices) input.appendChild(h('option', { value: c, text: tOr('channel_settings.choice.' + c, c) }));
          if (value !== undefined && value !== null) input.value = String(value);
          break;
        case 'number':
          input = h('input', { id, type: 'number', step: 'any', placeholder: hint, value: value === undefined || value === null ? '' : value });
          break;
        case 'list':
          input = h('input', { id, type: 'text', placeholder: t('admin.comma_separated'), value: Array.isArray(value) ? value.join(', ') : '' });
          break;
        default:
          input = h('input', { id, type: f.kind === 'url' ? 'url' : 'text', placeholder: hint, value: value === undefined || value === null ? '' : value });
      }
      input.dataset.setting = f.name;
      input.dataset.kind = f.kind;
      box.appendChild(h('div', { class: 'field', dataset: { path: 'settings.' + f.name } },
        h('label', { for: id, text: settingLabel(f) }), input,
        h('p', { class: 'muted small', text: t(f.help) + (f.default ? ' ' + t('channel_settings.default_is', { value: f.default }) : '') })));
    }
    if (spec.secrets.length) box.appendChild(h('h3', { text: t('channel_settings.secrets_title') }));
    const set = new Set(sameProvider && Array.isArray(row.secrets_set) ? row.secrets_set : []);
    for (const f of spec.secrets) {
      const id = 'cx-' + f.name;
      const input = h('input', { id, type: 'password', autocomplete: 'off', dataset: { secret: f.name }, placeholder: f.example || '' });
      const wrap = h('div', { class: 'field', dataset: { path: 'secrets.' + f.name } },
        h('label', { for: id, text: settingLabel(f) }),
        h('span', { class: 'tag secret-state', 'data-testid': 'secret-state', text: set.has(f.name) ? t('channel_settings.secret_set') : t('channel_settings.secret_not_set') }));
      if (row && set.has(f.name)) {
        input.hidden = true;
        wrap.appendChild(h('button', {
          type: 'button', class: 'small', text: t('channel_settings.replace'),
          onclick: (ev) => { ev.target.remove(); input.hidden = false; input.focus(); },
        }));
      }
      wrap.appendChild(input);
      wrap.appendChild(h('p', { class: 'muted small', text: t(f.help) }));
      box.appendChild(wrap);
    }
    const known = new Set(spec.settings.map((f) => f.name.split('.')[0]));
    const extra = Object.fromEntries(Object.entries(settings).filter(([k]) => !known.has(k)));
    const details = h('details', { class: 'advanced wide' },
      h('summary', { text: t('channel_settings.advanced') }),
      h('p', { class: 'muted small', text: t('channel_settings.advanced_help') }),
      h('textarea', { id: 'cs-extra', rows: 4, class: 'mono', spellcheck: 'false', 'aria-label': t('channel_settings.advanced'), value: Object.keys(extra).length ? JSON.stringify(extra, null, 2) : '' }));
    details.open = Object.keys(extra).length > 0;
    box.appendChild(details);
  }

  /** `{settings, secrets}` from the provider fields; throws a sentence when a value cannot be read. */
  function collectProvider() {
    let settings = {};
    const extra = $('cs-extra');
    if (extra && extra.value.trim()) {
      try {
        settings = JSON.parse(extra.value);
      } catch (_) {
        throw new Error(t('admin.invalid_json', { field: t('channel_settings.advanced') }));
      }
    }
    for (const el of document.querySelectorAll('#provider-fields [data-setting]')) {
      let v;
      switch (el.dataset.kind) {
        case 'bool': v = el.checked ? true : undefined; break;
        case 'number': v = el.value === '' ? undefined : Number(el.value); break;
        case 'list': v = el.value.split(',').map((x) => x.trim()).filter(Boolean); if (!v.length) v = undefined; break;
        default: v = el.value.trim() === '' ? undefined : el.value.trim();
      }
      if (v !== undefined) setPath(settings, el.dataset.setting, v);
    }
    const secrets = {};
    for (const el of document.querySelectorAll('#provider-fields [data-secret]')) {
      if (!el.hidden && el.value !== '') secrets[el.dataset.secret] = el.value;
    }
    return { settings, secrets };
  }

  /** A schema with `$ref`, `allOf` and nullable unions resolved. */
  function resolve(schema, depth) {
    if (!schema || (depth || 0) > 8) return {};
    if (schema.$ref) {
      const name = schema.$ref.split('/').pop();
      const target = openapi.components && openapi.components.schemas && openapi.components.schemas[name];
      return Object.assign({}, resolve(target, (depth || 0) + 1), schema.description ? { description: schema.description } : {});
    }
    if (Array.isArray(schema.allOf)) {
      const merged = { type: 'object', properties: {}, required: [] };
      for (const part of schema.allOf.map((s) => resolve(s, (depth || 0) + 1))) {
        Object.assign(merged.properties, part.properties || {});
        merged.required = merged.required.concat(part.required || []);
        for (const k of ['type', 'enum', 'format', 'items']) if (part[k] !== undefined && k !== 'type') merged[k] = part[k];
      }
      return merged;
    }
    const union = schema.oneOf || schema.anyOf;
    if (Array.isArray(union)) {
      const real = union.filter((s) => s.type !== 'null');
      if (real.length === 1) return Object.assign(resolve(real[0], (depth || 0) + 1), { nullable: real.length !== union.length });
      return { type: 'object' };
    }
    let type = schema.type;
    let nullable = Boolean(schema.nullable);
    if (Array.isArray(type)) {
      nullable = nullable || type.includes('null');
      type = type.find((t) => t !== 'null');
    }
    return Object.assign({}, schema, { type, nullable });
  }

  /** The fields of a resource's create body, from the OpenAPI document. */
  function fieldsFor(key) {
    const res = RESOURCES[key];
    const op = openapi.paths && openapi.paths[res.path] && openapi.paths[res.path].post;
    const content = op && op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
    if (!content || !content.schema) return res.fallback || null;
    const schema = resolve(content.schema);
    const required = new Set(schema.required || []);
    const order = res.order || [];
    const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
    const entries = Object.entries(schema.properties || {}).filter(([name]) => !(res.skip || []).includes(name))
      .sort((a, b) => rank(a[0]) - rank(b[0]));
    return entries.map(([name, raw]) => {
      const s = resolve(raw);
      const field = { name, required: required.has(name) && !s.nullable, description: s.description || raw.description || '', schema: s };
      if ((res.json || []).includes(name)) field.kind = 'json';
      else if (res.providerForm && name === 'provider') field.kind = 'provider';
      else if (name === 'skills' && key === 'agents') field.kind = 'skills';
      else if (REFERENCES[name] && s.type === 'array') field.kind = 'multi-ref';
      else if (REFERENCES[name]) field.kind = 'ref';
      else if (Array.isArray(s.enum)) field.kind = 'enum';
      else if (s.type === 'boolean') field.kind = 'bool';
      else if (s.type === 'integer' || s.type === 'number') field.kind = 'number';
      else if (s.type === 'array' && s.items && resolve(s.items).type === 'string') field.kind = 'list';
      else if (s.type === 'object' || s.type === 'array' || !s.type) field.kind = 'json';
      else if (TEXTAREAS.has(name)) field.kind = 'textarea';
      else field.kind = 'text';
      field.writeOnly = (res.writeOnly || []).includes(name);
      return field;
    });
  }

  // --- Names for ids --------------------------------------------------------------------------

  async function loadNames(resource) {
    if (names[resource]) return names[resource];
    const map = new Map();
    try {
      const list = items(await api('GET', RESOURCES[resource].path + '?limit=500'));
      for (const it of list) map.set(it.id, it.name || it.title || it.id);
    } catch (_) {
      // Ids are shown as they are.
    }
    names[resource] = map;
    return map;
  }

  /** A wire value in words: a channel kind by the console's names, others by `admin.value.<field>.<value>`. */
  function valueName(field, v) {
    if (field === 'kind') return tOr('console.kind_' + v, v);
    return tOr('admin.value.' + field + '.' + v, v);
  }

  function label(name) {
    const s = name.replace(/_ids?$/, (m) => (m === '_ids' ? 's' : '')).replace(/_/g, ' ');
    return tOr('admin.field.' + name, s.charAt(0).toUpperCase() + s.slice(1));
  }

  function display(name, value) {
    if (value === null || value === undefined || value === '') return '—';
    const ref = REFERENCES[name] && names[REFERENCES[name]];
    if (Array.isArray(value)) {
      return value.map((v) => (ref && ref.get(v)) || (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', ') || '—';
    }
    if (ref && ref.get(value)) return ref.get(value);
    if (typeof value === 'object') {
      const text = JSON.stringify(value);
      return text.length > 80 ? text.slice(0, 79) + '…' : text;
    }
    return String(value);
  }

  // --- List -----------------------------------------------------------------------------------

  /** A tab the signed-in person may use (its `data-permission`), the first such tab otherwise. */
  function permittedTab(key) {
    const tabs = [...document.querySelectorAll('#admin-tabs [role="tab"]')];
    const allowed = (tab) => !tab.dataset.permission || P.can(tab.dataset.permission);
    const asked = tabs.find((tab) => tab.dataset.resource === key);
    if (asked && RESOURCES[key] && allowed(asked)) return key;
    const first = tabs.find(allowed);
    return first ? first.dataset.resource : 'channels';
  }

  async function show(key) {
    key = permittedTab(key);
    current = key;
    const res = RESOURCES[key];
    for (const tab of document.querySelectorAll('#admin-tabs [role="tab"]')) {
      tab.setAttribute('aria-selected', String(tab.dataset.resource === key));
    }
    if (window.location.hash !== '#' + key) window.history.replaceState(null, '', '#' + key);
    $('admin-panel').hidden = Boolean(res.external);
    if ($('templates-panel')) $('templates-panel').hidden = true;
    if ($('template-editor')) $('template-editor').hidden = true;
    if (res.external) {
      $('admin-editor').hidden = true;
      // Sender limits belong to the Channels tab (sender-limits.js shows them there).
      if ($('sender-limits')) $('sender-limits').hidden = true;
      if (window.ParleyTemplates) await window.ParleyTemplates.show();
      return;
    }
    $('admin-title').textContent = res.title;
    $('admin-help').textContent = res.help || '';
    $('admin-editor').hidden = true;
    $('admin-new').hidden = Boolean(res.custom);
    $('dead-reasons').hidden = true;
    $('admin-empty').textContent = res.custom ? t('admin.dead_letters.empty') : t('admin.empty');
    rows = [];
    next = null;
    clear($('admin-tbody'));
    await Promise.all(['queues', 'skills', 'agents', 'channels'].map(loadNames));
    await loadPage();
  }

  async function loadPage() {
    const res = RESOURCES[current];
    const key = current;
    let data;
    try {
      data = await api('GET', res.path + '?limit=100' + (next ? '&after=' + encodeURIComponent(next) : ''));
    } catch (err) {
      if (key !== current) return;
      renderRows();
      showError(err.status === 404 ? t('admin.error.unavailable', { what: res.title }) : t('admin.error.load', { what: res.title.toLowerCase() }), err);
      return;
    }
    if (key !== current) return;
    rows = rows.concat(items(data));
    next = data && !Array.isArray(data) ? data.next || null : null;
    renderRows();
  }

  function columnsFor(res) {
    if (res.columns) return res.columns;
    const sample = rows[0] || {};
    return Object.keys(sample).filter((k) => !READ_ONLY.has(k)).slice(0, 5);
  }

  function renderRows() {
    const res = RESOURCES[current];
    if (current === 'dead-letters') {
      renderDeadLetters();
      return;
    }
    const cols = columnsFor(res);
    const head = clear($('admin-thead'));
    head.appendChild(h('tr', null, cols.map((c) => h('th', { scope: 'col', text: label(c) })), h('th', { scope: 'col', class: 'actions', text: '' })));
    const body = clear($('admin-tbody'));
    for (const row of rows) {
      const del = h('button', { type: 'button', class: 'small danger', text: t('admin.delete') });
      del.addEventListener('click', () => confirmDelete(del, row));
      body.appendChild(h('tr', { 'data-testid': 'admin-row', dataset: { id: row.id || '' } },
        cols.map((c, i) => (i === 0 ? h('th', { scope: 'row', text: display(c, row[c]) }) : h('td', { text: display(c, row[c]) }))),
        h('td', { class: 'actions' },
          (res.actions || []).filter((a) => a.when(row)).map((a) => h('button', {
            type: 'button', class: 'small', text: a.label, onclick: () => runAction(row, a),
          })),
          h('button', { type: 'button', class: 'small', text: t('admin.edit'), onclick: () => edit(row) }),
          del)));
    }
    $('admin-empty').hidden = rows.length > 0;
    $('admin-more').hidden = !next;
  }

  /** Two clicks to delete: the first arms the button for a few seconds. */
  function confirmDelete(button, row) {
    if (button.dataset.armed !== 'true') {
      button.dataset.armed = 'true';
      button.textContent = t('admin.really_delete');
      setTimeout(() => {
        button.dataset.armed = '';
        button.textContent = t('admin.delete');
      }, 4000);
      return;
    }
    remove(row);
  }

  async function remove(row) {
    const res = RESOURCES[current];
    try {
      await api('DELETE', res.path + '/' + encodeURIComponent(row.id));
      notify(t('admin.deleted'), 'info');
      delete names[current];
      show(current);
    } catch (err) {
      showError(t('admin.error.delete'), err);
    }
  }

  async function runAction(row, action) {
    const res = RESOURCES[current];
    try {
      await api('POST', res.path + '/' + encodeURIComponent(row.id) + '/' + action.name);
      notify(t('admin.action_done', { action: action.label }), 'info');
      show(current);
    } catch (err) {
      showError(t('admin.error.action', { action: action.label.toLowerCase() }), err);
    }
  }

  // --- Dead letters ---------------------------------------------------------------------------

  /** "3 min ago", with the exact time in the tooltip. */
  function ago(iso) {
    const at = new Date(iso).getTime();
    if (Number.isNaN(at)) return '—';
    return t('admin.ago', { duration: P.duration(Date.now() - at) });
  }

  function renderDeadLetters() {
    const head = clear($('admin-thead'));
    head.appendChild(h('tr', null, [t('admin.dl.col.received'), t('admin.dl.col.channel'), t('admin.dl.col.reason'), t('admin.dl.col.message')].map((c) => h('th', { scope: 'col', text: c })),
      h('th', { scope: 'col', class: 'actions', text: '' })));
    const body = clear($('admin-tbody'));
    const channels = names.channels || new Map();
    const reasons = new Map();
    for (const row of rows) {
      const seen = reasons.get(row.reason) || { text: row.reason_text, n: 0 };
      seen.n += 1;
      reasons.set(row.reason, seen);
      const channel = row.channel_id ? channels.get(row.channel_id) || t('admin.dl.removed_channel') : '—';
      // Every value is set as text: a customer's message is never markup here.
      body.appendChild(h('tr', { 'data-testid': 'dead-letter', dataset: { id: row.id } },
        h('th', { scope: 'row', title: P.exact(row.received_at), text: ago(row.received_at) }),
        h('td', { text: channel }),
        h('td', { title: row.detail || '', text: row.reason_text }),
        h('td', { class: 'excerpt', text: row.excerpt === null || row.excerpt === undefined ? t('admin.dl.unreadable') : (row.from ? row.from + ': ' : '') + row.excerpt }),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'small', text: t('admin.dl.replay'), onclick: () => replay('/' + encodeURIComponent(row.id) + '/replay', null) }))));
    }
    const bar = clear($('dead-reasons'));
    for (const [reason, seen] of reasons) {
      bar.appendChild(h('button', {
        type: 'button', class: 'small', dataset: { reason },
        text: t('admin.dl.replay_all', { reason: seen.text.toLowerCase(), n: seen.n + (next ? '+' : '') }),
        onclick: () => replay('/replay', { reason }),
      }));
    }
    bar.hidden = reasons.size === 0;
    $('admin-empty').hidden = rows.length > 0;
    $('admin-more').hidden = !next;
  }

  async function replay(suffix, payload) {
    try {
      const done = await api('POST', RESOURCES['dead-letters'].path + suffix, payload || undefined);
      const n = done && typeof done.replayed === 'number' ? done.replayed : 0;
      const form = new Intl.PluralRules(document.documentElement.lang || 'en').select(n) === 'one' ? 'one' : 'other';
      notify(t('admin.dl.replayed_' + form, { n }), 'info');
      show('dead-letters');
    } catch (err) {
      showError(t('admin.dl.error.replay'), err);
    }
  }

  // --- Editor ---------------------------------------------------------------------------------

  function edit(row) {
    const res = RESOURCES[current];
    const fields = fieldsFor(current);
    const form = clear($('admin-form'));
    $('admin-editor').hidden = false;
    $('admin-editor-title').textContent = t('admin.' + res.key + (row ? '.edit' : '.new'));
    if (!fields) {
      // No schema published for this resource: edit its JSON as the API takes it.
      const value = row ? Object.fromEntries(Object.entries(row).filter(([k]) => !READ_ONLY.has(k))) : {};
      form.appendChild(h('div', { class: 'field wide' },
        h('label', { for: 'f-json', text: t('admin.json_body') }),
        h('textarea', { id: 'f-json', rows: 12, class: 'mono', spellcheck: 'false', value: JSON.stringify(value, null, 2) })));
    } else {
      for (const f of fields) form.appendChild(fieldWidget(f, row));
      if (res.providerForm) {
        form.appendChild(h('div', { id: 'provider-fields', class: 'provider-fields wide', 'data-testid': 'provider-fields' }));
        const kindEl = form.querySelector('[data-field="kind"]');
        const providerEl = form.querySelector('[data-field="provider"]');
        if (providerEl) fillProviders(providerEl, row ? row.provider : null);
        if (kindEl) kindEl.addEventListener('change', () => { fillProviders(providerEl, formValue('provider')); renderProviderFields(row); });
        if (providerEl) providerEl.addEventListener('change', () => renderProviderFields(row));
        renderProviderFields(row);
      }
    }
    form.appendChild(h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'admin-save', text: row ? t('admin.save') : t('admin.create') }),
      h('button', { type: 'button', text: t('admin.cancel'), onclick: () => { $('admin-editor').hidden = true; } })));
    form.onsubmit = (ev) => {
      ev.preventDefault();
      save(row, fields);
    };
    const first = form.querySelector('input, select, textarea');
    if (first) first.focus();
    $('admin-editor').scrollIntoView({ block: 'nearest' });
  }

  function fieldWidget(f, row) {
    const id = 'f-' + f.name;
    const value = row ? row[f.name] : f.schema && f.schema.default;
    const wrap = h('div', { class: 'field' + (f.kind === 'json' || f.kind === 'textarea' || f.kind === 'skills' || f.kind === 'multi-ref' ? ' wide' : '') });
    wrap.appendChild(h('label', { for: id, text: label(f.name) + (f.required ? ' *' : '') }));
    let input;
    switch (f.kind) {
      case 'enum': {
        input = h('select', { id });
        if (!f.required) input.appendChild(h('option', { value: '', text: t('admin.none') }));
        for (const v of f.schema.enum) if (v !== null) input.appendChild(h('option', { value: v, text: valueName(f.name, v) }));
        if (value !== undefined && value !== null) input.value = value;
        break;
      }
      case 'provider':
        input = h('select', { id });
        break;
      case 'ref': {
        input = h('select', { id });
        input.appendChild(h('option', { value: '', text: t('admin.none') }));
        for (const [rid, name] of names[REFERENCES[f.name]] || []) input.appendChild(h('option', { value: rid, text: name }));
        if (value) input.value = value;
        break;
      }
      case 'multi-ref': {
        input = h('div', { id, class: 'checks', role: 'group' });
        const chosen = new Set(Array.isArray(value) ? value : []);
        for (const [rid, name] of names[REFERENCES[f.name]] || []) {
          input.appendChild(h('label', { class: 'check' }, h('input', { type: 'checkbox', value: rid, checked: chosen.has(rid) }), ' ', name));
        }
        break;
      }
      case 'skills': {
        input = h('div', { id, class: 'checks', role: 'group' });
        const levels = new Map((Array.isArray(value) ? value : []).map((s) => [s.skill_id, s.level]));
        for (const [rid, name] of names.skills || []) {
          input.appendChild(h('label', { class: 'check' }, name + ' ',
            h('input', { type: 'number', min: 1, max: 10, class: 'level', placeholder: '—', dataset: { skillId: rid }, value: levels.has(rid) ? levels.get(rid) : '' })));
        }
        break;
      }
      case 'bool':
        input = h('input', { id, type: 'checkbox', checked: Boolean(value) });
        break;
      case 'number':
        input = h('input', { id, type: 'number', value: value === undefined || value === null ? '' : value });
        break;
      case 'list':
        input = h('input', { id, type: 'text', placeholder: t('admin.comma_separated'), value: Array.isArray(value) ? value.join(', ') : '' });
        break;
      case 'json':
        input = h('textarea', {
          id, rows: 5, class: 'mono', spellcheck: 'false',
          placeholder: f.writeOnly ? t('admin.write_only') : '{}',
          value: f.writeOnly || value === undefined || value === null ? '' : JSON.stringify(value, null, 2),
        });
        break;
      case 'textarea':
        input = h('textarea', { id, rows: 4, value: value === undefined || value === null ? '' : value });
        break;
      default:
        input = h('input', { id, type: 'text', value: value === undefined || value === null ? '' : value });
    }
    input.dataset.field = f.name;
    wrap.appendChild(input);
    const hint = f.description || (f.writeOnly && row && Array.isArray(row.secrets_set) && row.secrets_set.length ? t('admin.secrets_set', { names: row.secrets_set.join(', ') }) : '');
    if (hint) wrap.appendChild(h('p', { class: 'muted small', text: hint }));
    return wrap;
  }

  /** The request body from the form; throws a sentence when a value cannot be read. */
  function collect(fields) {
    if (!fields) {
      try {
        return JSON.parse($('f-json').value || '{}');
      } catch (_) {
        throw new Error(t('admin.invalid_json_body'));
      }
    }
    const body = {};
    for (const f of fields) {
      const el = document.querySelector('[data-field="' + CSS.escape(f.name) + '"]');
      if (!el) continue;
      let v;
      switch (f.kind) {
        case 'bool': v = el.checked; break;
        case 'number': v = el.value === '' ? undefined : Number(el.value); break;
        case 'list': v = el.value.split(',').map((s) => s.trim()).filter(Boolean); break;
        case 'multi-ref': v = Array.from(el.querySelectorAll('input:checked')).map((i) => i.value); break;
        case 'skills':
          v = Array.from(el.querySelectorAll('input.level')).filter((i) => i.value !== '')
            .map((i) => ({ skill_id: i.dataset.skillId, level: Number(i.value) }));
          break;
        case 'json':
          if (el.value.trim() === '') v = undefined;
          else {
            try {
              v = JSON.parse(el.value);
            } catch (_) {
              throw new Error(t('admin.invalid_json', { field: label(f.name) }));
            }
          }
          break;
        default: v = el.value.trim() === '' ? undefined : el.value;
      }
      if (v === undefined || (typeof v === 'number' && Number.isNaN(v))) {
        if (f.required) throw new Error(t('admin.required', { field: label(f.name) }));
        continue;
      }
      body[f.name] = v;
    }
    return body;
  }

  async function save(row, fields) {
    const res = RESOURCES[current];
    let payload;
    let secrets = {};
    try {
      payload = collect(fields);
      if (res.providerForm && fields) {
        const p = collectProvider();
        payload.settings = p.settings;
        secrets = p.secrets;
        // A new channel takes its secrets with it; an edit keeps the stored ones and replaces
        // only those typed again (PATCH .../secrets), as nobody can see them to type them all.
        if (!row && Object.keys(secrets).length) payload.secrets = secrets;
      }
    } catch (err) {
      notify(err.message, 'error');
      return;
    }
    for (const old of document.querySelectorAll('#admin-form .field-error')) old.remove();
    try {
      if (row) {
        await api('PUT', res.path + '/' + encodeURIComponent(row.id), payload);
        if (res.providerForm && Object.keys(secrets).length) {
          await api('PATCH', res.path + '/' + encodeURIComponent(row.id) + '/secrets', secrets);
        }
      } else await api('POST', res.path, payload);
      notify(row ? t('admin.saved') : t('admin.created'), 'info');
      delete names[current];
      show(current);
    } catch (err) {
      showFieldError(res, err);
      showError(row ? t('admin.not_saved') : t('admin.not_created'), err);
    }
  }

  /** A refusal about one field (a help text missing what the short code rules ask) is also shown
   * under that field, where the admin fixes it; the toast alone goes away. */
  function showFieldError(res, err) {
    if (!err || err.status !== 422) return;
    // A provider field named in the refusal (`settings.port: must be 1 to 65535`): shown under
    // that field, or under the nearest enclosing one (`settings.simulate` for a nested value).
    const named = /\b((?:settings|secrets)\.[A-Za-z0-9_.]+)/.exec(err.message || '');
    if (res.providerForm && named) {
      let path = named[1];
      let wrap = null;
      while (path && !wrap) {
        wrap = document.querySelector('#provider-fields [data-path="' + CSS.escape(path) + '"]');
        path = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
      }
      if (!wrap) wrap = $('provider-fields');
      if (wrap) {
        wrap.appendChild(h('p', { class: 'error-text field-error', role: 'alert', 'data-testid': 'field-error', text: err.message }));
        const input = wrap.querySelector('input, select, textarea');
        if (input) input.setAttribute('aria-invalid', 'true');
        return;
      }
    }
    if (!res.fieldErrors) return;
    const rule = res.fieldErrors.find((r) => r.match.test(err.message || ''));
    if (!rule) return;
    const el = document.querySelector('#admin-form [data-field="' + CSS.escape(rule.field) + '"]');
    const wrap = el && el.closest('.field');
    if (!wrap) return;
    wrap.appendChild(h('p', { class: 'error-text field-error', role: 'alert', 'data-testid': 'field-error', text: err.message }));
  }

  document.addEventListener('DOMContentLoaded', () => {
    // The forms are built from the OpenAPI document. Controls are wired at once and wait for it,
    // so a click made while it loads is acted on rather than lost.
    const ready = loadOpenApi();
    for (const tab of document.querySelectorAll('#admin-tabs [role="tab"]')) {
      tab.addEventListener('click', () => ready.then(() => show(tab.dataset.resource)));
    }
    $('admin-new').addEventListener('click', () => ready.then(() => edit(null)));
    $('admin-more').addEventListener('click', () => ready.then(loadPage));
    ready.then(() => show(window.location.hash.slice(1)));
  });
})();
