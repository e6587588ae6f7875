// Web chat deployments (admins, issue 14): the chat windows websites embed. A list, a form to
// create or edit one (its web channel is chosen once and then fixed, WEB-03), and the snippet to
// paste before </body> with a copy button. Origins are one per line; the server's refusal of a
// line (origins[i]) is shown under the box with its line number. Everything goes through
// /api/v1/web-deployments; every text from the server is put in the page as text (Parley.h).
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, copyButton, t } = P;
  const BASE = '/api/v1/web-deployments';
  const LANGUAGES = [['en', t('web_deployments.lang.en')], ['fr', t('web_deployments.lang.fr')]];
  const KINDS = ['text', 'email', 'phone', 'number', 'checkbox'];
  const STANDARD = [['first_name', t('web_deployments.std.first_name'), 'text'], ['last_name', t('web_deployments.std.last_name'), 'text'],
    ['email', t('web_deployments.std.email'), 'email'], ['subject', t('web_deployments.std.subject'), 'text']];
  let channels = [];
  let keysets = [];

  async function loadRefs() {
    try {
      channels = items(await api('GET', '/api/v1/channels?limit=500')).filter((c) => c.kind === 'web');
      keysets = items(await api('GET', '/api/v1/keysets'));
    } catch (e) {
      showError(t('web_deployments.error.load_refs'), e);
    }
  }

  function channelName(id) {
    const c = channels.find((x) => x.id === id);
    return c ? c.name : id;
  }

  async function showList() {
    const box = $('wd-list');
    let list;
    try {
      list = items(await api('GET', BASE));
    } catch (e) {
      showError(t('web_deployments.error.load'), e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' }, h('h2', { text: t('web_deployments.title') }),
      h('button', { type: 'button', class: 'primary', 'data-testid': 'wd-new', onclick: () => showForm(null) }, t('web_deployments.new'))),
    h('p', { class: 'empty', text: t('web_deployments.intro') },
      h('a', { href: '/console/admin/keysets', text: t('web_deployments.intro_link') }), t('web_deployments.intro_end')));
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: t('web_deployments.none') }));
      return;
    }
    const rows = list.map((d) => h('tr', { 'data-testid': 'wd-row', 'data-name': d.name },
      h('td', null, h('strong', { text: d.name }), h('div', { class: 'muted', text: d.branding.title })),
      h('td', { text: channelName(d.channel_id) }),
      h('td', { text: d.origins.join(', ') }),
      h('td', { text: d.language }),
      h('td', { text: d.verification_required ? t('web_deployments.verified_only') : t('web_deployments.anyone') }),
      h('td', null,
        h('button', { type: 'button', 'data-testid': 'wd-edit', onclick: () => showForm(d) }, t('web_deployments.edit')), ' ',
        h('button', { type: 'button', class: 'danger', 'data-testid': 'wd-delete', onclick: (ev) => confirmDelete(d, ev.target) }, t('web_deployments.delete')))));
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...[t('web_deployments.col.name'), t('web_deployments.col.channel'), t('web_deployments.col.origins'), t('web_deployments.col.language'), t('web_deployments.col.visitors'), ''].map((x) => h('th', { text: x })))),
      h('tbody', null, ...rows)));
  }

  function confirmDelete(d, button) {
    const cell = button.parentElement;
    clear(cell);
    cell.append(h('span', { class: 'confirm', 'data-testid': 'wd-confirm' },
      h('span', { text: t('web_deployments.delete_confirm', { name: d.name }) }),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'wd-confirm-yes', onclick: () => remove(d) }, t('web_deployments.delete_yes')), ' ',
      h('button', { type: 'button', onclick: () => showList() }, t('web_deployments.cancel'))));
  }

  async function remove(d) {
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(d.id));
      notify(t('web_deployments.deleted', { name: d.name }), 'info');
      $('wd-form').hidden = true;
      showList();
    } catch (e) {
      showError(t('web_deployments.error.delete'), e);
    }
  }

  function field(label, input, hint) {
    return h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input,
      hint ? h('div', { class: 'hint', text: hint }) : null);
  }

  function check(id, label, on) {
    const box = h('input', { type: 'checkbox', id, checked: on });
    return [box, h('label', { class: 'check', for: id }, box, ' ' + label)];
  }

  /** One row of the pre-chat editor. */
  function prechatRow(f, onRemove) {
    const name = h('input', { type: 'text', value: f.name || '', placeholder: 'cart_total', 'aria-label': t('web_deployments.pc.name'), 'data-testid': 'pc-name', maxlength: 40 });
    const label = h('input', { type: 'text', value: f.label || '', placeholder: t('web_deployments.pc.label_placeholder'), 'aria-label': t('web_deployments.pc.label'), 'data-testid': 'pc-label', maxlength: 80 });
    const kind = h('select', { 'aria-label': t('web_deployments.pc.kind'), 'data-testid': 'pc-kind' },
      ...KINDS.map((k) => h('option', { value: k, text: k, selected: k === (f.kind || 'text') })));
    const required = h('input', { type: 'checkbox', 'aria-label': t('web_deployments.pc.required'), 'data-testid': 'pc-required', checked: !!f.required });
    const hidden = h('input', { type: 'checkbox', 'aria-label': t('web_deployments.pc.hidden'), 'data-testid': 'pc-hidden', checked: !!f.hidden });
    // WEB-11: a hidden field is text and never required.
    const sync = () => {
      if (hidden.checked) {
        kind.value = 'text';
        required.checked = false;
      }
      kind.disabled = hidden.checked;
      required.disabled = hidden.checked;
    };
    hidden.addEventListener('change', sync);
    sync();
    const row = h('tr', { 'data-testid': 'pc-row' },
      h('td', null, name), h('td', null, label), h('td', null, kind),
      h('td', { class: 'center' }, required), h('td', { class: 'center' }, hidden),
      h('td', null, h('button', { type: 'button', class: 'link', onclick: () => { row.remove(); onRemove(); } }, t('web_deployments.pc.remove'))));
    row.read = () => ({ name: name.value.trim(), label: label.value.trim(), kind: kind.value, required: required.checked, hidden: hidden.checked });
    return row;
  }

  /** The lines of the origins box, and for each origin sent the line it came from. */
  function originLines(text) {
    const lines = text.split('\n');
    const sent = [];
    const lineOf = [];
    lines.forEach((l, i) => {
      if (l.trim()) {
        sent.push(l.trim());
        lineOf.push(i + 1);
      }
    });
    return { sent, lineOf };
  }

  function showForm(d) {
    const box = $('wd-form');
    box.hidden = false;
    clear(box);
    const editing = !!d;
    const v = d || {
      name: '', channel_id: channels.length ? channels[0].id : '', origins: [], language: 'en',
      branding: { title: t('web_deployments.default_title'), color: '#2563eb', avatar_url: null, greeting: '' },
      settings: { receipts: true, typing: true, emoji: true, enter_inserts_newline: false },
      prechat: { enabled: false, fields: [] }, keyset_id: null,
    };
    const name = h('input', { id: 'wd-name', type: 'text', required: true, maxlength: 64, value: v.name, placeholder: 'shop', pattern: '[a-z0-9-]+' });
    const channel = h('select', { id: 'wd-channel', 'data-testid': 'wd-channel', disabled: editing },
      ...channels.map((c) => h('option', { value: c.id, text: c.name + ' (' + c.address + ')', selected: c.id === v.channel_id })));
    const origins = h('textarea', { id: 'wd-origins', 'data-testid': 'wd-origins', rows: 4, placeholder: 'https://www.example.com\nhttps://*.example.com' });
    origins.value = v.origins.join('\n');
    const originErrors = h('ul', { class: 'field-errors', 'data-testid': 'wd-origin-errors', hidden: true });
    const language = h('select', { id: 'wd-language', 'data-testid': 'wd-language' },
      ...LANGUAGES.map(([code, label]) => h('option', { value: code, text: label + ' (' + code + ')', selected: code === v.language })));
    const title = h('input', { id: 'wd-title', type: 'text', maxlength: 60, value: v.branding.title });
    const color = h('input', { id: 'wd-color', type: 'color', value: v.branding.color, 'data-testid': 'wd-color' });
    const avatar = h('input', { id: 'wd-avatar', type: 'url', value: v.branding.avatar_url || '', placeholder: 'https://www.example.com/agent-40x40.png' });
    const greeting = h('textarea', { id: 'wd-greeting', rows: 2, maxlength: 500 });
    greeting.value = v.branding.greeting || '';
    const [receipts, receiptsLabel] = check('wd-receipts', t('web_deployments.receipts'), v.settings.receipts);
    const [typing, typingLabel] = check('wd-typing', t('web_deployments.typing'), v.settings.typing);
    const [emoji, emojiLabel] = check('wd-emoji', t('web_deployments.emoji'), v.settings.emoji);
    const [newline, newlineLabel] = check('wd-newline', t('web_deployments.newline'), v.settings.enter_inserts_newline);
    const [prechatOn, prechatLabel] = check('wd-prechat', t('web_deployments.prechat_on'), v.prechat.enabled);
    const body = h('tbody', { 'data-testid': 'pc-rows' });
    const addRow = (f) => body.append(prechatRow(f, () => {}));
    v.prechat.fields.forEach(addRow);
    const standard = h('select', { 'aria-label': t('web_deployments.standard_field'), 'data-testid': 'pc-standard' },
      h('option', { value: '', text: t('web_deployments.custom_field') }),
      ...STANDARD.map(([n, l]) => h('option', { value: n, text: l })));
    const add = h('button', { type: 'button', 'data-testid': 'pc-add', onclick: () => {
      const s = STANDARD.find(([n]) => n === standard.value);
      addRow(s ? { name: s[0], label: s[1], kind: s[2] } : { kind: 'text' });
    } }, t('web_deployments.add_field'));
    const keyset = h('select', { id: 'wd-keyset', 'data-testid': 'wd-keyset' },
      h('option', { value: '', text: t('web_deployments.no_keyset') }),
      ...keysets.map((k) => h('option', { value: k.id, text: k.name + ' (iss ' + k.issuer + ')', selected: k.id === v.keyset_id })));
    const errors = h('ul', { class: 'field-errors', 'data-testid': 'wd-errors', hidden: true });
    const snippetBox = h('div', { 'data-testid': 'wd-snippet-box' });
    if (d) showSnippet(snippetBox, d);

    const form = h('form', { class: 'admin-form', 'data-testid': 'wd-form-el' },
      h('h3', { text: editing ? t('web_deployments.edit_title', { name: d.name }) : t('web_deployments.new') }),
      snippetBox,
      field(t('web_deployments.f.name'), name, t('web_deployments.f.name_hint')),
      field(t('web_deployments.f.channel'), channel, editing ? t('web_deployments.f.channel_fixed') : t('web_deployments.f.channel_once')),
      field(t('web_deployments.f.origins'), origins, t('web_deployments.f.origins_hint')),
      originErrors,
      field(t('web_deployments.f.language'), language),
      h('fieldset', null, h('legend', { text: t('web_deployments.f.branding') }),
        field(t('web_deployments.f.title'), title), field(t('web_deployments.f.color'), color), field(t('web_deployments.f.avatar'), avatar), field(t('web_deployments.f.greeting'), greeting)),
      h('fieldset', null, h('legend', { text: t('web_deployments.f.window') }), receiptsLabel, typingLabel, emojiLabel, newlineLabel),
      h('fieldset', null, h('legend', { text: t('web_deployments.f.prechat') }), prechatLabel,
        h('table', { class: 'grid prechat' },
          h('thead', null, h('tr', null, ...[t('web_deployments.pc.name'), t('web_deployments.pc.label'), t('web_deployments.pc.kind'), t('web_deployments.pc.required'), t('web_deployments.pc.hidden'), ''].map((x) => h('th', { text: x })))),
          body),
        h('div', { class: 'form-actions' }, standard, ' ', add),
        h('p', { class: 'hint', text: t('web_deployments.pc.hint') })),
      h('fieldset', null, h('legend', { text: t('web_deployments.f.verification') }), field(t('web_deployments.f.keyset'), keyset, t('web_deployments.f.keyset_hint'))),
      errors,
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'wd-save' }, editing ? t('web_deployments.save') : t('web_deployments.create')), ' ',
        h('button', { type: 'button', onclick: () => { box.hidden = true; clear(box); } }, t('web_deployments.close'))));

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const { sent, lineOf } = originLines(origins.value);
      const payload = {
        name: name.value.trim(), channel_id: channel.value, origins: sent, language: language.value,
        branding: { title: title.value, color: color.value, avatar_url: avatar.value.trim() || null, greeting: greeting.value },
        settings: { receipts: receipts.checked, typing: typing.checked, emoji: emoji.checked, enter_inserts_newline: newline.checked },
        prechat: { enabled: prechatOn.checked, fields: Array.from(body.children).map((r) => r.read()) },
        keyset_id: keyset.value || null,
      };
      clear(errors); errors.hidden = true;
      clear(originErrors); originErrors.hidden = true;
      try {
        const saved = editing
          ? await api('PUT', BASE + '/' + encodeURIComponent(d.id), payload)
          : await api('POST', BASE, payload);
        notify(t('web_deployments.saved', { name: saved.name }), 'info');
        showList();
        showForm(saved);
      } catch (e) {
        if (e.status === 422 && e.message) {
          // One message per refused value, "field: why"; origins by their line in the box.
          for (const part of e.message.split('; ')) {
            const m = /^origins\[(\d+)\]: (.*)$/.exec(part);
            if (m) {
              originErrors.append(h('li', { text: t('web_deployments.line_error', { line: lineOf[Number(m[1])] || '?', error: m[2] }) }));
              originErrors.hidden = false;
            } else {
              errors.append(h('li', { text: part }));
              errors.hidden = false;
            }
          }
          notify(t('web_deployments.not_saved'), 'error');
        } else {
          showError(t('web_deployments.error.save'), e);
        }
      }
    });
    box.append(form);
    name.focus();
  }

  function showSnippet(box, d) {
    clear(box);
    const code = h('code', { 'data-testid': 'wd-snippet', text: d.snippet });
    box.append(h('h3', { text: t('web_deployments.snippet') }),
      h('p', { class: 'hint', text: t('web_deployments.snippet_hint') }),
      h('pre', { class: 'snippet' }, code),
      h('div', { class: 'form-actions' }, copyButton(d.snippet, code, t('web_deployments.copy_snippet'), 'wd-copy', t('web_deployments.snippet'))));
  }

  document.addEventListener('DOMContentLoaded', async () => {
    await loadRefs();
    showList();
  });
})();
