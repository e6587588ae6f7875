/**
 * The Privacy page's Sensitive data tab (PRIV-03, issue 16): the rules table (scope by channel
 * name, detector and action in words, authors, priority, on/off), a form with pickers to create
 * or edit a rule, and a live test box that runs the form's detector and action on a sample text
 * through POST /api/v1/sensitive-data-rules/preview. Loads when the tab first opens. Every text
 * goes through Parley.t (area `sensitive_data`); names, patterns and samples are set as text.
 */
(function () {
  const { t, api, items, h, clear, notify, showError, debounce } = window.Parley;
  const AUTHORS = ['customer', 'agent', 'supervisor', 'bot'];
  const DETECTORS = ['card_number', 'national_id', 'regex'];
  const FORMATS = ['us_ssn', 'ca_sin', 'uk_nino', 'fr_nir'];
  const ACTIONS = ['replace', 'remove'];

  let channels = [];
  let editing = null;
  let loaded = false;
  const ui = {};

  function panel() {
    return document.getElementById('panel-sensitive-data');
  }

  function channelName(id) {
    if (!id) return t('sensitive_data.scope.all');
    const c = channels.find((x) => x.id === id);
    return c ? c.name : t('sensitive_data.scope.unknown');
  }

  function detectorWords(rule) {
    if (rule.detector === 'regex') return t('sensitive_data.detector_words.regex', { pattern: rule.pattern || '' });
    if (rule.detector === 'national_id') {
      return t('sensitive_data.detector_words.national_id', { format: t('sensitive_data.format.' + rule.national_id_format) });
    }
    return t('sensitive_data.detector_words.card_number');
  }

  function actionWords(rule) {
    return rule.action === 'replace'
      ? t('sensitive_data.action_words.replace', { replacement: rule.replacement || '' })
      : t('sensitive_data.action_words.remove');
  }

  function row(rule) {
    return h('tr', { dataset: { rule: rule.id, testid: 'sensitive-rule' } },
      h('td', { text: rule.name }),
      h('td', { text: channelName(rule.channel_id) }),
      h('td', { text: detectorWords(rule) }),
      h('td', { text: actionWords(rule) }),
      h('td', { text: rule.authors.map((a) => t('sensitive_data.author.' + a)).join(', ') }),
      h('td', { text: String(rule.priority) }),
      h('td', { text: rule.enabled ? t('sensitive_data.on') : t('sensitive_data.off') }),
      h('td', {},
        h('button', { type: 'button', text: t('sensitive_data.edit'), dataset: { testid: 'sensitive-edit' }, onclick: () => edit(rule) }),
        ' ',
        h('button', { type: 'button', class: 'danger', text: t('sensitive_data.delete'), dataset: { testid: 'sensitive-delete' }, onclick: () => remove(rule) })));
  }

  async function load() {
    clear(ui.body).append(h('tr', {}, h('td', { colspan: '8', class: 'muted', text: t('sensitive_data.loading') })));
    try {
      const [rules, chans] = await Promise.all([
        api('GET', '/api/v1/sensitive-data-rules'),
        api('GET', '/api/v1/channels').catch(() => []),
      ]);
      channels = items(chans, 'channels');
      fillChannels();
      clear(ui.body);
      const list = items(rules);
      if (!list.length) ui.body.append(h('tr', {}, h('td', { colspan: '8', class: 'empty', text: t('sensitive_data.empty') })));
      for (const rule of list) ui.body.append(row(rule));
    } catch (err) {
      clear(ui.body);
      showError(t('sensitive_data.load_failed'), err);
    }
  }

  function fillChannels() {
    const chosen = ui.channel.value;
    clear(ui.channel).append(h('option', { value: '', text: t('sensitive_data.scope.all') }));
    for (const c of channels) ui.channel.append(h('option', { value: c.id, text: c.name }));
    ui.channel.value = chosen;
  }

  function field(label, control, help) {
    const id = control.id;
    return h('div', { class: 'field' },
      h('label', { for: id, text: label }),
      control,
      help ? h('small', { class: 'muted', id: id + '-help', text: help }) : null);
  }

  function select(id, values, label) {
    return h('select', { id, name: id }, values.map((v) => h('option', { value: v, text: label(v) })));
  }

  /** Shows only the inputs the chosen detector and action use. */
  function sync() {
    ui.patternField.hidden = ui.detector.value !== 'regex';
    ui.formatField.hidden = ui.detector.value !== 'national_id';
    ui.replacementField.hidden = ui.action.value !== 'replace';
  }

  function values() {
    const detector = ui.detector.value;
    const action = ui.action.value;
    return {
      name: ui.name.value,
      channel_id: ui.channel.value || null,
      detector,
      pattern: detector === 'regex' ? ui.pattern.value : null,
      national_id_format: detector === 'national_id' ? ui.format.value : null,
      action,
      replacement: action === 'replace' ? ui.replacement.value : null,
      authors: AUTHORS.filter((a) => ui.authors[a].checked),
      priority: Number.parseInt(ui.priority.value || '0', 10) || 0,
      enabled: ui.enabled.checked,
    };
  }

  function reset() {
    editing = null;
    ui.title.textContent = t('sensitive_data.form.title_new');
    ui.name.value = '';
    ui.channel.value = '';
    ui.detector.value = 'card_number';
    ui.pattern.value = '';
    ui.format.value = 'us_ssn';
    ui.action.value = 'replace';
    ui.replacement.value = '';
    for (const a of AUTHORS) ui.authors[a].checked = a === 'customer';
    ui.priority.value = '0';
    ui.enabled.checked = true;
    sync();
    preview();
  }

  function edit(rule) {
    editing = rule;
    ui.title.textContent = t('sensitive_data.form.title_edit', { name: rule.name });
    ui.name.value = rule.name;
    ui.channel.value = rule.channel_id || '';
    ui.detector.value = rule.detector;
    ui.pattern.value = rule.pattern || '';
    ui.format.value = rule.national_id_format || 'us_ssn';
    ui.action.value = rule.action;
    ui.replacement.value = rule.replacement || '';
    for (const a of AUTHORS) ui.authors[a].checked = rule.authors.includes(a);
    ui.priority.value = String(rule.priority);
    ui.enabled.checked = rule.enabled;
    sync();
    preview();
    ui.name.focus();
  }

  async function save(ev) {
    ev.preventDefault();
    try {
      if (editing) await api('PUT', '/api/v1/sensitive-data-rules/' + encodeURIComponent(editing.id), values());
      else await api('POST', '/api/v1/sensitive-data-rules', values());
      notify(t('sensitive_data.saved'));
      reset();
      await load();
    } catch (err) {
      showError(t('sensitive_data.save_failed'), err);
    }
  }

  async function remove(rule) {
    if (!window.confirm(t('sensitive_data.confirm_delete', { name: rule.name }))) return;
    try {
      await api('DELETE', '/api/v1/sensitive-data-rules/' + encodeURIComponent(rule.id));
      notify(t('sensitive_data.deleted'));
      if (editing && editing.id === rule.id) reset();
      await load();
    } catch (err) {
      showError(t('sensitive_data.delete_failed'), err);
    }
  }

  let asked = 0;
  async function preview() {
    const text = ui.sample.value;
    if (!text) {
      ui.result.textContent = '';
      ui.count.textContent = '';
      return;
    }
    const v = values();
    const mine = ++asked;
    // A rule still being written (no pattern or replacement yet) has nothing to show.
    if ((v.detector === 'regex' && !v.pattern) || (v.action === 'replace' && !v.replacement)) {
      ui.result.textContent = '';
      ui.count.textContent = '';
      return;
    }
    try {
      const out = await api('POST', '/api/v1/sensitive-data-rules/preview', {
        detector: v.detector,
        pattern: v.pattern,
        national_id_format: v.national_id_format,
        action: v.action,
        replacement: v.replacement,
        text,
      });
      if (mine !== asked) return;
      ui.result.textContent = out.text;
      ui.count.textContent = out.matches
        ? t('sensitive_data.preview.matches', { count: out.matches })
        : t('sensitive_data.preview.none');
    } catch (err) {
      if (mine !== asked) return;
      ui.result.textContent = '';
      ui.count.textContent = t('sensitive_data.preview.failed', { message: err.message || '' });
    }
  }

  function build(root) {
    ui.body = h('tbody', { id: 'sensitive-rules-body' });
    const head = ['name', 'scope', 'detector', 'action', 'authors', 'priority', 'enabled', 'actions']
      .map((c) => h('th', { scope: 'col', text: t('sensitive_data.col.' + c) }));
    const table = h('table', { class: 'grid', dataset: { testid: 'sensitive-rules' } },
      h('caption', { text: t('sensitive_data.rules') }),
      h('thead', {}, h('tr', {}, head)),
      ui.body);

    ui.title = h('h2', { id: 'sensitive-form-title', text: t('sensitive_data.form.title_new') });
    ui.name = h('input', { id: 'sensitive-name', type: 'text', required: true, maxlength: '100', autocomplete: 'off' });
    ui.channel = h('select', { id: 'sensitive-channel' });
    ui.detector = select('sensitive-detector', DETECTORS, (d) => t('sensitive_data.detector.' + d));
    ui.pattern = h('input', { id: 'sensitive-pattern', type: 'text', maxlength: '1000', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'sensitive-pattern-help' });
    ui.format = select('sensitive-format', FORMATS, (f) => t('sensitive_data.format.' + f));
    ui.action = select('sensitive-action', ACTIONS, (a) => t('sensitive_data.action.' + a));
    ui.replacement = h('input', { id: 'sensitive-replacement', type: 'text', maxlength: '50', autocomplete: 'off' });
    ui.priority = h('input', { id: 'sensitive-priority', type: 'number', step: '1', value: '0' });
    ui.enabled = h('input', { id: 'sensitive-enabled', type: 'checkbox', checked: true });
    ui.authors = {};
    const authorBoxes = AUTHORS.map((a) => {
      ui.authors[a] = h('input', { id: 'sensitive-author-' + a, type: 'checkbox', value: a, name: 'authors' });
      return h('label', { class: 'check', for: 'sensitive-author-' + a }, ui.authors[a], ' ', t('sensitive_data.author.' + a));
    });
    ui.patternField = field(t('sensitive_data.form.pattern'), ui.pattern, t('sensitive_data.form.pattern_help'));
    ui.formatField = field(t('sensitive_data.form.format'), ui.format);
    ui.replacementField = field(t('sensitive_data.form.replacement'), ui.replacement);

    ui.sample = h('textarea', { id: 'sensitive-sample', rows: '3', dataset: { testid: 'sensitive-sample' } });
    ui.result = h('output', { id: 'sensitive-result', for: 'sensitive-sample', class: 'preview', dataset: { testid: 'sensitive-result' } });
    ui.count = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', dataset: { testid: 'sensitive-count' } });

    const form = h('form', { id: 'sensitive-form', 'aria-labelledby': 'sensitive-form-title', onsubmit: save },
      ui.title,
      field(t('sensitive_data.form.name'), ui.name),
      field(t('sensitive_data.form.channel'), ui.channel),
      field(t('sensitive_data.form.detector'), ui.detector),
      ui.patternField,
      ui.formatField,
      field(t('sensitive_data.form.action'), ui.action),
      ui.replacementField,
      h('fieldset', {}, h('legend', { text: t('sensitive_data.form.authors') }), authorBoxes),
      field(t('sensitive_data.form.priority'), ui.priority),
      h('label', { class: 'check', for: 'sensitive-enabled' }, ui.enabled, ' ', t('sensitive_data.form.enabled')),
      h('fieldset', { class: 'preview-box' },
        h('legend', { text: t('sensitive_data.preview.title') }),
        field(t('sensitive_data.preview.sample'), ui.sample),
        h('p', {}, h('strong', { text: t('sensitive_data.preview.result') + ' ' }), ui.result),
        ui.count),
      h('p', { class: 'actions' },
        h('button', { type: 'submit', class: 'primary', text: t('sensitive_data.form.save'), dataset: { testid: 'sensitive-save' } }),
        ' ',
        h('button', { type: 'button', text: t('sensitive_data.form.cancel'), onclick: reset })));

    const later = debounce(preview, 250);
    for (const el of [ui.sample, ui.pattern, ui.replacement]) el.addEventListener('input', later);
    for (const el of [ui.detector, ui.format, ui.action]) {
      el.addEventListener('change', () => { sync(); later(); });
    }

    root.append(h('p', { class: 'muted', text: t('sensitive_data.intro') }), table, form);
    fillChannels();
    reset();
  }

  function open() {
    const root = panel();
    if (!root) return;
    if (!loaded) {
      loaded = true;
      build(root);
    }
    load();
  }

  document.addEventListener('privacy:tab', (ev) => {
    if (ev.detail === 'sensitive-data') open();
  });
  // privacy.js may have opened this tab before this script listened.
  document.addEventListener('DOMContentLoaded', () => {
    const root = panel();
    if (root && !root.hidden && !loaded) open();
  });
})();
