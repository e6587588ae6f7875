// Admin area, Templates tab: every channel's message templates with their review status, an
// editor (variables named and given an example, inserted from a button; header and footer; a
// live preview with the examples filled in; Meta's rules checked by the server as you type, the
// same check `submit` makes), and the review steps: submit, approve, reject with a reason.
// admin.js shows this panel when the tab is chosen (window.ParleyTemplates.show).
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, t } = P;

  let rows = [];
  let channels = new Map();
  let editing = null;

  function statusText(row) {
    return t('templates.status.' + row.status);
  }

  async function loadChannels() {
    try {
      const list = items(await api('GET', '/api/v1/channels?limit=500'));
      channels = new Map(list.map((c) => [c.id, c]));
    } catch (_) {
      channels = new Map();
    }
  }

  async function show() {
    $('templates-panel').hidden = false;
    $('template-editor').hidden = true;
    await loadChannels();
    try {
      rows = items(await api('GET', '/api/v1/templates'));
    } catch (err) {
      rows = [];
      showError(t('templates.error.load'), err);
    }
    rows.sort((a, b) => (b.updated_at || '').localeCompare(a.updated_at || ''));
    renderList();
  }

  function renderList() {
    const body = clear($('templates-tbody'));
    for (const row of rows) {
      const channel = channels.get(row.channel_id);
      const status = h('td', { class: 'tpl-status' },
        h('span', { class: 'tag status-' + row.status, 'data-testid': 'template-status', text: statusText(row) }));
      if (row.status === 'rejected' && row.rejection_reason) {
        status.appendChild(h('p', { class: 'muted small', 'data-testid': 'rejection-reason', text: t('templates.rejected_because', { reason: row.rejection_reason }) }));
      }
      const actions = h('td', { class: 'actions' });
      const step = (name, label, cls) => h('button', {
        type: 'button', class: 'small' + (cls ? ' ' + cls : ''), 'data-testid': 'template-' + name, text: label,
        onclick: () => review(row, name),
      });
      if (row.status === 'draft' || row.status === 'rejected') actions.appendChild(step('submit', t('templates.submit'), 'primary'));
      if (row.status === 'pending') {
        actions.appendChild(step('approve', t('templates.approve'), 'primary'));
        actions.appendChild(h('button', { type: 'button', class: 'small danger', 'data-testid': 'template-reject', text: t('templates.reject'), onclick: () => askReason(row, actions) }));
      }
      actions.appendChild(h('button', { type: 'button', class: 'small', 'data-testid': 'template-edit', text: t('templates.edit'), onclick: () => edit(row) }));
      body.appendChild(h('tr', { 'data-testid': 'template-row', dataset: { id: row.id, name: row.name } },
        h('th', { scope: 'row', text: row.name }),
        h('td', { text: row.language }),
        h('td', { text: channel ? channel.name : t('templates.removed_channel') }),
        h('td', { text: t('templates.category.' + row.category) }),
        status,
        h('td', { title: P.when(row.updated_at), text: P.ago(row.updated_at) }),
        actions));
    }
    $('templates-empty').hidden = rows.length > 0;
  }

  function askReason(row, cell) {
    clear(cell);
    const input = h('input', { type: 'text', id: 'reject-reason', 'data-testid': 'reject-reason', 'aria-label': t('templates.reject_reason'), placeholder: t('templates.reject_reason') });
    cell.appendChild(input);
    cell.appendChild(h('button', { type: 'button', class: 'small danger', 'data-testid': 'reject-confirm', text: t('templates.reject'), onclick: () => review(row, 'reject', input.value) }));
    cell.appendChild(h('button', { type: 'button', class: 'small', text: t('templates.cancel'), onclick: renderList }));
    input.focus();
  }

  async function review(row, step, reason) {
    try {
      await api('POST', '/api/v1/templates/' + encodeURIComponent(row.id) + '/' + step, step === 'reject' ? { reason: reason || '' } : undefined);
      notify(t('templates.done.' + step, { name: row.name }), 'info');
      await show();
    } catch (err) {
      showError(t('templates.error.' + step), err);
    }
  }

  // --- Editor ---------------------------------------------------------------------------------

  /** The placeholders of a body in order of number: `[1, 2]` for "{{2}} {{1}}". */
  function placeholders(body) {
    const found = new Set();
    const re = /\{\{\s*(\d+)\s*\}\}/g;
    let m;
    while ((m = re.exec(body)) !== null) found.add(Number(m[1]));
    return [...found].filter((n) => n >= 1).sort((a, b) => a - b);
  }

  function componentText(components, type) {
    const c = (Array.isArray(components) ? components : []).find((x) => x && String(x.type).toUpperCase() === type);
    return c && typeof c.text === 'string' ? c.text : '';
  }

  function edit(row) {
    editing = row;
    const form = $('template-form-admin');
    $('template-editor').hidden = false;
    $('template-editor-title').textContent = row ? t('templates.edit_title', { name: row.name }) : t('templates.new_title');
    const select = clear($('tpl-channel'));
    for (const c of channels.values()) select.appendChild(h('option', { value: c.id, text: c.name + ' · ' + c.kind }));
    const whatsapp = [...channels.values()].find((c) => c.kind === 'whatsapp');
    select.value = row ? row.channel_id : (whatsapp ? whatsapp.id : select.value);
    select.disabled = Boolean(row);
    $('tpl-name').value = row ? row.name : '';
    $('tpl-language').value = row ? row.language : 'en_US';
    $('tpl-category').value = row ? row.category : 'utility';
    $('tpl-body').value = row ? row.body : '';
    $('tpl-header').value = row ? componentText(row.components, 'HEADER') : '';
    $('tpl-footer').value = row ? componentText(row.components, 'FOOTER') : '';
    clear($('tpl-variables'));
    for (const v of (row && row.variables) || []) addVariableRow(v);
    syncVariables();
    form.onsubmit = (ev) => {
      ev.preventDefault();
      save();
    };
    $('tpl-name').focus();
    $('template-editor').scrollIntoView({ block: 'nearest' });
  }

  function variableRows() {
    return [...document.querySelectorAll('#tpl-variables .tpl-variable')];
  }

  function addVariableRow(v) {
    const n = variableRows().length + 1;
    const row = h('div', { class: 'tpl-variable row', 'data-testid': 'tpl-variable' },
      h('span', { class: 'tpl-slot mono', text: '{{' + n + '}}' }),
      h('input', { type: 'text', class: 'tpl-var-name', 'data-testid': 'tpl-var-name', maxlength: 60, 'aria-label': t('templates.variable_name', { n }), placeholder: t('templates.variable_name_hint'), value: v ? v.name : '' }),
      h('input', { type: 'text', class: 'tpl-var-example', 'data-testid': 'tpl-var-example', maxlength: 200, 'aria-label': t('templates.variable_example', { n }), placeholder: t('templates.variable_example_hint'), value: v ? v.example : '' }));
    row.addEventListener('input', preview);
    $('tpl-variables').appendChild(row);
  }

  /** One name/example row per placeholder of the body. */
  function syncVariables() {
    const count = placeholders($('tpl-body').value).length;
    while (variableRows().length < count) addVariableRow(null);
    while (variableRows().length > count) variableRows().pop().remove();
    $('tpl-variables-empty').hidden = count > 0;
    preview();
    check();
  }

  /** Inserts the next `{{n}}` at the cursor, with a space before it when needed. */
  function insertVariable() {
    const area = $('tpl-body');
    const n = Math.max(0, ...placeholders(area.value)) + 1;
    const start = area.selectionStart === undefined ? area.value.length : area.selectionStart;
    const end = area.selectionEnd === undefined ? start : area.selectionEnd;
    const before = area.value.slice(0, start);
    const token = (before && !/\s$/.test(before) ? ' ' : '') + '{{' + n + '}}';
    area.value = before + token + area.value.slice(end);
    area.focus();
    area.selectionStart = area.selectionEnd = start + token.length;
    syncVariables();
    const rowsNow = variableRows();
    const last = rowsNow[n - 1];
    if (last) last.querySelector('.tpl-var-name').focus();
  }

  function variables() {
    return variableRows().map((r) => ({
      name: r.querySelector('.tpl-var-name').value.trim(),
      example: r.querySelector('.tpl-var-example').value.trim(),
    }));
  }

  /** The message as the customer reads it, the examples in place of the variables. */
  function preview() {
    const vars = variables();
    const bubble = clear($('tpl-preview'));
    const header = $('tpl-header').value.trim();
    if (header) bubble.appendChild(h('p', { class: 'tpl-preview-header', text: header }));
    const body = h('p', { class: 'tpl-preview-body', 'data-testid': 'tpl-preview-body' });
    const text = $('tpl-body').value;
    const re = /\{\{\s*(\d+)\s*\}\}/g;
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      body.appendChild(document.createTextNode(text.slice(last, m.index)));
      const v = vars[Number(m[1]) - 1];
      const filled = v && v.example;
      body.appendChild(h('mark', { class: filled ? 'filled' : 'empty', text: filled ? v.example : (v && v.name ? '[' + v.name + ']' : m[0]) }));
      last = m.index + m[0].length;
    }
    body.appendChild(document.createTextNode(text.slice(last)));
    bubble.appendChild(body);
    const footer = $('tpl-footer').value.trim();
    if (footer) bubble.appendChild(h('p', { class: 'tpl-preview-footer muted small', text: footer }));
    $('tpl-count').textContent = t('templates.characters', { n: P.number([...text].length) });
  }

  const check = P.debounce(async () => {
    const list = clear($('tpl-problems'));
    const body = $('tpl-body').value;
    const channelId = $('tpl-channel').value;
    if (!channelId) return;
    let answer;
    try {
      answer = await api('POST', '/api/v1/templates/check', { channel_id: channelId, body, variables: variables() });
    } catch (_) {
      return;
    }
    for (const p of answer.problems || []) {
      list.appendChild(h('li', { 'data-testid': 'tpl-problem', dataset: { rule: p.rule }, text: t('templates.rule.' + p.rule, { n: p.n }) }));
    }
    $('tpl-ok').hidden = (answer.problems || []).length > 0 || !body.trim();
  }, 250);

  function components() {
    const kept = (editing && Array.isArray(editing.components) ? editing.components : [])
      .filter((c) => !c || !['HEADER', 'FOOTER'].includes(String(c.type).toUpperCase()));
    const header = $('tpl-header').value.trim();
    const footer = $('tpl-footer').value.trim();
    const out = [];
    if (header) out.push({ type: 'HEADER', format: 'TEXT', text: header });
    out.push(...kept);
    if (footer) out.push({ type: 'FOOTER', text: footer });
    return out;
  }

  async function save() {
    const payload = {
      name: $('tpl-name').value.trim(),
      language: $('tpl-language').value.trim(),
      category: $('tpl-category').value,
      body: $('tpl-body').value,
      components: components(),
      variables: variables(),
    };
    if (editing && editing.merge_fields) payload.merge_fields = editing.merge_fields;
    for (const old of document.querySelectorAll('#template-form-admin .field-error')) old.remove();
    try {
      if (editing) await api('PUT', '/api/v1/templates/' + encodeURIComponent(editing.id), payload);
      else await api('POST', '/api/v1/channels/' + encodeURIComponent($('tpl-channel').value) + '/templates', payload);
      notify(editing ? t('templates.saved') : t('templates.created'), 'info');
      await show();
    } catch (err) {
      const field = /^(\w+)/.exec(err.message || '');
      const el = field && $('tpl-' + field[1]);
      const wrap = el && el.closest('.field');
      if (wrap) wrap.appendChild(h('p', { class: 'error-text field-error', role: 'alert', 'data-testid': 'field-error', text: err.message }));
      showError(editing ? t('templates.not_saved') : t('templates.not_created'), err);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    if (!$('templates-panel')) return;
    $('templates-new').addEventListener('click', () => edit(null));
    $('tpl-add-variable').addEventListener('click', insertVariable);
    $('tpl-body').addEventListener('input', syncVariables);
    $('tpl-channel').addEventListener('change', check);
    for (const id of ['tpl-header', 'tpl-footer']) $(id).addEventListener('input', preview);
    $('tpl-variables').addEventListener('input', check);
    $('tpl-cancel').addEventListener('click', () => { $('template-editor').hidden = true; });
  });

  window.ParleyTemplates = { show };
})();
