// Web chat deployments (admins, issue 14): the chat windows websites embed. A list, a form to
// create or edit one (its web channel is chosen once and then fixed, WEB-03), and the snippet to
// paste before </body> with a copy button. Origins are one per line; the server's refusal of a
// line (origins[i]) is shown under the box with its line number. Everything goes through
// /api/v1/web-deployments; every text from the server is put in the page as text (Parley.h).
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, copyButton } = P;
  const BASE = '/api/v1/web-deployments';
  const LANGUAGES = [['en', 'English'], ['fr', 'French']];
  const KINDS = ['text', 'email', 'phone', 'number', 'checkbox'];
  const STANDARD = [['first_name', 'First name', 'text'], ['last_name', 'Last name', 'text'],
    ['email', 'E-mail', 'email'], ['subject', 'Subject', 'text']];
  let channels = [];
  let keysets = [];

  async function loadRefs() {
    try {
      channels = items(await api('GET', '/api/v1/channels?limit=500')).filter((c) => c.kind === 'web');
      keysets = items(await api('GET', '/api/v1/keysets'));
    } catch (e) {
      showError('Loading channels and keysets', e);
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
      showError('Loading deployments', e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' }, h('h2', { text: 'Web chat deployments' }),
      h('button', { type: 'button', class: 'primary', 'data-testid': 'wd-new', onclick: () => showForm(null) }, 'New deployment')),
    h('p', { class: 'empty', text: 'A deployment is the chat window a website embeds: which pages may load it, how it looks, its pre-chat form. Keysets for verified visitors are on the ' },
      h('a', { href: '/console/admin/keysets', text: 'Keysets' }), ' page.'));
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: 'No deployments yet.' }));
      return;
    }
    const rows = list.map((d) => h('tr', { 'data-testid': 'wd-row', 'data-name': d.name },
      h('td', null, h('strong', { text: d.name }), h('div', { class: 'muted', text: d.branding.title })),
      h('td', { text: channelName(d.channel_id) }),
      h('td', { text: d.origins.join(', ') }),
      h('td', { text: d.language }),
      h('td', { text: d.verification_required ? 'Verified users only' : 'Anyone' }),
      h('td', null,
        h('button', { type: 'button', 'data-testid': 'wd-edit', onclick: () => showForm(d) }, 'Edit'), ' ',
        h('button', { type: 'button', class: 'danger', 'data-testid': 'wd-delete', onclick: (ev) => confirmDelete(d, ev.target) }, 'Delete'))));
    box.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ...['Name', 'Channel', 'Origins', 'Language', 'Visitors', ''].map((x) => h('th', { text: x })))),
      h('tbody', null, ...rows)));
  }

  function confirmDelete(d, button) {
    const cell = button.parentElement;
    clear(cell);
    cell.append(h('span', { class: 'confirm', 'data-testid': 'wd-confirm' },
      h('span', { text: 'Delete ' + d.name + '? Websites with its snippet lose their chat. ' }),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'wd-confirm-yes', onclick: () => remove(d) }, 'Yes, delete'), ' ',
      h('button', { type: 'button', onclick: () => showList() }, 'Cancel')));
  }

  async function remove(d) {
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(d.id));
      notify(d.name + ' deleted', 'info');
      $('wd-form').hidden = true;
      showList();
    } catch (e) {
      showError('Deleting the deployment', e);
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
    const name = h('input', { type: 'text', value: f.name || '', placeholder: 'cart_total', 'aria-label': 'Name', 'data-testid': 'pc-name', maxlength: 40 });
    const label = h('input', { type: 'text', value: f.label || '', placeholder: 'Label shown', 'aria-label': 'Label', 'data-testid': 'pc-label', maxlength: 80 });
    const kind = h('select', { 'aria-label': 'Kind', 'data-testid': 'pc-kind' },
      ...KINDS.map((k) => h('option', { value: k, text: k, selected: k === (f.kind || 'text') })));
    const required = h('input', { type: 'checkbox', 'aria-label': 'Required', 'data-testid': 'pc-required', checked: !!f.required });
    const hidden = h('input', { type: 'checkbox', 'aria-label': 'Hidden', 'data-testid': 'pc-hidden', checked: !!f.hidden });
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
      h('td', null, h('button', { type: 'button', class: 'link', onclick: () => { row.remove(); onRemove(); } }, 'Remove')));
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
      branding: { title: 'Chat with us', color: '#2563eb', avatar_url: null, greeting: '' },
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
    const [receipts, receiptsLabel] = check('wd-receipts', 'Show delivery and read receipts', v.settings.receipts);
    const [typing, typingLabel] = check('wd-typing', 'Show typing indicators', v.settings.typing);
    const [emoji, emojiLabel] = check('wd-emoji', 'Show the emoji picker', v.settings.emoji);
    const [newline, newlineLabel] = check('wd-newline', 'Enter inserts a new line instead of sending', v.settings.enter_inserts_newline);
    const [prechatOn, prechatLabel] = check('wd-prechat', 'Ask the pre-chat form before the first message', v.prechat.enabled);
    const body = h('tbody', { 'data-testid': 'pc-rows' });
    const addRow = (f) => body.append(prechatRow(f, () => {}));
    v.prechat.fields.forEach(addRow);
    const standard = h('select', { 'aria-label': 'Standard field', 'data-testid': 'pc-standard' },
      h('option', { value: '', text: 'Custom field' }),
      ...STANDARD.map(([n, l]) => h('option', { value: n, text: l })));
    const add = h('button', { type: 'button', 'data-testid': 'pc-add', onclick: () => {
      const s = STANDARD.find(([n]) => n === standard.value);
      addRow(s ? { name: s[0], label: s[1], kind: s[2] } : { kind: 'text' });
    } }, 'Add field');
    const keyset = h('select', { id: 'wd-keyset', 'data-testid': 'wd-keyset' },
      h('option', { value: '', text: 'None: anyone may chat' }),
      ...keysets.map((k) => h('option', { value: k.id, text: k.name + ' (iss ' + k.issuer + ')', selected: k.id === v.keyset_id })));
    const errors = h('ul', { class: 'field-errors', 'data-testid': 'wd-errors', hidden: true });
    const snippetBox = h('div', { 'data-testid': 'wd-snippet-box' });
    if (d) showSnippet(snippetBox, d);

    const form = h('form', { class: 'admin-form', 'data-testid': 'wd-form-el' },
      h('h3', { text: editing ? 'Edit ' + d.name : 'New deployment' }),
      snippetBox,
      field('Name', name, 'Lowercase letters, digits and -; used in the snippet.'),
      field('Web channel', channel, editing ? 'The channel of a deployment cannot change.' : 'Chosen once: it cannot change later.'),
      field('Allowed origins, one per line', origins, 'Scheme and host (and port), no path. *.example.com covers every subdomain, not example.com itself.'),
      originErrors,
      field('Language', language),
      h('fieldset', null, h('legend', { text: 'Branding' }),
        field('Title', title), field('Color', color), field('Avatar URL (40 × 40 px)', avatar), field('Greeting', greeting)),
      h('fieldset', null, h('legend', { text: 'Window' }), receiptsLabel, typingLabel, emojiLabel, newlineLabel),
      h('fieldset', null, h('legend', { text: 'Pre-chat' }), prechatLabel,
        h('table', { class: 'grid prechat' },
          h('thead', null, h('tr', null, ...['Name', 'Label', 'Kind', 'Required', 'Hidden', ''].map((x) => h('th', { text: x })))),
          body),
        h('div', { class: 'form-actions' }, standard, ' ', add),
        h('p', { class: 'hint', text: 'Hidden fields are set by the website with Parley.setHiddenFields({...}); they are text and never required. Names are shared by hidden and visible fields.' })),
      h('fieldset', null, h('legend', { text: 'User verification' }), field('Keyset', keyset, 'With a keyset, visitors must present a token signed by one of its keys.')),
      errors,
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'wd-save' }, editing ? 'Save' : 'Create'), ' ',
        h('button', { type: 'button', onclick: () => { box.hidden = true; clear(box); } }, 'Close')));

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
        notify(saved.name + ' saved', 'info');
        showList();
        showForm(saved);
      } catch (e) {
        if (e.status === 422 && e.message) {
          // One message per refused value, "field: why"; origins by their line in the box.
          for (const part of e.message.split('; ')) {
            const m = /^origins\[(\d+)\]: (.*)$/.exec(part);
            if (m) {
              originErrors.append(h('li', { text: 'Line ' + (lineOf[Number(m[1])] || '?') + ': ' + m[2] }));
              originErrors.hidden = false;
            } else {
              errors.append(h('li', { text: part }));
              errors.hidden = false;
            }
          }
          notify('The deployment was not saved: see the errors in the form', 'error');
        } else {
          showError('Saving the deployment', e);
        }
      }
    });
    box.append(form);
    name.focus();
  }

  function showSnippet(box, d) {
    clear(box);
    const code = h('code', { 'data-testid': 'wd-snippet', text: d.snippet });
    box.append(h('h3', { text: 'Snippet' }),
      h('p', { class: 'hint', text: 'Paste it into every page of the website, just before </body> (never in <head>).' }),
      h('pre', { class: 'snippet' }, code),
      h('div', { class: 'form-actions' }, copyButton(d.snippet, code, 'Copy snippet', 'wd-copy', 'Snippet')));
  }

  document.addEventListener('DOMContentLoaded', async () => {
    await loadRefs();
    showList();
  });
})();
