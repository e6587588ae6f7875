// Campaigns area: campaigns (list, draft editor with a live preview, the campaign's page with its
// live progress and results), segments (a condition builder) and lists (people picked by number,
// CSV import with a progress bar and the row report). Everything goes through the JSON API under
// /api/v1; names are shown instead of ids, dates in words, and every text from the server is
// put in the page as text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, debounce } = P;

  const view = () => $('cmp-view');
  const nf = new Intl.NumberFormat('en');
  const num = (n) => nf.format(Number(n) || 0);
  const plural = (n, one, many) => num(n) + ' ' + (Number(n) === 1 ? one : many);

  // What the editor offers; the server checks every one of them again.
  const FIELDS = [
    'contact.first_name', 'contact.last_name', 'contact.name', 'contact.email', 'contact.phone',
    'messaging_user.name', 'messaging_user.platform_key', 'messaging_user.locale', 'channel.name',
  ];
  const REASONS = {
    opted_out: 'opted out', no_consent: 'no consent', consent_too_low: 'consent too low',
    not_explicitly_opted_in: 'not explicitly opted in', out_of_country: 'outside the sender\'s country',
    outside_care_window: 'outside the care window', missing_field: 'missing a merge field',
    duplicate: 'duplicate number', not_on_sender: 'not on the senders', invalid_number: 'invalid number',
  };
  const reason = (r) => REASONS[r] || String(r).replace(/_/g, ' ');
  const STATE_WORDS = {
    draft: 'Draft', scheduled: 'Scheduled', sending: 'Sending', paused: 'Paused',
    completed: 'Completed', cancelled: 'Cancelled',
  };
  const LIVE = new Set(['sending', 'scheduled']);

  let timer = null; // the one poll running (campaign page or list), stopped on every navigation
  let senders = null;

  function stopPolling() {
    clearTimeout(timer);
    timer = null;
  }

  // --- Words -----------------------------------------------------------------------------------

  /** "just now", "5 minutes ago", "2 hours ago", "yesterday", "3 days ago", else the date. */
  function ago(iso) {
    if (!iso) return '';
    const t = new Date(iso).getTime();
    if (Number.isNaN(t)) return '';
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 0) return 'in ' + inWords(-s);
    if (s < 45) return 'just now';
    if (s < 86400 * 2 && s >= 86400) return 'yesterday';
    if (s < 86400 * 7) return inWords(s) + ' ago';
    return new Date(iso).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
  }

  function inWords(s) {
    if (s < 90) return plural(Math.max(1, Math.round(s / 60)), 'minute', 'minutes');
    if (s < 5400) return plural(Math.round(s / 60), 'minute', 'minutes');
    if (s < 86400) return plural(Math.round(s / 3600), 'hour', 'hours');
    return plural(Math.round(s / 86400), 'day', 'days');
  }

  function dateTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    return d.toLocaleString(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }) + ' (' + ago(iso) + ')';
  }

  function stateChip(state) {
    return h('span', { class: 'chip cmp-state state-' + state, 'data-testid': 'cmp-state', text: STATE_WORDS[state] || state });
  }

  function encodingWords(fit) {
    if (!fit) return '';
    const parts = [plural(fit.characters, 'character', 'characters')];
    if (fit.encoding) parts.push(fit.encoding === 'gsm7' ? 'GSM-7' : fit.encoding === 'ucs2' ? 'UCS-2' : fit.encoding);
    if (fit.segments !== null && fit.segments !== undefined) parts.push(plural(fit.segments, 'segment', 'segments'));
    return parts.join(', ');
  }

  function countWords(c) {
    const excluded = Object.values(c.excluded || {}).reduce((a, b) => a + b, 0);
    let text = plural(c.members, 'person', 'people') + ', ' + num(c.eligible) + ' will receive it';
    if (excluded > 0) {
      const reasons = Object.entries(c.excluded).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1])
        .map(([r, n]) => reason(r) + ' ' + num(n));
      text += ', ' + num(excluded) + ' excluded: ' + reasons.join(', ');
    }
    return text;
  }

  function waDigits(address) {
    return String(address || '').replace(/\D/g, '');
  }

  // --- Dialog ------------------------------------------------------------------------------------

  /** Asks before something that cannot be undone; Esc (the dialog's own cancel) means no. */
  function confirmAction(text) {
    const dialog = $('cmp-confirm');
    if (!dialog || typeof dialog.showModal !== 'function') return Promise.resolve(window.confirm(text));
    $('cmp-confirm-text').textContent = text;
    dialog.returnValue = 'no';
    dialog.showModal();
    $('cmp-confirm-no').focus();
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
    });
  }

  // --- Shared data ---------------------------------------------------------------------------------

  async function loadSenders() {
    if (!senders) senders = items(await api('GET', '/api/v1/campaigns/senders'));
    return senders;
  }

  async function loadAudiences() {
    const [segments, lists] = await Promise.all([
      api('GET', '/api/v1/segments'), api('GET', '/api/v1/lists'),
    ]);
    return { segments: items(segments), lists: items(lists) };
  }

  function head(title, ...actions) {
    return h('div', { class: 'admin-head' }, h('h2', { text: title }), h('div', { class: 'cmp-row' }, actions));
  }

  function setTabs(area) {
    for (const a of document.querySelectorAll('#cmp-tabs a')) {
      if (a.dataset.area === area) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function table(columns, rows, testid) {
    return h('table', { class: 'grid', 'data-testid': testid },
      h('thead', null, h('tr', null, columns.map((c) => h('th', { class: c.num ? 'num' : null, text: c.label })))),
      h('tbody', null, rows));
  }

  // --- Campaign list -------------------------------------------------------------------------------

  async function showCampaigns() {
    setTabs('campaigns');
    const data = items(await api('GET', '/api/v1/campaigns'));
    const root = clear(view());
    root.appendChild(head('Campaigns',
      h('button', { type: 'button', class: 'primary', 'data-testid': 'cmp-new', text: 'New campaign', onclick: () => go('#new') })));
    root.appendChild(h('p', { class: 'muted', text: 'One-to-many messages whose replies become conversations. A HELP reply opens a case; STOP opts out.' }));
    if (!data.length) {
      root.appendChild(h('p', { class: 'empty', text: 'No campaigns yet. Start with a segment or a list, then a new campaign.' }));
      return;
    }
    data.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    const progress = {};
    await Promise.all(data.filter((c) => c.state === 'sending' || c.state === 'paused').map(async (c) => {
      try {
        progress[c.id] = await api('GET', '/api/v1/campaigns/' + c.id + '/results');
      } catch (_) { /* the row shows without its bar */ }
    }));
    const rows = data.map((c) => h('tr', { dataset: { id: c.id } },
      h('td', null, h('a', { href: '#campaign/' + c.id, text: c.name })),
      h('td', { text: c.kind === 'broadcast' ? 'Broadcast' : 'Marketing' }),
      h('td', null, stateChip(c.state)),
      h('td', { text: c.senders.map((s) => s.name).join(', ') || '—' }),
      h('td', { text: c.audience_name ? c.audience_name + ' (' + c.audience_kind + ')' : 'a deleted ' + c.audience_kind }),
      h('td', { text: ago(c.created_at), title: dateTime(c.created_at) }),
      h('td', null, progress[c.id] ? progressBar(progress[c.id].counts) : null)));
    root.appendChild(table([
      { label: 'Name' }, { label: 'Kind' }, { label: 'State' }, { label: 'Senders' },
      { label: 'Audience' }, { label: 'Created' }, { label: 'Progress' },
    ], rows, 'cmp-list'));
    if (data.some((c) => LIVE.has(c.state))) {
      timer = setTimeout(() => route(), 5000);
    }
  }

  /** Settled of those to send: sent or failed of the audience minus the excluded. */
  function progressFigures(counts) {
    const excluded = Object.values(counts.excluded || {}).reduce((a, b) => a + b, 0);
    const failed = Object.values(counts.failed || {}).reduce((a, b) => a + b, 0);
    const total = Math.max(counts.queued || 0, (counts.audience || 0) - excluded);
    const done = Math.min(total, (counts.sent || 0) + failed + (counts.withdrawn || 0));
    return { done, total };
  }

  function progressBar(counts) {
    const { done, total } = progressFigures(counts);
    const pct = total > 0 ? Math.round((done * 100) / total) : 0;
    return h('span', { class: 'cmp-progress' },
      h('progress', { max: String(total || 1), value: String(done), 'aria-label': 'Progress' }),
      h('span', { class: 'small muted', text: ' ' + num(done) + ' of ' + num(total) + ' (' + pct + '%)' }));
  }

  // --- Campaign editor -----------------------------------------------------------------------------

  function field(label, control, opts) {
    const o = opts || {};
    const id = control.id || ('f-' + Math.random().toString(36).slice(2));
    if (!control.id && control.tagName !== 'DIV' && control.tagName !== 'FIELDSET') control.id = id;
    return h('div', { class: 'field' + (o.wide ? ' wide' : '') },
      control.tagName === 'FIELDSET' ? null : h('label', { for: control.id || null, text: label }),
      control, o.hint ? h('span', { class: 'hint', text: o.hint }) : null);
  }

  function radio(name, value, label, checked, testid) {
    return h('label', { class: 'check' }, h('input', { type: 'radio', name, value, checked, 'data-testid': testid }), label);
  }

  async function showEditor(id) {
    setTabs('campaigns');
    const [all, audiences, existing] = await Promise.all([
      loadSenders(), loadAudiences(), id ? api('GET', '/api/v1/campaigns/' + id) : null,
    ]);
    if (existing && existing.state !== 'draft') {
      notify('Only a draft can be edited.', 'error');
      go('#campaign/' + id);
      return;
    }
    const spec = existing ? existing.spec : null;
    const root = clear(view());
    root.appendChild(head(existing ? 'Edit ' + existing.name : 'New campaign'));

    const form = h('form', { class: 'form-grid cmp-form', 'data-testid': 'cmp-form', novalidate: true });
    const name = h('input', { type: 'text', id: 'cmp-name', 'data-testid': 'cmp-name', required: true, value: spec ? spec.name : '', maxlength: '200' });
    const kind = h('select', { id: 'cmp-kind', 'data-testid': 'cmp-kind' },
      h('option', { value: 'marketing', text: 'Marketing' }), h('option', { value: 'broadcast', text: 'Broadcast (explicit opt-in only, approved template)' }));
    kind.value = spec ? spec.kind : 'marketing';

    // Senders: only channels of one kind at once.
    const senderBoxes = all.map((s) => h('label', { class: 'check', title: s.address },
      h('input', { type: 'checkbox', value: s.id, dataset: { kind: s.kind }, 'data-testid': 'cmp-sender', checked: Boolean(spec && spec.senders.includes(s.id)) }),
      s.name + ' ', h('span', { class: 'chip kind-' + s.kind, text: s.kind })));
    const sendersBox = h('fieldset', { class: 'checks', id: 'cmp-senders' }, h('legend', { class: 'small muted', text: 'Senders (one kind; the audience is spread over them)' }), senderBoxes);
    if (!all.length) sendersBox.appendChild(h('p', { class: 'empty', text: 'No channel can send campaigns yet: an admin adds one in Admin › Channels.' }));

    const audience = h('select', { id: 'cmp-audience', 'data-testid': 'cmp-audience' },
      h('option', { value: '', text: 'Choose a segment or a list…' }),
      h('optgroup', { label: 'Segments' }, audiences.segments.map((s) => h('option', { value: 'segment:' + s.id, text: s.name }))),
      h('optgroup', { label: 'Lists' }, audiences.lists.map((l) => h('option', { value: 'list:' + l.id, text: l.name + ' (' + plural(l.members, 'entry', 'entries') + ')' }))));
    if (spec) audience.value = spec.audience.kind === 'segment' ? 'segment:' + spec.audience.segment_id : 'list:' + spec.audience.list_id;
    const countLine = h('p', { class: 'notice', id: 'cmp-count', 'data-testid': 'cmp-count', text: 'Pick senders and an audience to count who receives it.' });

    // Content: a text with merge fields, or an approved template.
    const isTemplate = Boolean(spec && spec.content.template);
    const modeText = radio('cmp-mode', 'text', 'Text', !isTemplate, 'cmp-mode-text');
    const modeTemplate = radio('cmp-mode', 'template', 'Approved template', isTemplate, 'cmp-mode-template');
    const text = h('textarea', { id: 'cmp-text', 'data-testid': 'cmp-text', rows: '6', placeholder: 'Hi {{ contact.first_name }}, …', value: spec && spec.content.text ? spec.content.text : '' });
    const picker = h('select', { id: 'cmp-field-picker', 'aria-label': 'Insert a merge field' },
      h('option', { value: '', text: 'Insert a merge field…' }), FIELDS.map((f) => h('option', { value: f, text: f })),
      h('option', { value: 'attributes.', text: 'attributes.<name> (a custom attribute)' }));
    picker.addEventListener('change', () => {
      if (!picker.value) return;
      const token = '{{ ' + picker.value + ' }}';
      const start = text.selectionStart ?? text.value.length;
      const end = text.selectionEnd ?? text.value.length;
      text.value = text.value.slice(0, start) + token + text.value.slice(end);
      picker.value = '';
      text.focus();
      const caret = start + token.length - (token.endsWith('. }}') ? 4 : 0);
      text.setSelectionRange(caret, caret);
      changed();
    });
    const textBox = h('div', { class: 'field wide', id: 'cmp-text-box' }, h('label', { for: 'cmp-text', text: 'Message' }), text, h('div', { class: 'cmp-row' }, picker));
    const template = h('select', { id: 'cmp-template', 'data-testid': 'cmp-template' });
    const params = h('div', { class: 'cmp-params', id: 'cmp-params' });
    const templateBox = h('div', { class: 'field wide', id: 'cmp-template-box' }, h('label', { for: 'cmp-template', text: 'Template' }), template, params);

    const missingFallback = radio('cmp-missing', 'fallback', 'Use the fallback text', !spec || spec.content.missing.policy !== 'exclude');
    const missingExclude = radio('cmp-missing', 'exclude', 'Leave the recipient out', Boolean(spec && spec.content.missing.policy === 'exclude'));
    const fallbacks = h('div', { class: 'cmp-fallbacks', id: 'cmp-fallbacks' });
    const fallbackValues = Object.assign({}, spec ? spec.content.fallbacks : {});

    // Footer.
    const help = h('input', { type: 'checkbox', id: 'cmp-help', 'data-testid': 'cmp-help', checked: Boolean(spec && spec.footer.help) });
    const wa = h('select', { id: 'cmp-wa', 'data-testid': 'cmp-wa' }, h('option', { value: '', text: 'No WhatsApp link' }),
      all.filter((s) => s.kind === 'whatsapp').map((s) => h('option', { value: s.id, text: s.name + ' — wa.me/' + waDigits(s.address) })));
    wa.value = spec && spec.footer.whatsapp_channel_id ? spec.footer.whatsapp_channel_id : '';
    const shorten = h('input', { type: 'checkbox', id: 'cmp-shorten', checked: Boolean(spec && spec.footer.shorten_whatsapp) });
    const custom = h('input', { type: 'text', id: 'cmp-custom', maxlength: '300', value: spec && spec.footer.custom ? spec.footer.custom : '' });

    // Schedule.
    const startAt = spec && spec.schedule.start_at;
    const whenNow = radio('cmp-when', 'now', 'When I press Start', !startAt, 'cmp-when-now');
    const whenAt = radio('cmp-when', 'at', 'At a time', Boolean(startAt), 'cmp-when-at');
    const at = h('input', { type: 'datetime-local', id: 'cmp-at', value: startAt ? localInput(startAt) : '' });
    const win = spec && spec.schedule.window;
    const windowOn = h('input', { type: 'checkbox', id: 'cmp-window', checked: Boolean(win) });
    const opens = h('input', { type: 'time', id: 'cmp-opens', value: minutesToTime(win ? win.opens : 540) });
    const closes = h('input', { type: 'time', id: 'cmp-closes', value: minutesToTime(win ? win.closes : 1200) });
    const zone = h('input', { type: 'text', id: 'cmp-zone', value: win ? win.default_time_zone : (Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'), placeholder: 'Europe/London' });

    const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'cmp-save', text: existing ? 'Save draft' : 'Create draft' });
    const cancel = h('button', { type: 'button', text: 'Cancel', onclick: () => go(existing ? '#campaign/' + existing.id : '#campaigns') });

    form.append(
      field('Name', name),
      field('Kind', kind),
      h('div', { class: 'field wide' }, sendersBox),
      h('div', { class: 'field wide' }, h('label', { for: 'cmp-audience', text: 'Audience' }), audience, countLine),
      h('fieldset', { class: 'field wide checks' }, h('legend', { class: 'small muted', text: 'Content' }), modeText, modeTemplate),
      textBox, templateBox,
      h('fieldset', { class: 'field wide' }, h('legend', { class: 'small muted', text: 'When a merge field has no value' }),
        h('div', { class: 'checks' }, missingFallback, missingExclude), fallbacks),
      h('fieldset', { class: 'field wide' }, h('legend', { class: 'small muted', text: 'Footer' }),
        h('label', { class: 'check' }, help, 'Add "Reply HELP for help, STOP to opt out."'),
        h('label', { for: 'cmp-wa', class: 'small muted', text: 'Link to a WhatsApp channel' }), wa,
        h('label', { class: 'check' }, shorten, 'Shorten the WhatsApp link (its clicks are counted)'),
        h('label', { for: 'cmp-custom', class: 'small muted', text: 'Other text' }), custom),
      h('fieldset', { class: 'field wide' }, h('legend', { class: 'small muted', text: 'Schedule' }),
        h('div', { class: 'checks' }, whenNow, whenAt, at),
        h('label', { class: 'check' }, windowOn, 'Send only inside each recipient\'s local window'),
        h('div', { class: 'checks', id: 'cmp-window-box' },
          h('label', { class: 'check' }, 'opens ', opens), h('label', { class: 'check' }, 'closes ', closes),
          h('label', { class: 'check' }, 'time zone when the recipient\'s is unknown ', zone))),
      h('div', { class: 'form-actions' }, save, cancel));

    const preview = h('aside', { class: 'cmp-preview panel', 'aria-label': 'Preview', 'data-testid': 'cmp-preview' },
      h('h3', { text: 'Preview' }),
      h('p', { class: 'small muted', id: 'cmp-sample', text: 'As the first person of the audience reads it.' }),
      h('div', { class: 'cmp-phone' }, h('div', { class: 'bubble cmp-bubble' }, h('p', { class: 'text', id: 'cmp-preview-body', 'data-testid': 'cmp-preview-body' }))),
      h('p', { class: 'cmp-fit', id: 'cmp-fit', 'data-testid': 'cmp-fit' }),
      h('p', { class: 'alert', id: 'cmp-problem', 'data-testid': 'cmp-problem', hidden: true }),
      h('p', { class: 'small muted', id: 'cmp-links' }));
    root.appendChild(h('div', { class: 'cmp-editor' }, form, preview));

    function selectedSenders() {
      return senderBoxes.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    }

    function senderKind() {
      const first = senderBoxes.map((l) => l.querySelector('input')).find((i) => i.checked);
      return first ? first.dataset.kind : null;
    }

    function refreshSenders() {
      const k = senderKind();
      for (const l of senderBoxes) {
        const i = l.querySelector('input');
        i.disabled = Boolean(k) && i.dataset.kind !== k;
        l.title = i.disabled ? 'Senders of one campaign are all of one kind' : '';
      }
    }

    function refreshTemplates() {
      const ids = selectedSenders();
      const first = all.find((s) => s.id === ids[0]);
      const list = first ? first.templates : [];
      const wanted = template.value || (spec && spec.content.template ? spec.content.template.name + '|' + spec.content.template.language : '');
      clear(template);
      template.appendChild(h('option', { value: '', text: list.length ? 'Choose a template…' : 'The first sender has no approved template' }));
      for (const t of list) template.appendChild(h('option', { value: t.name + '|' + t.language, text: t.name + ' (' + t.language + ')' }));
      template.value = list.some((t) => t.name + '|' + t.language === wanted) ? wanted : '';
      refreshParams();
    }

    function chosenTemplate() {
      const ids = selectedSenders();
      const first = all.find((s) => s.id === ids[0]);
      return first ? first.templates.find((t) => t.name + '|' + t.language === template.value) : null;
    }

    function refreshParams() {
      const t = chosenTemplate();
      const old = Array.from(params.querySelectorAll('input')).map((i) => i.value);
      const given = old.length ? old : (spec && spec.content.template ? spec.content.template.parameters : []);
      clear(params);
      if (!t) return;
      params.appendChild(h('p', { class: 'small muted', text: t.body }));
      for (let i = 0; i < t.parameters; i += 1) {
        params.appendChild(h('label', { class: 'check' }, '{{' + (i + 1) + '}} ',
          h('input', { type: 'text', value: given[i] || '', 'aria-label': 'Parameter ' + (i + 1), oninput: changed })));
      }
    }

    function refreshMode() {
      const templ = form.querySelector('input[name="cmp-mode"]:checked').value === 'template';
      textBox.hidden = templ;
      templateBox.hidden = !templ;
      refreshWindow();
    }

    function refreshWindow() {
      $('cmp-window-box').hidden = !windowOn.checked;
      at.disabled = form.querySelector('input[name="cmp-when"]:checked').value !== 'at';
    }

    /** The merge fields written in the content now (the server's list comes with the preview,
     * which a stale fallback would make fail, so the form reads them itself). */
    function usedNow() {
      const templ = form.querySelector('input[name="cmp-mode"]:checked').value === 'template';
      const sources = templ ? Array.from(params.querySelectorAll('input')).map((i) => i.value) : [text.value];
      const found = new Set();
      for (const src of sources) {
        for (const m of src.matchAll(/\{\{-?\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)/g)) found.add(m[1]);
      }
      return Array.from(found);
    }

    function refreshFallbacks(fields) {
      const exclude = form.querySelector('input[name="cmp-missing"]:checked').value === 'exclude';
      const wanted = exclude || !fields ? [] : fields;
      const shown = Array.from(fallbacks.querySelectorAll('input'));
      // Rebuilt only when the fields change, so typing in a fallback keeps its focus.
      if (shown.map((i) => i.dataset.field).join('|') === wanted.join('|')) return;
      for (const i of shown) fallbackValues[i.dataset.field] = i.value;
      clear(fallbacks);
      for (const f of wanted) {
        fallbacks.appendChild(h('label', { class: 'check' }, 'Fallback for ' + f + ' ',
          h('input', { type: 'text', value: fallbackValues[f] || '', dataset: { field: f }, oninput: changed })));
      }
    }

    function buildSpec() {
      const templ = form.querySelector('input[name="cmp-mode"]:checked').value === 'template';
      const t = templ ? chosenTemplate() : null;
      for (const i of fallbacks.querySelectorAll('input')) fallbackValues[i.dataset.field] = i.value;
      // Only the fields the content uses now: the server refuses a fallback for any other.
      const fb = {};
      const used = usedNow();
      for (const [k, v] of Object.entries(fallbackValues)) if (v && used.includes(k)) fb[k] = v;
      const [akind, aid] = audience.value.split(':');
      const windowSpec = windowOn.checked ? {
        opens: timeToMinutes(opens.value), closes: timeToMinutes(closes.value), default_time_zone: zone.value.trim(),
      } : null;
      const atValue = form.querySelector('input[name="cmp-when"]:checked').value === 'at' && at.value
        ? new Date(at.value).toISOString() : null;
      return {
        name: name.value.trim(),
        kind: kind.value,
        senders: selectedSenders(),
        audience: akind === 'segment' ? { kind: 'segment', segment_id: aid } : akind === 'list' ? { kind: 'list', list_id: aid } : null,
        content: {
          text: templ ? null : text.value,
          template: t ? { name: t.name, language: t.language, parameters: Array.from(params.querySelectorAll('input')).map((i) => i.value) } : null,
          missing: { policy: form.querySelector('input[name="cmp-missing"]:checked').value },
          fallbacks: fb,
        },
        footer: {
          help: help.checked,
          whatsapp_channel_id: wa.value || null,
          shorten_whatsapp: shorten.checked,
          custom: custom.value.trim() || null,
        },
        schedule: { start_at: atValue, window: windowSpec },
      };
    }

    let seq = 0;
    const refreshPreview = debounce(async () => {
      const s = buildSpec();
      const mine = ++seq;
      if (!s.senders.length || !s.audience) {
        $('cmp-count').textContent = 'Pick senders and an audience to count who receives it.';
        return;
      }
      const body = Object.assign({}, s, { name: s.name || 'Preview' });
      const [pv, count] = await Promise.allSettled([
        api('POST', '/api/v1/campaigns/preview', body),
        api('POST', '/api/v1/campaigns/audience-count', body),
      ]);
      if (mine !== seq) return; // a newer edit is on its way
      const problem = $('cmp-problem');
      if (pv.status === 'fulfilled') {
        const p = pv.value;
        $('cmp-preview-body').textContent = p.body;
        $('cmp-fit').textContent = encodingWords(p.fit);
        $('cmp-sample').textContent = p.sample ? 'As ' + p.sample + ' reads it.' : 'For a made-up recipient: the audience is empty.';
        const notes = [];
        if (p.fell_back && p.fell_back.length) notes.push('Fallback used for ' + p.fell_back.join(', ') + '.');
        if (p.links && p.links.length) notes.push('Shortened links: ' + p.links.join(', ') + '.');
        $('cmp-links').textContent = notes.join(' ');
        problem.hidden = !(p.fit && p.fit.problem);
        problem.textContent = p.fit && p.fit.problem ? p.fit.problem : '';
        refreshFallbacks(p.fields && p.fields.length ? p.fields : usedNow());
      } else {
        refreshFallbacks(usedNow());
        problem.hidden = false;
        problem.textContent = pv.reason && pv.reason.message ? pv.reason.message : 'The preview failed.';
        $('cmp-fit').textContent = '';
      }
      $('cmp-count').textContent = count.status === 'fulfilled'
        ? countWords(count.value)
        : 'Not counted: ' + (count.reason && count.reason.message ? count.reason.message : 'the count failed');
    }, 350);

    function changed() {
      refreshPreview();
    }

    form.addEventListener('input', (e) => {
      if (e.target.closest('#cmp-senders')) {
        refreshSenders();
        refreshTemplates();
      }
      if (e.target === template) refreshParams();
      if (e.target.name === 'cmp-mode') refreshMode();
      if (e.target.name === 'cmp-when' || e.target === windowOn) refreshWindow();
      changed();
    });
    form.addEventListener('change', (e) => {
      if (e.target.name === 'cmp-missing') refreshFallbacks(usedNow());
      changed();
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const s = buildSpec();
      if (!s.name) { notify('Give the campaign a name.', 'error'); name.focus(); return; }
      if (!s.senders.length) { notify('Pick at least one sender.', 'error'); return; }
      if (!s.audience) { notify('Pick an audience.', 'error'); audience.focus(); return; }
      save.disabled = true;
      try {
        const saved = existing
          ? await api('PUT', '/api/v1/campaigns/' + existing.id, s)
          : await api('POST', '/api/v1/campaigns', s);
        notify(existing ? 'Draft saved.' : 'Draft created.');
        go('#campaign/' + saved.id);
      } catch (err) {
        showError('The campaign was not saved', err);
      } finally {
        save.disabled = false;
      }
    });
    refreshSenders();
    refreshTemplates();
    refreshMode();
    name.focus();
    changed();
  }

  function minutesToTime(m) {
    const v = Math.max(0, Math.min(1439, Number(m) || 0));
    return String(Math.floor(v / 60)).padStart(2, '0') + ':' + String(v % 60).padStart(2, '0');
  }

  function timeToMinutes(t) {
    const [hh, mm] = String(t || '0:0').split(':').map(Number);
    return (hh || 0) * 60 + (mm || 0);
  }

  function localInput(iso) {
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
  }

  // --- Campaign page ------------------------------------------------------------------------------

  const ACTIONS = {
    draft: [['start', 'Start'], ['schedule', 'Schedule'], ['edit', 'Edit'], ['delete', 'Delete']],
    scheduled: [['start', 'Start now'], ['unschedule', 'Back to draft'], ['cancel', 'Cancel']],
    sending: [['pause', 'Pause'], ['cancel', 'Cancel']],
    paused: [['resume', 'Resume'], ['cancel', 'Cancel']],
    completed: [],
    cancelled: [],
  };

  async function showCampaign(id) {
    setTabs('campaigns');
    const [c] = await Promise.all([api('GET', '/api/v1/campaigns/' + id), loadSenders().catch(() => [])]);
    const root = clear(view());
    const actions = h('div', { class: 'cmp-row', id: 'cmp-actions' });
    root.appendChild(h('div', { class: 'admin-head' },
      h('h2', null, h('span', { id: 'cmp-title', text: c.name }), ' ', h('span', { id: 'cmp-state-box' }, stateChip(c.state))),
      actions));
    const facts = h('dl', { class: 'facts' },
      h('dt', { text: 'Kind' }), h('dd', { text: c.kind === 'broadcast' ? 'Broadcast' : 'Marketing' }),
      h('dt', { text: 'Senders' }), h('dd', { text: c.senders.map((s) => s.name + ' (' + s.kind + ')').join(', ') || '—' }),
      h('dt', { text: 'Audience' }), h('dd', { text: (c.audience_name || 'deleted') + ' (' + c.audience_kind + ')' }),
      h('dt', { text: 'Created' }), h('dd', { text: dateTime(c.created_at) + (c.created_by ? ' by ' + c.created_by : '') }),
      c.spec.schedule && c.spec.schedule.start_at ? [h('dt', { text: 'Starts' }), h('dd', { text: dateTime(c.spec.schedule.start_at) })] : null,
      c.spec.schedule && c.spec.schedule.window ? [h('dt', { text: 'Window' }), h('dd', { text: minutesToTime(c.spec.schedule.window.opens) + ' to ' + minutesToTime(c.spec.schedule.window.closes) + ' local time (' + c.spec.schedule.window.default_time_zone + ' when unknown)' })] : null,
      c.started_at ? [h('dt', { text: 'Started' }), h('dd', { text: dateTime(c.started_at) })] : null,
      c.finished_at ? [h('dt', { text: 'Finished' }), h('dd', { text: dateTime(c.finished_at) })] : null);
    const message = c.spec.content.text !== null && c.spec.content.text !== undefined
      ? c.spec.content.text
      : c.spec.content.template ? 'Template ' + c.spec.content.template.name + ' (' + c.spec.content.template.language + ')' : '';
    const f = c.spec.footer || {};
    const wa = f.whatsapp_channel_id ? (senders || []).find((s) => s.id === f.whatsapp_channel_id) : null;
    const footer = [
      f.help ? 'Reply HELP for help, STOP to opt out.' : null,
      f.whatsapp_channel_id ? (wa ? 'wa.me/' + waDigits(wa.address) : 'a WhatsApp link') + (f.shorten_whatsapp ? ' (shortened)' : '') : null,
      f.custom || null,
    ].filter(Boolean);
    root.appendChild(h('div', { class: 'cmp-summary' }, facts,
      h('div', { class: 'cmp-phone' }, h('div', { class: 'bubble cmp-bubble' }, h('p', { class: 'text', text: message }),
        footer.length ? h('p', { class: 'text small muted', text: footer.join('\n') }) : null))));
    const live = h('section', { class: 'cmp-results', id: 'cmp-results', 'data-testid': 'cmp-results' });
    root.appendChild(live);
    renderActions(c, actions);
    await pollResults(c, live, actions);
  }

  function renderActions(c, box) {
    clear(box);
    for (const [action, label] of ACTIONS[c.state] || []) {
      if (action === 'schedule' && !(c.spec.schedule && c.spec.schedule.start_at)) continue;
      const danger = action === 'cancel' || action === 'delete';
      box.appendChild(h('button', {
        type: 'button', class: (action === 'start' || action === 'resume') ? 'primary' : danger ? 'danger' : null,
        'data-testid': 'cmp-' + action, text: label,
        onclick: (e) => act(c, action, e.currentTarget),
        // Sending (start, schedule, pause, resume, cancel) is its own permission; editing is not.
        'data-permission': action === 'edit' || action === 'delete' ? null : 'send_one_to_many',
      }));
    }
  }

  async function act(c, action, button) {
    if (action === 'edit') { go('#edit/' + c.id); return; }
    if (action === 'cancel' && !(await confirmAction('Cancel "' + c.name + '"? Messages not sent yet are withdrawn; this cannot be undone.'))) return;
    if (action === 'delete' && !(await confirmAction('Delete the draft "' + c.name + '"?'))) return;
    button.disabled = true;
    try {
      if (action === 'delete') {
        await api('DELETE', '/api/v1/campaigns/' + c.id);
        notify('Draft deleted.');
        go('#campaigns');
        return;
      }
      await api('POST', '/api/v1/campaigns/' + c.id + '/' + action);
      route();
    } catch (err) {
      showError('The campaign could not ' + action, err);
      button.disabled = false;
    }
  }

  /** Results now, then every 2 s while the campaign is sending or waiting for its time. */
  async function pollResults(c, box, actions) {
    let r;
    try {
      r = await api('GET', '/api/v1/campaigns/' + c.id + '/results');
    } catch (err) {
      showError('The results could not be read', err);
      return;
    }
    if (r.state !== c.state) {
      // The state moved on (completed, paused elsewhere): the buttons follow.
      c = Object.assign({}, c, { state: r.state });
      clear($('cmp-state-box')).appendChild(stateChip(r.state));
      renderActions(c, actions);
    }
    renderResults(c, r, box);
    if (LIVE.has(r.state) && location.hash === '#campaign/' + c.id) {
      timer = setTimeout(() => pollResults(c, box, actions), 2000);
    }
  }

  let funnelVersion = 0;

  function renderResults(c, r, box) {
    clear(box);
    const counts = r.counts;
    if (c.state !== 'draft') {
      const { done, total } = progressFigures(counts);
      box.appendChild(h('div', { class: 'cmp-live', 'data-testid': 'cmp-progress' },
        h('strong', { text: r.state === 'sending' ? 'Sending: ' : r.state === 'completed' ? 'Done: ' : '' }),
        progressBar(counts),
        h('span', { class: 'small muted', text: ' ' + plural(done, 'message', 'messages') + ' settled of ' + num(total) })));
    }
    if (c.state === 'draft') {
      const count = h('p', { class: 'notice', 'data-testid': 'cmp-draft-count', text: 'Counting who receives it…' });
      box.appendChild(count);
      box.appendChild(h('p', { class: 'muted', text: 'The results appear here once the campaign starts.' }));
      api('POST', '/api/v1/campaigns/audience-count', c.spec)
        .then((n) => { count.textContent = 'If it started now: ' + countWords(n) + '.'; })
        .catch((err) => { count.textContent = 'Not counted: ' + err.message; });
      return;
    }
    funnelVersion += 1;
    box.appendChild(h('figure', { class: 'cmp-funnel' },
      h('img', { src: '/api/v1/campaigns/' + c.id + '/funnel.svg?v=' + funnelVersion, alt: funnelAlt(r), 'data-testid': 'cmp-funnel', width: '720' }),
      h('figcaption', { class: 'small muted', text: rateWords(r.rates) })));
    const excluded = Object.entries(counts.excluded || {}).filter(([, n]) => n > 0);
    const failed = Object.entries(counts.failed || {}).filter(([, n]) => n > 0);
    box.appendChild(h('div', { class: 'cmp-breakdown' },
      h('div', null, h('h3', { text: 'Excluded, by reason' }), excluded.length
        ? table([{ label: 'Reason' }, { label: 'People', num: true }], excluded.map(([k, n]) => h('tr', null, h('td', { text: reason(k) }), h('td', { class: 'num', text: num(n) }))), 'cmp-excluded')
        : h('p', { class: 'empty', text: 'Nobody was left out.' })),
      h('div', null, h('h3', { text: 'Failures, by code' }), failed.length
        ? table([{ label: 'Code' }, { label: 'Messages', num: true }], failed.map(([k, n]) => h('tr', null, h('td', { class: 'mono', text: k }), h('td', { class: 'num', text: num(n) }))), 'cmp-failed')
        : h('p', { class: 'empty', text: 'No failures.' })),
      h('div', null, h('h3', { text: 'Engagement' }), h('dl', { class: 'facts' },
        h('dt', { text: 'Clicks' }), h('dd', { text: num(counts.clicks_unique) + ' people, ' + plural(counts.clicks_total, 'click', 'clicks') }),
        h('dt', { text: 'Replies' }), h('dd', { text: num(counts.replied) }),
        h('dt', { text: 'HELP hand-offs' }), h('dd', { text: num(counts.help_handoffs) }),
        h('dt', { text: 'Opt-outs' }), h('dd', { text: num(counts.opt_outs) }),
        counts.withdrawn ? [h('dt', { text: 'Withdrawn' }), h('dd', { text: num(counts.withdrawn) })] : null))));
    box.appendChild(h('p', null, h('a', { href: '/api/v1/campaigns/' + c.id + '/results.csv', download: 'campaign-' + c.id + '.csv', 'data-testid': 'cmp-csv', text: 'Download CSV' }),
      h('span', { class: 'small muted', text: ' one line per message: number, status, clicks, reply.' })));
  }

  function pct(x) {
    return x === null || x === undefined ? null : (Math.round(x * 1000) / 10) + '%';
  }

  function rateWords(rates) {
    const parts = [];
    if (pct(rates.delivery)) parts.push('delivered ' + pct(rates.delivery));
    if (pct(rates.click)) parts.push('clicked ' + pct(rates.click));
    if (pct(rates.reply)) parts.push('replied ' + pct(rates.reply));
    if (pct(rates.opt_out)) parts.push('opted out ' + pct(rates.opt_out));
    if (pct(rates.failure)) parts.push('failed ' + pct(rates.failure));
    return parts.length ? 'Rates: ' + parts.join(', ') + '.' : 'Rates appear once messages are sent.';
  }

  function funnelAlt(r) {
    const c = r.counts;
    return 'Audience ' + num(c.audience) + ', queued ' + num(c.queued) + ', sent ' + num(c.sent) + ', delivered ' + num(c.delivered)
      + ', clicked ' + num(c.clicks_unique) + ', replied ' + num(c.replied) + ', opt-outs ' + num(c.opt_outs);
  }

  // --- Segments ---------------------------------------------------------------------------------

  const CONDITIONS = {
    channel: 'Channel', consent: 'Consent', locale: 'Locale', country: 'Country', contact: 'Contact field',
    attribute: 'Custom attribute', tag: 'Tag', last_inbound: 'Last message from them', last_outbound: 'Last message to them',
  };
  const CONSENTS = [['OptedOut', 'opted out'], ['ImplicitlyOptedIn', 'implicitly opted in'], ['ExplicitlyOptedIn', 'explicitly opted in'], ['DoublyOptedIn', 'doubly opted in'], ['none', 'never asked']];
  const TEXT_OPS = [['equals', 'is'], ['not_equals', 'is not'], ['contains', 'contains'], ['starts_with', 'starts with'], ['is_set', 'is set'], ['is_not_set', 'is not set']];
  const VALUE_OPS = [['equals', 'is'], ['not_equals', 'is not'], ['contains', 'contains'], ['greater_than', 'is more than'], ['less_than', 'is less than'], ['is_set', 'is set'], ['is_not_set', 'is not set']];

  function describeCondition(c, channels) {
    const name = (id) => (channels.find((s) => s.id === id) || { name: 'a deleted channel' }).name;
    switch (c.field) {
      case 'channel': return 'on ' + c.channels.map(name).join(' or ');
      case 'consent': return 'consent ' + c.statuses.map((s) => (CONSENTS.find((x) => x[0] === s) || [s, s])[1]).join(' or ');
      case 'locale': return 'locale ' + c.locales.join(' or ');
      case 'country': return 'country ' + c.countries.join(' or ');
      case 'contact': return c.name.replace('_', ' ') + ' ' + (TEXT_OPS.find((o) => o[0] === c.op) || [0, c.op])[1] + (c.value ? ' "' + c.value + '"' : '');
      case 'attribute': return c.name + ' ' + (VALUE_OPS.find((o) => o[0] === c.op) || [0, c.op])[1] + (c.value ? ' "' + c.value + '"' : '');
      case 'tag': return (c.present ? 'tagged ' : 'not tagged ') + c.tag;
      case 'last_inbound':
      case 'last_outbound': {
        const who = c.field === 'last_inbound' ? 'wrote to us' : 'we wrote';
        const r = c.recency;
        if (r.op === 'never') return (c.field === 'last_inbound' ? 'never wrote to us' : 'never written to');
        return who + (r.op === 'within' ? ' within ' : ' not within ') + plural(r.days, 'day', 'days');
      }
      default: return c.field;
    }
  }

  async function showSegments() {
    setTabs('segments');
    const [data, channels] = await Promise.all([api('GET', '/api/v1/segments'), loadSenders()]);
    const list = items(data);
    const root = clear(view());
    root.appendChild(head('Segments', h('button', { type: 'button', class: 'primary', 'data-testid': 'seg-new', text: 'New segment', onclick: () => go('#segment/new') })));
    root.appendChild(h('p', { class: 'muted', text: 'A saved filter over the people who message you, evaluated when a campaign starts.' }));
    if (!list.length) { root.appendChild(h('p', { class: 'empty', text: 'No segments yet.' })); return; }
    root.appendChild(table([{ label: 'Name' }, { label: 'Who' }, { label: 'Changed' }],
      list.map((s) => h('tr', null,
        h('td', null, h('a', { href: '#segment/' + s.id, text: s.name })),
        h('td', { text: (s.filter.all || []).length ? (s.filter.all || []).map((c) => describeCondition(c, channels)).join('; ') : 'everyone on the campaign\'s senders' }),
        h('td', { text: ago(s.updated_at) }))), 'seg-list'));
  }

  async function showSegment(id) {
    setTabs('segments');
    const [channels, existing] = await Promise.all([loadSenders(), id ? api('GET', '/api/v1/segments/' + id) : null]);
    const root = clear(view());
    root.appendChild(head(existing ? existing.name : 'New segment'));
    const conditions = existing ? JSON.parse(JSON.stringify(existing.filter.all || [])) : [];
    const form = h('form', { class: 'form-grid', 'data-testid': 'seg-form', novalidate: true });
    const name = h('input', { type: 'text', id: 'seg-name', 'data-testid': 'seg-name', value: existing ? existing.name : '', maxlength: '200' });
    const description = h('input', { type: 'text', id: 'seg-description', value: existing ? existing.description : '' });
    const list = h('ol', { class: 'seg-conditions', id: 'seg-conditions', 'data-testid': 'seg-conditions' });
    const add = h('select', { id: 'seg-add', 'data-testid': 'seg-add', 'aria-label': 'Add a condition' },
      h('option', { value: '', text: 'Add a condition…' }), Object.entries(CONDITIONS).map(([k, v]) => h('option', { value: k, text: v })));
    add.addEventListener('change', () => {
      if (!add.value) return;
      conditions.push(blankCondition(add.value, channels));
      add.value = '';
      renderConditions();
      const last = list.lastElementChild && list.lastElementChild.querySelector('input, select');
      if (last) last.focus();
    });

    let conditionsChanged = () => {};

    function renderConditions() {
      conditionsChanged();
      clear(list);
      if (!conditions.length) list.appendChild(h('li', { class: 'empty', text: 'No condition: everyone on the campaign\'s senders.' }));
      conditions.forEach((c, i) => list.appendChild(h('li', { class: 'seg-condition' },
        h('strong', { text: CONDITIONS[c.field] + ' ' }), conditionEditor(c, channels),
        h('button', { type: 'button', class: 'small link', 'aria-label': 'Remove this condition', text: 'Remove', onclick: () => { conditions.splice(i, 1); renderConditions(); } }))));
    }

    const countSender = h('select', { id: 'seg-count-sender', 'aria-label': 'Count on sender' },
      h('option', { value: '', text: 'every SMS and WhatsApp channel' }),
      channels.map((s) => h('option', { value: s.id, text: s.name + ' (' + s.kind + ')' })));
    const count = h('p', { class: 'notice', id: 'seg-count', 'data-testid': 'seg-count', text: 'Counting…' });
    const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'seg-save', text: 'Save segment' });
    const buttons = h('div', { class: 'form-actions' }, save,
      h('button', { type: 'button', text: 'Back', onclick: () => go('#segments') }),
      existing ? h('button', { type: 'button', class: 'danger', text: 'Delete', onclick: async () => {
        if (!(await confirmAction('Delete the segment "' + existing.name + '"?'))) return;
        try { await api('DELETE', '/api/v1/segments/' + existing.id); go('#segments'); } catch (err) { showError('The segment was not deleted', err); }
      } }) : null);
    form.append(field('Name', name), field('Description', description),
      h('div', { class: 'field wide' }, h('label', { text: 'People who match all of' }), list, add),
      h('div', { class: 'field wide' }, h('label', { for: 'seg-count-sender', text: 'How many, on' }), countSender, count),
      buttons);
    root.appendChild(form);
    renderConditions();

    // The count follows the conditions as they are written, saved or not.
    let asked = 0;
    const recount = debounce(async () => {
      const mine = ++asked;
      try {
        const c = await api('POST', '/api/v1/segments/count', {
          filter: { all: conditions }, channels: countSender.value ? [countSender.value] : [],
        });
        if (mine !== asked) return;
        const parts = Object.entries(c.consent).sort((a, b) => b[1] - a[1])
          .map(([k, n]) => num(n) + ' ' + (CONSENTS.find((x) => x[0] === k) || [k, k])[1]);
        count.textContent = plural(c.members, 'person matches', 'people match') + ' now' + (parts.length ? ': ' + parts.join(', ') : '') + '.';
      } catch (err) {
        if (mine === asked) count.textContent = 'Not counted: ' + err.message;
      }
    }, 400);
    form.addEventListener('input', recount);
    form.addEventListener('change', recount);
    conditionsChanged = recount;
    recount();

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { name: name.value.trim(), description: description.value.trim(), filter: { all: conditions } };
      if (!body.name) { notify('Give the segment a name.', 'error'); name.focus(); return; }
      save.disabled = true;
      try {
        const s = existing ? await api('PUT', '/api/v1/segments/' + existing.id, body) : await api('POST', '/api/v1/segments', body);
        notify('Segment saved.');
        if (!existing) { go('#segment/' + s.id); return; }
        existing.name = s.name;
      } catch (err) {
        showError('The segment was not saved', err);
      } finally {
        save.disabled = false;
      }
    });
    name.focus();
  }

  function blankCondition(kind, channels) {
    switch (kind) {
      case 'channel': return { field: 'channel', channels: channels.length ? [channels[0].id] : [] };
      case 'consent': return { field: 'consent', statuses: ['ExplicitlyOptedIn', 'DoublyOptedIn'] };
      case 'locale': return { field: 'locale', locales: ['en'] };
      case 'country': return { field: 'country', countries: ['GB'] };
      case 'contact': return { field: 'contact', name: 'first_name', op: 'is_set', value: '' };
      case 'attribute': return { field: 'attribute', name: '', op: 'equals', value: '' };
      case 'tag': return { field: 'tag', tag: '', present: true };
      default: return { field: kind, recency: { op: 'within', days: 30 } };
    }
  }

  /** The controls of one condition; each writes back into the condition object as it changes. */
  function conditionEditor(c, channels) {
    const box = h('span', { class: 'seg-editor' });
    const select = (options, value, onchange, label) => {
      const s = h('select', { 'aria-label': label }, options.map(([v, t]) => h('option', { value: v, text: t })));
      s.value = value;
      s.addEventListener('change', () => onchange(s.value));
      return s;
    };
    const input = (value, oninput, label, type) => h('input', { type: type || 'text', value, 'aria-label': label, oninput: (e) => oninput(e.target.value) });
    const csv = (arr) => arr.join(', ');
    const uncsv = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
    switch (c.field) {
      case 'channel':
        box.append(...channels.map((s) => h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: c.channels.includes(s.id), onchange: (e) => {
          c.channels = e.target.checked ? c.channels.concat([s.id]) : c.channels.filter((x) => x !== s.id);
        } }), s.name)));
        break;
      case 'consent':
        box.append(...CONSENTS.map(([v, t]) => h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: c.statuses.includes(v), onchange: (e) => {
          c.statuses = e.target.checked ? c.statuses.concat([v]) : c.statuses.filter((x) => x !== v);
        } }), t)));
        break;
      case 'locale':
        box.append(input(csv(c.locales), (v) => { c.locales = uncsv(v); }, 'Locales, separated by commas'));
        break;
      case 'country':
        box.append(input(csv(c.countries), (v) => { c.countries = uncsv(v).map((x) => x.toUpperCase()); }, 'Countries (GB, US…), separated by commas'));
        break;
      case 'contact':
        box.append(select([['first_name', 'first name'], ['last_name', 'last name'], ['email', 'email'], ['phone', 'phone']], c.name, (v) => { c.name = v; }, 'Contact field'),
          select(TEXT_OPS, c.op, (v) => { c.op = v; }, 'Comparison'), input(c.value, (v) => { c.value = v; }, 'Value'));
        break;
      case 'attribute':
        box.append(input(c.name, (v) => { c.name = v.trim(); }, 'Attribute name'),
          select(VALUE_OPS, c.op, (v) => { c.op = v; }, 'Comparison'), input(c.value, (v) => { c.value = v; }, 'Value'));
        break;
      case 'tag':
        box.append(select([['true', 'has'], ['false', 'has not']], String(c.present), (v) => { c.present = v === 'true'; }, 'Has the tag'),
          input(c.tag, (v) => { c.tag = v.trim(); }, 'Tag'));
        break;
      default: {
        const days = input(String(c.recency.days || 30), (v) => { if (c.recency.op !== 'never') c.recency.days = Math.max(0, parseInt(v, 10) || 0); }, 'Days', 'number');
        days.hidden = c.recency.op === 'never';
        box.append(select([['within', 'within the last'], ['not_within', 'not within the last'], ['never', 'never']], c.recency.op, (v) => {
          c.recency = v === 'never' ? { op: 'never' } : { op: v, days: parseInt(days.value, 10) || 30 };
          days.hidden = v === 'never';
        }, 'When'), days, h('span', { class: 'small muted', text: ' days' }));
      }
    }
    return box;
  }

  // --- Lists -------------------------------------------------------------------------------------

  async function showLists() {
    setTabs('lists');
    const list = items(await api('GET', '/api/v1/lists'));
    const root = clear(view());
    const name = h('input', { type: 'text', id: 'list-name', 'data-testid': 'list-name', placeholder: 'Name of a new list', 'aria-label': 'Name of a new list' });
    const form = h('form', { class: 'cmp-row', 'data-testid': 'list-form' }, name, h('button', { type: 'submit', class: 'primary', text: 'New list' }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!name.value.trim()) { name.focus(); return; }
      try {
        const l = await api('POST', '/api/v1/lists', { name: name.value.trim() });
        go('#list/' + l.id);
      } catch (err) {
        showError('The list was not created', err);
      }
    });
    root.appendChild(head('Lists', form));
    root.appendChild(h('p', { class: 'muted', text: 'A fixed set of people: imported from a CSV file (a phone or contact_id column) or added by number.' }));
    if (!list.length) { root.appendChild(h('p', { class: 'empty', text: 'No lists yet.' })); return; }
    root.appendChild(table([{ label: 'Name' }, { label: 'Entries', num: true }, { label: 'Changed' }],
      list.map((l) => h('tr', null, h('td', null, h('a', { href: '#list/' + l.id, text: l.name })), h('td', { class: 'num', text: num(l.members) }), h('td', { text: ago(l.updated_at) }))), 'list-list'));
  }

  async function showList(id) {
    setTabs('lists');
    const l = await api('GET', '/api/v1/lists/' + id);
    const root = clear(view());
    root.appendChild(head(l.name, h('button', { type: 'button', text: 'Back', onclick: () => go('#lists') }),
      h('button', { type: 'button', class: 'danger', text: 'Delete', onclick: async () => {
        if (!(await confirmAction('Delete the list "' + l.name + '"?'))) return;
        try { await api('DELETE', '/api/v1/lists/' + l.id); go('#lists'); } catch (err) { showError('The list was not deleted', err); }
      } })));
    root.appendChild(h('p', { class: 'muted', id: 'list-size', text: plural(l.members, 'entry', 'entries') + (l.description ? ' · ' + l.description : '') }));

    // CSV import with an upload progress bar, then the row report.
    const file = h('input', { type: 'file', id: 'list-file', accept: '.csv,text/csv', 'data-testid': 'list-file' });
    const bar = h('progress', { id: 'list-upload', max: '100', value: '0', hidden: true, 'aria-label': 'Upload progress' });
    const report = h('div', { id: 'list-report', 'data-testid': 'list-report', 'aria-live': 'polite' });
    const upload = h('button', { type: 'submit', class: 'primary', text: 'Import' });
    const importForm = h('form', { class: 'cmp-row', 'data-testid': 'list-import' }, h('label', { for: 'list-file', text: 'CSV file ' }), file, upload, bar);
    importForm.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!file.files || !file.files[0]) { notify('Choose a CSV file first.', 'error'); return; }
      upload.disabled = true;
      uploadCsv(l.id, file.files[0], bar).then((r) => {
        showReport(report, r);
        return api('GET', '/api/v1/lists/' + l.id).then((fresh) => {
          $('list-size').textContent = plural(fresh.members, 'entry', 'entries');
          loadMembers(true);
        });
      }).catch((err) => showError('The file was not imported', err)).finally(() => { upload.disabled = false; });
    });

    // People picked by number.
    const phones = h('textarea', { id: 'list-phones', rows: '3', placeholder: '+447700900123, one number a line', 'aria-label': 'Phone numbers, one a line' });
    const addForm = h('form', { class: 'inline-form' }, h('label', { for: 'list-phones', text: 'Add people by number' }), phones,
      h('div', null, h('button', { type: 'submit', text: 'Add' })));
    addForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const list = phones.value.split(/[\n,;]+/).map((x) => x.trim()).filter(Boolean);
      if (!list.length) return;
      try {
        const r = await api('POST', '/api/v1/lists/' + l.id + '/members', { phones: list });
        notify(plural(r.added, 'entry', 'entries') + ' added.');
        phones.value = '';
        loadMembers(true);
      } catch (err) {
        showError('The numbers were not added', err);
      }
    });
    phones.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) addForm.requestSubmit();
    });

    const tbody = h('tbody');
    const more = h('button', { type: 'button', text: 'Load more', hidden: true });
    let next = null;
    async function loadMembers(reset) {
      if (reset) { clear(tbody); next = null; }
      const q = '?limit=100' + (next ? '&after=' + next : '');
      const page = await api('GET', '/api/v1/lists/' + l.id + '/members' + q);
      for (const m of items(page)) tbody.appendChild(h('tr', null, h('td', { class: 'mono', text: m.phone || '' }), h('td', { class: 'mono small', text: m.contact_id ? 'contact ' + m.contact_id : '' })));
      next = page.next || null;
      more.hidden = !next;
    }
    more.addEventListener('click', () => loadMembers(false).catch((err) => showError('More entries could not be read', err)));
    root.append(h('div', { class: 'panel cmp-import' }, h('h3', { text: 'Import from CSV' }),
      h('p', { class: 'small muted', text: 'A header row first, then one person a line: a phone column (E.164, or national with a country column) or a contact_id column. Up to 20 MB.' }),
      importForm, report), addForm,
    h('table', { class: 'grid', 'data-testid': 'list-members' }, h('thead', null, h('tr', null, h('th', { text: 'Phone' }), h('th', { text: 'Contact' }))), tbody), more);
    await loadMembers(true);
  }

  /** Posts the file with XMLHttpRequest, the one browser API that reports upload progress. */
  function uploadCsv(listId, blob, bar) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/api/v1/lists/' + listId + '/import');
      xhr.setRequestHeader('Content-Type', 'text/csv');
      xhr.setRequestHeader('X-CSRF-Token', P.csrf);
      xhr.setRequestHeader('Accept', 'application/json');
      bar.hidden = false;
      bar.value = 0;
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable) bar.value = Math.round((e.loaded * 100) / e.total);
      });
      xhr.addEventListener('load', () => {
        bar.value = 100;
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (_) { data = null; }
        if (xhr.status >= 200 && xhr.status < 300 && data) resolve(data);
        else reject(new P.ApiError(xhr.status, data && data.code ? data.code : 'http_' + xhr.status, data && data.message ? data.message : 'The upload failed.'));
      });
      xhr.addEventListener('error', () => reject(new P.ApiError(0, 'network', 'The server could not be reached.')));
      xhr.send(blob);
    });
  }

  function showReport(box, r) {
    clear(box);
    box.appendChild(h('p', { class: 'notice', 'data-testid': 'list-report-summary', text: plural(r.rows, 'row', 'rows') + ': ' + num(r.added) + ' added, ' + num(r.duplicates) + ' already on the list, ' + plural(r.errors.length, 'bad row', 'bad rows') + '.' }));
    if (r.errors.length) {
      box.appendChild(table([{ label: 'Line', num: true }, { label: 'Why it was not imported' }],
        r.errors.slice(0, 500).map((e) => h('tr', null, h('td', { class: 'num', text: String(e.line) }), h('td', { text: e.reason }))), 'list-report-errors'));
      if (r.errors.length > 500) box.appendChild(h('p', { class: 'small muted', text: 'The first 500 of ' + num(r.errors.length) + ' bad rows.' }));
    }
  }

  // --- Routing ------------------------------------------------------------------------------------

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  async function route() {
    stopPolling();
    const hash = location.hash.replace(/^#/, '') || 'campaigns';
    const [area, id] = hash.split('/');
    try {
      if (area === 'new') await showEditor(null);
      else if (area === 'edit' && id) await showEditor(id);
      else if (area === 'campaign' && id) await showCampaign(id);
      else if (area === 'segments') await showSegments();
      else if (area === 'segment') await showSegment(id === 'new' ? null : id);
      else if (area === 'lists') await showLists();
      else if (area === 'list' && id) await showList(id);
      else await showCampaigns();
    } catch (err) {
      showError('This page could not be shown', err);
      clear(view()).appendChild(h('p', { class: 'alert', text: err && err.message ? err.message : String(err) }));
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    window.addEventListener('hashchange', route);
    route();
  });
})();
