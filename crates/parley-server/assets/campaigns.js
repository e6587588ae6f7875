// Campaigns area: campaigns (list, draft editor with a live preview, the campaign's page with its
// live progress and results), segments (a condition builder) and lists (people picked by number,
// CSV import with a progress bar and the row report). Everything goes through the JSON API under
// /api/v1; names are shown instead of ids, dates in words, and every text from the server is
// put in the page as text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, debounce, t } = P;

  const view = () => $('cmp-view');
  const lang = document.documentElement.lang || 'en';
  const nf = new Intl.NumberFormat(lang);
  const plurals = new Intl.PluralRules(lang);
  const num = (n) => nf.format(Number(n) || 0);
  /** The `<key>_one` or `<key>_other` text for `n`, by the page language's plural rule. */
  const plural = (n, key, vars) => t(key + (plurals.select(Number(n) || 0) === 'one' ? '_one' : '_other'), Object.assign({ n: num(n) }, vars || {}));

  // What the editor offers; the server checks every one of them again.
  const FIELDS = [
    'contact.first_name', 'contact.last_name', 'contact.name', 'contact.email', 'contact.phone',
    'messaging_user.name', 'messaging_user.platform_key', 'messaging_user.locale', 'channel.name',
  ];
  const REASONS = {
    opted_out: t('campaigns.reason.opted_out'), no_consent: t('campaigns.reason.no_consent'), consent_too_low: t('campaigns.reason.consent_too_low'),
    not_explicitly_opted_in: t('campaigns.reason.not_explicitly_opted_in'), out_of_country: t('campaigns.reason.out_of_country'),
    outside_care_window: t('campaigns.reason.outside_care_window'), missing_field: t('campaigns.reason.missing_field'),
    duplicate: t('campaigns.reason.duplicate'), not_on_sender: t('campaigns.reason.not_on_sender'), invalid_number: t('campaigns.reason.invalid_number'),
  };
  const reason = (r) => REASONS[r] || String(r).replace(/_/g, ' ');
  const STATE_WORDS = {
    draft: t('campaigns.state.draft'), scheduled: t('campaigns.state.scheduled'), sending: t('campaigns.state.sending'), paused: t('campaigns.state.paused'),
    completed: t('campaigns.state.completed'), cancelled: t('campaigns.state.cancelled'),
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
    const at = new Date(iso).getTime();
    if (Number.isNaN(at)) return '';
    const s = Math.round((Date.now() - at) / 1000);
    if (s < 0) return t('campaigns.in', { duration: inWords(-s) });
    if (s < 45) return t('campaigns.just_now');
    if (s < 86400 * 2 && s >= 86400) return t('campaigns.yesterday');
    if (s < 86400 * 7) return t('campaigns.ago', { duration: inWords(s) });
    return P.date(iso);
  }

  function inWords(s) {
    if (s < 90) return plural(Math.max(1, Math.round(s / 60)), 'campaigns.minute');
    if (s < 5400) return plural(Math.round(s / 60), 'campaigns.minute');
    if (s < 86400) return plural(Math.round(s / 3600), 'campaigns.hour');
    return plural(Math.round(s / 86400), 'campaigns.day');
  }

  function dateTime(iso) {
    if (!iso) return '';
    const d = P.dateTime(iso);
    if (!d) return '';
    return t('campaigns.date_ago', { date: d, ago: ago(iso) });
  }

  function stateChip(state) {
    return h('span', { class: 'chip cmp-state state-' + state, 'data-testid': 'cmp-state', text: STATE_WORDS[state] || state });
  }

  function encodingWords(fit) {
    if (!fit) return '';
    const parts = [plural(fit.characters, 'campaigns.character')];
    if (fit.encoding) parts.push(fit.encoding === 'gsm7' ? 'GSM-7' : fit.encoding === 'ucs2' ? 'UCS-2' : fit.encoding);
    if (fit.segments !== null && fit.segments !== undefined) parts.push(plural(fit.segments, 'campaigns.segment'));
    return parts.join(', ');
  }

  function countWords(c) {
    const excluded = Object.values(c.excluded || {}).reduce((a, b) => a + b, 0);
    let text = t('campaigns.count.sentence', { people: plural(c.members, 'campaigns.count.people'), receive: plural(c.eligible, 'campaigns.count.receive') });
    if (excluded > 0) {
      const reasons = Object.entries(c.excluded).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1])
        .map(([r, n]) => reason(r) + ' ' + num(n));
      text = t('campaigns.count.with_excluded', { count: text, excluded: plural(excluded, 'campaigns.count.excluded'), reasons: reasons.join(', ') });
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
    root.appendChild(head(t('campaigns.title'),
      h('button', { type: 'button', class: 'primary', 'data-testid': 'cmp-new', text: t('campaigns.new'), onclick: () => go('#new') })));
    root.appendChild(h('p', { class: 'muted', text: t('campaigns.intro') }));
    if (!data.length) {
      root.appendChild(h('p', { class: 'empty', text: t('campaigns.none') }));
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
      h('td', { text: c.kind === 'broadcast' ? t('campaigns.kind.broadcast') : t('campaigns.kind.marketing') }),
      h('td', null, stateChip(c.state)),
      h('td', { text: c.senders.map((s) => s.name).join(', ') || '—' }),
      h('td', { text: c.audience_name ? t('campaigns.audience_named', { name: c.audience_name, kind: c.audience_kind }) : t('campaigns.audience_deleted', { kind: c.audience_kind }) }),
      h('td', { text: ago(c.created_at), title: dateTime(c.created_at) }),
      h('td', null, progress[c.id] ? progressBar(progress[c.id].counts) : null)));
    root.appendChild(table([
      { label: t('campaigns.col.name') }, { label: t('campaigns.col.kind') }, { label: t('campaigns.col.state') }, { label: t('campaigns.col.senders') },
      { label: t('campaigns.col.audience') }, { label: t('campaigns.col.created') }, { label: t('campaigns.col.progress') },
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
      h('progress', { max: String(total || 1), value: String(done), 'aria-label': t('campaigns.progress') }),
      h('span', { class: 'small muted', text: t('campaigns.progress_of', { done: num(done), total: num(total), pct }) }));
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
      notify(t('campaigns.only_draft'), 'error');
      go('#campaign/' + id);
      return;
    }
    const spec = existing ? existing.spec : null;
    const root = clear(view());
    root.appendChild(head(existing ? t('campaigns.edit_title', { name: existing.name }) : t('campaigns.new')));

    const form = h('form', { class: 'form-grid cmp-form', 'data-testid': 'cmp-form', novalidate: true });
    const name = h('input', { type: 'text', id: 'cmp-name', 'data-testid': 'cmp-name', required: true, value: spec ? spec.name : '', maxlength: '200' });
    const kind = h('select', { id: 'cmp-kind', 'data-testid': 'cmp-kind' },
      h('option', { value: 'marketing', text: t('campaigns.kind.marketing') }), h('option', { value: 'broadcast', text: t('campaigns.kind.broadcast_long') }));
    kind.value = spec ? spec.kind : 'marketing';

    // Senders: only channels of one kind at once.
    const senderBoxes = all.map((s) => h('label', { class: 'check', title: s.address },
      h('input', { type: 'checkbox', value: s.id, dataset: { kind: s.kind }, 'data-testid': 'cmp-sender', checked: Boolean(spec && spec.senders.includes(s.id)) }),
      s.name + ' ', h('span', { class: 'chip kind-' + s.kind, text: s.kind })));
    const sendersBox = h('fieldset', { class: 'checks', id: 'cmp-senders' }, h('legend', { class: 'small muted', text: t('campaigns.senders_legend') }), senderBoxes);
    if (!all.length) sendersBox.appendChild(h('p', { class: 'empty', text: t('campaigns.no_senders') }));

    const audience = h('select', { id: 'cmp-audience', 'data-testid': 'cmp-audience' },
      h('option', { value: '', text: t('campaigns.choose_audience') }),
      h('optgroup', { label: t('campaigns.segments') }, audiences.segments.map((s) => h('option', { value: 'segment:' + s.id, text: s.name }))),
      h('optgroup', { label: t('campaigns.lists') }, audiences.lists.map((l) => h('option', { value: 'list:' + l.id, text: t('campaigns.list_option', { name: l.name, entries: plural(l.members, 'campaigns.entry') }) }))));
    if (spec) audience.value = spec.audience.kind === 'segment' ? 'segment:' + spec.audience.segment_id : 'list:' + spec.audience.list_id;
    const countLine = h('p', { class: 'notice', id: 'cmp-count', 'data-testid': 'cmp-count', text: t('campaigns.pick_to_count') });

    // Content: a text with merge fields, or an approved template.
    const isTemplate = Boolean(spec && spec.content.template);
    const modeText = radio('cmp-mode', 'text', t('campaigns.mode.text'), !isTemplate, 'cmp-mode-text');
    const modeTemplate = radio('cmp-mode', 'template', t('campaigns.mode.template'), isTemplate, 'cmp-mode-template');
    const text = h('textarea', { id: 'cmp-text', 'data-testid': 'cmp-text', rows: '6', placeholder: t('campaigns.text_placeholder'), value: spec && spec.content.text ? spec.content.text : '' });
    const picker = h('select', { id: 'cmp-field-picker', 'aria-label': t('campaigns.insert_field') },
      h('option', { value: '', text: t('campaigns.insert_field_option') }), FIELDS.map((f) => h('option', { value: f, text: f })),
      h('option', { value: 'attributes.', text: t('campaigns.attribute_option') }));
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
    const textBox = h('div', { class: 'field wide', id: 'cmp-text-box' }, h('label', { for: 'cmp-text', text: t('campaigns.message') }), text, h('div', { class: 'cmp-row' }, picker));
    const template = h('select', { id: 'cmp-template', 'data-testid': 'cmp-template' });
    const params = h('div', { class: 'cmp-params', id: 'cmp-params' });
    const templateBox = h('div', { class: 'field wide', id: 'cmp-template-box' }, h('label', { for: 'cmp-template', text: t('campaigns.template') }), template, params);

    const missingFallback = radio('cmp-missing', 'fallback', t('campaigns.missing.fallback'), !spec || spec.content.missing.policy !== 'exclude');
    const missingExclude = radio('cmp-missing', 'exclude', t('campaigns.missing.exclude'), Boolean(spec && spec.content.missing.policy === 'exclude'));
    const fallbacks = h('div', { class: 'cmp-fallbacks', id: 'cmp-fallbacks' });
    const fallbackValues = Object.assign({}, spec ? spec.content.fallbacks : {});

    // Footer.
    const help = h('input', { type: 'checkbox', id: 'cmp-help', 'data-testid': 'cmp-help', checked: Boolean(spec && spec.footer.help) });
    const wa = h('select', { id: 'cmp-wa', 'data-testid': 'cmp-wa' }, h('option', { value: '', text: t('campaigns.no_wa') }),
      all.filter((s) => s.kind === 'whatsapp').map((s) => h('option', { value: s.id, text: s.name + ' — wa.me/' + waDigits(s.address) })));
    wa.value = spec && spec.footer.whatsapp_channel_id ? spec.footer.whatsapp_channel_id : '';
    const shorten = h('input', { type: 'checkbox', id: 'cmp-shorten', checked: Boolean(spec && spec.footer.shorten_whatsapp) });
    const custom = h('input', { type: 'text', id: 'cmp-custom', maxlength: '300', value: spec && spec.footer.custom ? spec.footer.custom : '' });

    // Schedule.
    const startAt = spec && spec.schedule.start_at;
    const whenNow = radio('cmp-when', 'now', t('campaigns.when.now'), !startAt, 'cmp-when-now');
    const whenAt = radio('cmp-when', 'at', t('campaigns.when.at'), Boolean(startAt), 'cmp-when-at');
    const at = h('input', { type: 'datetime-local', id: 'cmp-at', value: startAt ? localInput(startAt) : '' });
    const win = spec && spec.schedule.window;
    const windowOn = h('input', { type: 'checkbox', id: 'cmp-window', checked: Boolean(win) });
    const opens = h('input', { type: 'time', id: 'cmp-opens', value: minutesToTime(win ? win.opens : 540) });
    const closes = h('input', { type: 'time', id: 'cmp-closes', value: minutesToTime(win ? win.closes : 1200) });
    const zone = h('input', { type: 'text', id: 'cmp-zone', value: win ? win.default_time_zone : P.timeZone, placeholder: 'Europe/London' });

    const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'cmp-save', text: existing ? t('campaigns.save_draft') : t('campaigns.create_draft') });
    const cancel = h('button', { type: 'button', text: t('campaigns.cancel'), onclick: () => go(existing ? '#campaign/' + existing.id : '#campaigns') });

    form.append(
      field(t('campaigns.f.name'), name),
      field(t('campaigns.f.kind'), kind),
      h('div', { class: 'field wide' }, sendersBox),
      h('div', { class: 'field wide' }, h('label', { for: 'cmp-audience', text: t('campaigns.f.audience') }), audience, countLine),
      h('fieldset', { class: 'field wide checks' }, h('legend', { class: 'small muted', text: t('campaigns.f.content') }), modeText, modeTemplate),
      textBox, templateBox,
      h('fieldset', { class: 'field wide' }, h('legend', { class: 'small muted', text: t('campaigns.f.missing') }),
        h('div', { class: 'checks' }, missingFallback, missingExclude), fallbacks),
      h('fieldset', { class: 'field wide' }, h('legend', { class: 'small muted', text: t('campaigns.f.footer') }),
        h('label', { class: 'check' }, help, t('campaigns.f.help', { footer: 'Reply HELP for help, STOP to opt out.' })),
        h('label', { for: 'cmp-wa', class: 'small muted', text: t('campaigns.f.wa') }), wa,
        h('label', { class: 'check' }, shorten, t('campaigns.f.shorten')),
        h('label', { for: 'cmp-custom', class: 'small muted', text: t('campaigns.f.custom') }), custom),
      h('fieldset', { class: 'field wide' }, h('legend', { class: 'small muted', text: t('campaigns.f.schedule') }),
        h('div', { class: 'checks' }, whenNow, whenAt, at),
        h('label', { class: 'check' }, windowOn, t('campaigns.f.window')),
        h('div', { class: 'checks', id: 'cmp-window-box' },
          h('label', { class: 'check' }, t('campaigns.f.opens'), opens), h('label', { class: 'check' }, t('campaigns.f.closes'), closes),
          h('label', { class: 'check' }, t('campaigns.f.zone'), zone))),
      h('div', { class: 'form-actions' }, save, cancel));

    const preview = h('aside', { class: 'cmp-preview panel', 'aria-label': t('campaigns.preview'), 'data-testid': 'cmp-preview' },
      h('h3', { text: t('campaigns.preview') }),
      h('p', { class: 'small muted', id: 'cmp-sample', text: t('campaigns.preview_first') }),
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
        l.title = i.disabled ? t('campaigns.one_kind') : '';
      }
    }

    function refreshTemplates() {
      const ids = selectedSenders();
      const first = all.find((s) => s.id === ids[0]);
      const list = first ? first.templates : [];
      const wanted = template.value || (spec && spec.content.template ? spec.content.template.name + '|' + spec.content.template.language : '');
      clear(template);
      template.appendChild(h('option', { value: '', text: list.length ? t('campaigns.choose_template') : t('campaigns.no_template') }));
      for (const tp of list) template.appendChild(h('option', { value: tp.name + '|' + tp.language, text: tp.name + ' (' + tp.language + ')' }));
      template.value = list.some((tp) => tp.name + '|' + tp.language === wanted) ? wanted : '';
      refreshParams();
    }

    function chosenTemplate() {
      const ids = selectedSenders();
      const first = all.find((s) => s.id === ids[0]);
      return first ? first.templates.find((tp) => tp.name + '|' + tp.language === template.value) : null;
    }

    function refreshParams() {
      const tp = chosenTemplate();
      const old = Array.from(params.querySelectorAll('input')).map((i) => i.value);
      const given = old.length ? old : (spec && spec.content.template ? spec.content.template.parameters : []);
      clear(params);
      if (!tp) return;
      params.appendChild(h('p', { class: 'small muted', text: tp.body }));
      for (let i = 0; i < tp.parameters; i += 1) {
        params.appendChild(h('label', { class: 'check' }, '{{' + (i + 1) + '}} ',
          h('input', { type: 'text', value: given[i] || '', 'aria-label': t('campaigns.parameter', { n: i + 1 }), oninput: changed })));
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
        fallbacks.appendChild(h('label', { class: 'check' }, t('campaigns.fallback_for', { field: f }),
          h('input', { type: 'text', value: fallbackValues[f] || '', dataset: { field: f }, oninput: changed })));
      }
    }

    function buildSpec() {
      const templ = form.querySelector('input[name="cmp-mode"]:checked').value === 'template';
      const tp = templ ? chosenTemplate() : null;
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
        ? P.fromLocalInput(at.value) : null;
      return {
        name: name.value.trim(),
        kind: kind.value,
        senders: selectedSenders(),
        audience: akind === 'segment' ? { kind: 'segment', segment_id: aid } : akind === 'list' ? { kind: 'list', list_id: aid } : null,
        content: {
          text: templ ? null : text.value,
          template: tp ? { name: tp.name, language: tp.language, parameters: Array.from(params.querySelectorAll('input')).map((i) => i.value) } : null,
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
        $('cmp-count').textContent = t('campaigns.pick_to_count');
        return;
      }
      const body = Object.assign({}, s, { name: s.name || t('campaigns.preview_name') });
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
        $('cmp-sample').textContent = p.sample ? t('campaigns.preview_as', { name: p.sample }) : t('campaigns.preview_made_up');
        const notes = [];
        if (p.fell_back && p.fell_back.length) notes.push(t('campaigns.fallback_used', { fields: p.fell_back.join(', ') }));
        if (p.links && p.links.length) notes.push(t('campaigns.short_links', { links: p.links.join(', ') }));
        $('cmp-links').textContent = notes.join(' ');
        problem.hidden = !(p.fit && p.fit.problem);
        problem.textContent = p.fit && p.fit.problem ? p.fit.problem : '';
        refreshFallbacks(p.fields && p.fields.length ? p.fields : usedNow());
      } else {
        refreshFallbacks(usedNow());
        problem.hidden = false;
        problem.textContent = pv.reason && pv.reason.message ? pv.reason.message : t('campaigns.preview_failed');
        $('cmp-fit').textContent = '';
      }
      $('cmp-count').textContent = count.status === 'fulfilled'
        ? countWords(count.value)
        : t('campaigns.not_counted', { reason: count.reason && count.reason.message ? count.reason.message : t('campaigns.count_failed') });
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
      if (!s.name) { notify(t('campaigns.need_name'), 'error'); name.focus(); return; }
      if (!s.senders.length) { notify(t('campaigns.need_sender'), 'error'); return; }
      if (!s.audience) { notify(t('campaigns.need_audience'), 'error'); audience.focus(); return; }
      save.disabled = true;
      try {
        const saved = existing
          ? await api('PUT', '/api/v1/campaigns/' + existing.id, s)
          : await api('POST', '/api/v1/campaigns', s);
        notify(existing ? t('campaigns.draft_saved') : t('campaigns.draft_created'));
        go('#campaign/' + saved.id);
      } catch (err) {
        showError(t('campaigns.error.save'), err);
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

  // The start field reads and writes the agent's time zone, not the browser's.
  const localInput = (iso) => P.localInput(iso);

  // --- Campaign page ------------------------------------------------------------------------------

  const ACTIONS = {
    draft: [['start', t('campaigns.action.start')], ['schedule', t('campaigns.action.schedule')], ['edit', t('campaigns.action.edit')], ['delete', t('campaigns.action.delete')]],
    scheduled: [['start', t('campaigns.action.start_now')], ['unschedule', t('campaigns.action.unschedule')], ['cancel', t('campaigns.action.cancel')]],
    sending: [['pause', t('campaigns.action.pause')], ['cancel', t('campaigns.action.cancel')]],
    paused: [['resume', t('campaigns.action.resume')], ['cancel', t('campaigns.action.cancel')]],
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
      h('dt', { text: t('campaigns.fact.kind') }), h('dd', { text: c.kind === 'broadcast' ? t('campaigns.kind.broadcast') : t('campaigns.kind.marketing') }),
      h('dt', { text: t('campaigns.fact.senders') }), h('dd', { text: c.senders.map((s) => s.name + ' (' + s.kind + ')').join(', ') || '—' }),
      h('dt', { text: t('campaigns.fact.audience') }), h('dd', { text: t('campaigns.audience_named', { name: c.audience_name || t('campaigns.deleted_audience'), kind: c.audience_kind }) }),
      h('dt', { text: t('campaigns.fact.created') }), h('dd', { text: c.created_by ? t('campaigns.created_by', { when: dateTime(c.created_at), who: c.created_by }) : dateTime(c.created_at) }),
      c.spec.schedule && c.spec.schedule.start_at ? [h('dt', { text: t('campaigns.fact.starts') }), h('dd', { text: dateTime(c.spec.schedule.start_at) })] : null,
      c.spec.schedule && c.spec.schedule.window ? [h('dt', { text: t('campaigns.fact.window') }), h('dd', { text: t('campaigns.window_words', { opens: minutesToTime(c.spec.schedule.window.opens), closes: minutesToTime(c.spec.schedule.window.closes), zone: c.spec.schedule.window.default_time_zone }) })] : null,
      c.started_at ? [h('dt', { text: t('campaigns.fact.started') }), h('dd', { text: dateTime(c.started_at) })] : null,
      c.paused_reason ? [h('dt', { text: t('limits.campaign_paused') }), h('dd', { 'data-testid': 'cmp-paused-reason', text: c.paused_reason })] : null,
      c.finished_at ? [h('dt', { text: t('campaigns.fact.finished') }), h('dd', { text: dateTime(c.finished_at) })] : null);
    const message = c.spec.content.text !== null && c.spec.content.text !== undefined
      ? c.spec.content.text
      : c.spec.content.template ? t('campaigns.template_named', { name: c.spec.content.template.name, language: c.spec.content.template.language }) : '';
    const f = c.spec.footer || {};
    const wa = f.whatsapp_channel_id ? (senders || []).find((s) => s.id === f.whatsapp_channel_id) : null;
    const footer = [
      f.help ? 'Reply HELP for help, STOP to opt out.' : null,
      f.whatsapp_channel_id ? (wa ? 'wa.me/' + waDigits(wa.address) : t('campaigns.wa_link')) + (f.shorten_whatsapp ? t('campaigns.shortened') : '') : null,
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
    if (action === 'cancel' && !(await confirmAction(t('campaigns.cancel_q', { name: c.name })))) return;
    if (action === 'delete' && !(await confirmAction(t('campaigns.delete_draft_q', { name: c.name })))) return;
    button.disabled = true;
    try {
      if (action === 'delete') {
        await api('DELETE', '/api/v1/campaigns/' + c.id);
        notify(t('campaigns.draft_deleted'));
        go('#campaigns');
        return;
      }
      await api('POST', '/api/v1/campaigns/' + c.id + '/' + action);
      route();
    } catch (err) {
      showError(t('campaigns.error.action', { action }), err);
      button.disabled = false;
    }
  }

  /** Results now, then every 2 s while the campaign is sending or waiting for its time. */
  async function pollResults(c, box, actions) {
    let r;
    try {
      r = await api('GET', '/api/v1/campaigns/' + c.id + '/results');
    } catch (err) {
      showError(t('campaigns.error.results'), err);
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
        h('strong', { text: r.state === 'sending' ? t('campaigns.sending') : r.state === 'completed' ? t('campaigns.done') : '' }),
        progressBar(counts),
        h('span', { class: 'small muted', text: plural(done, 'campaigns.settled', { total: num(total) }) })));
    }
    if (c.state === 'draft') {
      const count = h('p', { class: 'notice', 'data-testid': 'cmp-draft-count', text: t('campaigns.counting') });
      box.appendChild(count);
      box.appendChild(h('p', { class: 'muted', text: t('campaigns.results_later') }));
      api('POST', '/api/v1/campaigns/audience-count', c.spec)
        .then((n) => { count.textContent = t('campaigns.if_now', { count: countWords(n) }); })
        .catch((err) => { count.textContent = t('campaigns.not_counted', { reason: err.message }); });
      return;
    }
    funnelVersion += 1;
    box.appendChild(h('figure', { class: 'cmp-funnel' },
      h('img', { src: '/api/v1/campaigns/' + c.id + '/funnel.svg?v=' + funnelVersion, alt: funnelAlt(r), 'data-testid': 'cmp-funnel', width: '720' }),
      h('figcaption', { class: 'small muted', text: rateWords(r.rates) })));
    const excluded = Object.entries(counts.excluded || {}).filter(([, n]) => n > 0);
    const failed = Object.entries(counts.failed || {}).filter(([, n]) => n > 0);
    box.appendChild(h('div', { class: 'cmp-breakdown' },
      h('div', null, h('h3', { text: t('campaigns.excluded_by_reason') }), excluded.length
        ? table([{ label: t('campaigns.col.reason') }, { label: t('campaigns.col.people'), num: true }], excluded.map(([k, n]) => h('tr', null, h('td', { text: reason(k) }), h('td', { class: 'num', text: num(n) }))), 'cmp-excluded')
        : h('p', { class: 'empty', text: t('campaigns.nobody_left_out') })),
      h('div', null, h('h3', { text: t('campaigns.failures') }), failed.length
        ? table([{ label: t('campaigns.col.code') }, { label: t('campaigns.col.messages'), num: true }], failed.map(([k, n]) => h('tr', null, h('td', { class: 'mono', text: k }), h('td', { class: 'num', text: num(n) }))), 'cmp-failed')
        : h('p', { class: 'empty', text: t('campaigns.no_failures') })),
      h('div', null, h('h3', { text: t('campaigns.engagement') }), h('dl', { class: 'facts' },
        h('dt', { text: t('campaigns.clicks') }), h('dd', { text: t('campaigns.clicks_words', { people: plural(counts.clicks_unique, 'campaigns.clickers'), clicks: plural(counts.clicks_total, 'campaigns.click') }) }),
        h('dt', { text: t('campaigns.replies') }), h('dd', { text: num(counts.replied) }),
        h('dt', { text: t('campaigns.help_handoffs') }), h('dd', { text: num(counts.help_handoffs) }),
        h('dt', { text: t('campaigns.opt_outs') }), h('dd', { text: num(counts.opt_outs) }),
        counts.withdrawn ? [h('dt', { text: t('campaigns.withdrawn') }), h('dd', { text: num(counts.withdrawn) })] : null))));
    box.appendChild(h('p', null, h('a', { href: '/api/v1/campaigns/' + c.id + '/results.csv', download: 'campaign-' + c.id + '.csv', 'data-testid': 'cmp-csv', text: t('campaigns.download_csv') }),
      h('span', { class: 'small muted', text: t('campaigns.csv_hint') })));
  }

  function pct(x) {
    return x === null || x === undefined ? null : (Math.round(x * 1000) / 10) + '%';
  }

  function rateWords(rates) {
    const parts = [];
    if (pct(rates.delivery)) parts.push(t('campaigns.rate.delivered', { pct: pct(rates.delivery) }));
    if (pct(rates.click)) parts.push(t('campaigns.rate.clicked', { pct: pct(rates.click) }));
    if (pct(rates.reply)) parts.push(t('campaigns.rate.replied', { pct: pct(rates.reply) }));
    if (pct(rates.opt_out)) parts.push(t('campaigns.rate.opted_out', { pct: pct(rates.opt_out) }));
    if (pct(rates.failure)) parts.push(t('campaigns.rate.failed', { pct: pct(rates.failure) }));
    return parts.length ? t('campaigns.rates', { rates: parts.join(', ') }) : t('campaigns.rates_later');
  }

  function funnelAlt(r) {
    const c = r.counts;
    return t('campaigns.funnel_alt', {
      audience: num(c.audience), queued: num(c.queued), sent: num(c.sent), delivered: num(c.delivered),
      clicked: num(c.clicks_unique), replied: num(c.replied), opt_outs: num(c.opt_outs),
    });
  }

  // --- Segments ---------------------------------------------------------------------------------

  const CONDITIONS = {
    channel: t('campaigns.cond.channel'), consent: t('campaigns.cond.consent'), locale: t('campaigns.cond.locale'), country: t('campaigns.cond.country'), contact: t('campaigns.cond.contact'),
    attribute: t('campaigns.cond.attribute'), tag: t('campaigns.cond.tag'), last_inbound: t('campaigns.cond.last_inbound'), last_outbound: t('campaigns.cond.last_outbound'),
  };
  const CONSENTS = [['OptedOut', t('campaigns.consent.opted_out')], ['ImplicitlyOptedIn', t('campaigns.consent.implicit')], ['ExplicitlyOptedIn', t('campaigns.consent.explicit')], ['DoublyOptedIn', t('campaigns.consent.double')], ['none', t('campaigns.consent.none')]];
  const TEXT_OPS = [['equals', t('campaigns.op.is')], ['not_equals', t('campaigns.op.is_not')], ['contains', t('campaigns.op.contains')], ['starts_with', t('campaigns.op.starts_with')], ['is_set', t('campaigns.op.is_set')], ['is_not_set', t('campaigns.op.is_not_set')]];
  const CONTACT_FIELDS = [['first_name', t('campaigns.contact.first_name')], ['last_name', t('campaigns.contact.last_name')], ['email', t('campaigns.contact.email')], ['phone', t('campaigns.contact.phone')]];
  const VALUE_OPS = [['equals', t('campaigns.op.is')], ['not_equals', t('campaigns.op.is_not')], ['contains', t('campaigns.op.contains')], ['greater_than', t('campaigns.op.gt')], ['less_than', t('campaigns.op.lt')], ['is_set', t('campaigns.op.is_set')], ['is_not_set', t('campaigns.op.is_not_set')]];
  const or = (list) => list.join(t('campaigns.or'));
  const compare = (field, op, value) => (value ? t('campaigns.desc.compare_value', { field, op, value }) : t('campaigns.desc.compare', { field, op }));

  function describeCondition(c, channels) {
    const name = (id) => (channels.find((s) => s.id === id) || { name: t('campaigns.deleted_channel') }).name;
    switch (c.field) {
      case 'channel': return t('campaigns.desc.channel', { channels: or(c.channels.map(name)) });
      case 'consent': return t('campaigns.desc.consent', { statuses: or(c.statuses.map((s) => (CONSENTS.find((x) => x[0] === s) || [s, s])[1])) });
      case 'locale': return t('campaigns.desc.locale', { locales: or(c.locales) });
      case 'country': return t('campaigns.desc.country', { countries: or(c.countries) });
      case 'contact': return compare((CONTACT_FIELDS.find((f) => f[0] === c.name) || [0, c.name.replace('_', ' ')])[1], (TEXT_OPS.find((o) => o[0] === c.op) || [0, c.op])[1], c.value);
      case 'attribute': return compare(c.name, (VALUE_OPS.find((o) => o[0] === c.op) || [0, c.op])[1], c.value);
      case 'tag': return t(c.present ? 'campaigns.desc.tagged' : 'campaigns.desc.not_tagged', { tag: c.tag });
      case 'last_inbound':
      case 'last_outbound': {
        const who = c.field === 'last_inbound' ? 'in' : 'out';
        const r = c.recency;
        if (r.op === 'never') return t('campaigns.desc.' + who + '_never');
        return t('campaigns.desc.' + who + (r.op === 'within' ? '_within' : '_not_within'), { days: plural(r.days, 'campaigns.day') });
      }
      default: return c.field;
    }
  }

  async function showSegments() {
    setTabs('segments');
    const [data, channels] = await Promise.all([api('GET', '/api/v1/segments'), loadSenders()]);
    const list = items(data);
    const root = clear(view());
    root.appendChild(head(t('campaigns.seg.title'), h('button', { type: 'button', class: 'primary', 'data-testid': 'seg-new', text: t('campaigns.seg.new'), onclick: () => go('#segment/new') })));
    root.appendChild(h('p', { class: 'muted', text: t('campaigns.seg.intro') }));
    if (!list.length) { root.appendChild(h('p', { class: 'empty', text: t('campaigns.seg.none') })); return; }
    root.appendChild(table([{ label: t('campaigns.col.name') }, { label: t('campaigns.col.who') }, { label: t('campaigns.col.changed') }],
      list.map((s) => h('tr', null,
        h('td', null, h('a', { href: '#segment/' + s.id, text: s.name })),
        h('td', { text: (s.filter.all || []).length ? (s.filter.all || []).map((c) => describeCondition(c, channels)).join('; ') : t('campaigns.seg.everyone') }),
        h('td', { text: ago(s.updated_at) }))), 'seg-list'));
  }

  async function showSegment(id) {
    setTabs('segments');
    const [channels, existing] = await Promise.all([loadSenders(), id ? api('GET', '/api/v1/segments/' + id) : null]);
    const root = clear(view());
    root.appendChild(head(existing ? existing.name : t('campaigns.seg.new')));
    const conditions = existing ? JSON.parse(JSON.stringify(existing.filter.all || [])) : [];
    const form = h('form', { class: 'form-grid', 'data-testid': 'seg-form', novalidate: true });
    const name = h('input', { type: 'text', id: 'seg-name', 'data-testid': 'seg-name', value: existing ? existing.name : '', maxlength: '200' });
    const description = h('input', { type: 'text', id: 'seg-description', value: existing ? existing.description : '' });
    const list = h('ol', { class: 'seg-conditions', id: 'seg-conditions', 'data-testid': 'seg-conditions' });
    const add = h('select', { id: 'seg-add', 'data-testid': 'seg-add', 'aria-label': t('campaigns.seg.add_condition') },
      h('option', { value: '', text: t('campaigns.seg.add_condition_option') }), Object.entries(CONDITIONS).map(([k, v]) => h('option', { value: k, text: v })));
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
      if (!conditions.length) list.appendChild(h('li', { class: 'empty', text: t('campaigns.seg.no_condition') }));
      conditions.forEach((c, i) => list.appendChild(h('li', { class: 'seg-condition' },
        h('strong', { text: CONDITIONS[c.field] + ' ' }), conditionEditor(c, channels),
        h('button', { type: 'button', class: 'small link', 'aria-label': t('campaigns.seg.remove_condition'), text: t('campaigns.remove'), onclick: () => { conditions.splice(i, 1); renderConditions(); } }))));
    }

    const countSender = h('select', { id: 'seg-count-sender', 'aria-label': t('campaigns.seg.count_on') },
      h('option', { value: '', text: t('campaigns.seg.every_channel') }),
      channels.map((s) => h('option', { value: s.id, text: s.name + ' (' + s.kind + ')' })));
    const count = h('p', { class: 'notice', id: 'seg-count', 'data-testid': 'seg-count', text: t('campaigns.seg.counting') });
    const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'seg-save', text: t('campaigns.seg.save') });
    const buttons = h('div', { class: 'form-actions' }, save,
      h('button', { type: 'button', text: t('campaigns.back'), onclick: () => go('#segments') }),
      existing ? h('button', { type: 'button', class: 'danger', text: t('campaigns.delete'), onclick: async () => {
        if (!(await confirmAction(t('campaigns.seg.delete_q', { name: existing.name })))) return;
        try { await api('DELETE', '/api/v1/segments/' + existing.id); go('#segments'); } catch (err) { showError(t('campaigns.seg.error.delete'), err); }
      } }) : null);
    form.append(field(t('campaigns.col.name'), name), field(t('campaigns.seg.description'), description),
      h('div', { class: 'field wide' }, h('label', { text: t('campaigns.seg.match_all') }), list, add),
      h('div', { class: 'field wide' }, h('label', { for: 'seg-count-sender', text: t('campaigns.seg.how_many') }), countSender, count),
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
        const matches = plural(c.members, 'campaigns.seg.matches');
        count.textContent = parts.length ? t('campaigns.seg.matches_detail', { count: matches, parts: parts.join(', ') }) : t('campaigns.seg.matches_end', { count: matches });
      } catch (err) {
        if (mine === asked) count.textContent = t('campaigns.not_counted', { reason: err.message });
      }
    }, 400);
    form.addEventListener('input', recount);
    form.addEventListener('change', recount);
    conditionsChanged = recount;
    recount();

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { name: name.value.trim(), description: description.value.trim(), filter: { all: conditions } };
      if (!body.name) { notify(t('campaigns.seg.need_name'), 'error'); name.focus(); return; }
      save.disabled = true;
      try {
        const s = existing ? await api('PUT', '/api/v1/segments/' + existing.id, body) : await api('POST', '/api/v1/segments', body);
        notify(t('campaigns.seg.saved'));
        if (!existing) { go('#segment/' + s.id); return; }
        existing.name = s.name;
      } catch (err) {
        showError(t('campaigns.seg.error.save'), err);
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
      const s = h('select', { 'aria-label': label }, options.map(([v, words]) => h('option', { value: v, text: words })));
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
        box.append(...CONSENTS.map(([v, words]) => h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: c.statuses.includes(v), onchange: (e) => {
          c.statuses = e.target.checked ? c.statuses.concat([v]) : c.statuses.filter((x) => x !== v);
        } }), words)));
        break;
      case 'locale':
        box.append(input(csv(c.locales), (v) => { c.locales = uncsv(v); }, t('campaigns.seg.locales')));
        break;
      case 'country':
        box.append(input(csv(c.countries), (v) => { c.countries = uncsv(v).map((x) => x.toUpperCase()); }, t('campaigns.seg.countries')));
        break;
      case 'contact':
        box.append(select(CONTACT_FIELDS, c.name, (v) => { c.name = v; }, t('campaigns.cond.contact')),
          select(TEXT_OPS, c.op, (v) => { c.op = v; }, t('campaigns.seg.comparison')), input(c.value, (v) => { c.value = v; }, t('campaigns.seg.value')));
        break;
      case 'attribute':
        box.append(input(c.name, (v) => { c.name = v.trim(); }, t('campaigns.seg.attribute_name')),
          select(VALUE_OPS, c.op, (v) => { c.op = v; }, t('campaigns.seg.comparison')), input(c.value, (v) => { c.value = v; }, t('campaigns.seg.value')));
        break;
      case 'tag':
        box.append(select([['true', t('campaigns.seg.has')], ['false', t('campaigns.seg.has_not')]], String(c.present), (v) => { c.present = v === 'true'; }, t('campaigns.seg.has_tag')),
          input(c.tag, (v) => { c.tag = v.trim(); }, t('campaigns.cond.tag')));
        break;
      default: {
        const days = input(String(c.recency.days || 30), (v) => { if (c.recency.op !== 'never') c.recency.days = Math.max(0, parseInt(v, 10) || 0); }, t('campaigns.seg.days'), 'number');
        days.hidden = c.recency.op === 'never';
        box.append(select([['within', t('campaigns.seg.within')], ['not_within', t('campaigns.seg.not_within')], ['never', t('campaigns.seg.never')]], c.recency.op, (v) => {
          c.recency = v === 'never' ? { op: 'never' } : { op: v, days: parseInt(days.value, 10) || 30 };
          days.hidden = v === 'never';
        }, t('campaigns.seg.when')), days, h('span', { class: 'small muted', text: t('campaigns.seg.days_suffix') }));
      }
    }
    return box;
  }

  // --- Lists -------------------------------------------------------------------------------------

  async function showLists() {
    setTabs('lists');
    const list = items(await api('GET', '/api/v1/lists'));
    const root = clear(view());
    const name = h('input', { type: 'text', id: 'list-name', 'data-testid': 'list-name', placeholder: t('campaigns.list.name_placeholder'), 'aria-label': t('campaigns.list.name_placeholder') });
    const form = h('form', { class: 'cmp-row', 'data-testid': 'list-form' }, name, h('button', { type: 'submit', class: 'primary', text: t('campaigns.list.new') }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!name.value.trim()) { name.focus(); return; }
      try {
        const l = await api('POST', '/api/v1/lists', { name: name.value.trim() });
        go('#list/' + l.id);
      } catch (err) {
        showError(t('campaigns.list.error.create'), err);
      }
    });
    root.appendChild(head(t('campaigns.list.title'), form));
    root.appendChild(h('p', { class: 'muted', text: t('campaigns.list.intro') }));
    if (!list.length) { root.appendChild(h('p', { class: 'empty', text: t('campaigns.list.none') })); return; }
    root.appendChild(table([{ label: t('campaigns.col.name') }, { label: t('campaigns.col.entries'), num: true }, { label: t('campaigns.col.changed') }],
      list.map((l) => h('tr', null, h('td', null, h('a', { href: '#list/' + l.id, text: l.name })), h('td', { class: 'num', text: num(l.members) }), h('td', { text: ago(l.updated_at) }))), 'list-list'));
  }

  async function showList(id) {
    setTabs('lists');
    const l = await api('GET', '/api/v1/lists/' + id);
    const root = clear(view());
    root.appendChild(head(l.name, h('button', { type: 'button', text: t('campaigns.back'), onclick: () => go('#lists') }),
      h('button', { type: 'button', class: 'danger', text: t('campaigns.delete'), onclick: async () => {
        if (!(await confirmAction(t('campaigns.list.delete_q', { name: l.name })))) return;
        try { await api('DELETE', '/api/v1/lists/' + l.id); go('#lists'); } catch (err) { showError(t('campaigns.list.error.delete'), err); }
      } })));
    root.appendChild(h('p', { class: 'muted', id: 'list-size', text: plural(l.members, 'campaigns.entry') + (l.description ? ' · ' + l.description : '') }));

    // CSV import with an upload progress bar, then the row report.
    const file = h('input', { type: 'file', id: 'list-file', accept: '.csv,text/csv', 'data-testid': 'list-file' });
    const bar = h('progress', { id: 'list-upload', max: '100', value: '0', hidden: true, 'aria-label': t('campaigns.list.upload_progress') });
    const report = h('div', { id: 'list-report', 'data-testid': 'list-report', 'aria-live': 'polite' });
    const upload = h('button', { type: 'submit', class: 'primary', text: t('campaigns.list.import') });
    const importForm = h('form', { class: 'cmp-row', 'data-testid': 'list-import' }, h('label', { for: 'list-file', text: t('campaigns.list.csv_file') }), file, upload, bar);
    importForm.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!file.files || !file.files[0]) { notify(t('campaigns.list.choose_csv'), 'error'); return; }
      upload.disabled = true;
      uploadCsv(l.id, file.files[0], bar).then((r) => {
        showReport(report, r);
        return api('GET', '/api/v1/lists/' + l.id).then((fresh) => {
          $('list-size').textContent = plural(fresh.members, 'campaigns.entry');
          loadMembers(true);
        });
      }).catch((err) => showError(t('campaigns.list.error.import'), err)).finally(() => { upload.disabled = false; });
    });

    // People picked by number.
    const phones = h('textarea', { id: 'list-phones', rows: '3', placeholder: t('campaigns.list.phones_placeholder'), 'aria-label': t('campaigns.list.phones_label') });
    const addForm = h('form', { class: 'inline-form' }, h('label', { for: 'list-phones', text: t('campaigns.list.add_by_number') }), phones,
      h('div', null, h('button', { type: 'submit', text: t('campaigns.list.add') })));
    addForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const list = phones.value.split(/[\n,;]+/).map((x) => x.trim()).filter(Boolean);
      if (!list.length) return;
      try {
        const r = await api('POST', '/api/v1/lists/' + l.id + '/members', { phones: list });
        notify(plural(r.added, 'campaigns.list.added'));
        phones.value = '';
        loadMembers(true);
      } catch (err) {
        showError(t('campaigns.list.error.add'), err);
      }
    });
    phones.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) addForm.requestSubmit();
    });

    const tbody = h('tbody');
    const more = h('button', { type: 'button', text: t('campaigns.load_more'), hidden: true });
    let next = null;
    async function loadMembers(reset) {
      if (reset) { clear(tbody); next = null; }
      const q = '?limit=100' + (next ? '&after=' + next : '');
      const page = await api('GET', '/api/v1/lists/' + l.id + '/members' + q);
      for (const m of items(page)) tbody.appendChild(h('tr', null, h('td', { class: 'mono', text: m.phone || '' }), h('td', { class: 'mono small', text: m.contact_id ? t('campaigns.list.contact', { id: m.contact_id }) : '' })));
      next = page.next || null;
      more.hidden = !next;
    }
    more.addEventListener('click', () => loadMembers(false).catch((err) => showError(t('campaigns.list.error.more'), err)));
    root.append(h('div', { class: 'panel cmp-import' }, h('h3', { text: t('campaigns.list.import_title') }),
      h('p', { class: 'small muted', text: t('campaigns.list.import_hint') }),
      importForm, report), addForm,
    h('table', { class: 'grid', 'data-testid': 'list-members' }, h('thead', null, h('tr', null, h('th', { text: t('campaigns.col.phone') }), h('th', { text: t('campaigns.col.contact') }))), tbody), more);
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
        else reject(new P.ApiError(xhr.status, data && data.code ? data.code : 'http_' + xhr.status, data && data.message ? data.message : t('campaigns.list.upload_failed')));
      });
      xhr.addEventListener('error', () => reject(new P.ApiError(0, 'network', t('campaigns.list.unreachable'))));
      xhr.send(blob);
    });
  }

  function showReport(box, r) {
    clear(box);
    box.appendChild(h('p', { class: 'notice', 'data-testid': 'list-report-summary', text: t('campaigns.report.summary', { rows: plural(r.rows, 'campaigns.report.row'), added: num(r.added), duplicates: num(r.duplicates), bad: plural(r.errors.length, 'campaigns.report.bad') }) }));
    if (r.errors.length) {
      box.appendChild(table([{ label: t('campaigns.col.line'), num: true }, { label: t('campaigns.col.why') }],
        r.errors.slice(0, 500).map((e) => h('tr', null, h('td', { class: 'num', text: String(e.line) }), h('td', { text: e.reason }))), 'list-report-errors'));
      if (r.errors.length > 500) box.appendChild(h('p', { class: 'small muted', text: t('campaigns.report.first_500', { n: num(r.errors.length) }) }));
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
      showError(t('campaigns.error.page'), err);
      clear(view()).appendChild(h('p', { class: 'alert', text: err && err.message ? err.message : String(err) }));
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    window.addEventListener('hashchange', route);
    route();
  });
})();
