// Flows area (admins): the list of bots and journeys, a flow read as its steps and branches, a test
// panel that plays the customer, and Import, Export and Delete. Everything goes through the JSON
// API under /api/v1/flows; names are shown instead of ids, dates in words, and every text from the
// server or a flow file is put in the page as text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, t } = P;

  const view = () => $('flow-view');
  const lang = document.documentElement.lang || 'en';
  const nf = new Intl.NumberFormat(lang);
  const plurals = new Intl.PluralRules(lang);
  const num = (n) => nf.format(Number(n) || 0);
  /** The `<key>_one` or `<key>_other` text for `n`, by the page language's plural rule. */
  const plural = (n, key) => t(key + (plurals.select(Number(n) || 0) === 'one' ? '_one' : '_other'), { n: num(n) });
  /** A catalogue text whose `{name}`s are nodes (links, code): the pieces in the language's order. */
  const parts = (key, nodes) => t(key).split(/(\{\w+\})/).map((p) => {
    const m = /^\{(\w+)\}$/.exec(p);
    return m && nodes[m[1]] !== undefined ? nodes[m[1]] : p;
  }).flat().filter((p) => p !== '' && p !== null && p !== undefined);

  const KIND_WORDS = {
    send: t('flows.kind.send'), ask: t('flows.kind.ask'), set: t('flows.kind.set'), branch: t('flows.kind.branch'), webhook: t('flows.kind.webhook'),
    handoff: t('flows.kind.handoff'), start_flow: t('flows.kind.start_flow'), end: t('flows.kind.end'),
  };
  const CONTEXT_WORDS = { service: t('flows.context.service'), marketing: t('flows.context.marketing') };
  const CHANNEL_WORDS = { sms: 'SMS', whatsapp: 'WhatsApp', messenger: 'Messenger', web: t('flows.channel.web') };
  const END_WORDS = {
    completed: t('flows.end.completed'),
    handed_off: t('flows.end.handed_off'),
    continued: t('flows.end.continued'),
    failed: t('flows.end.failed'),
    looped: t('flows.end.looped'),
    stopped: t('flows.end.stopped'),
  };
  const OPS = {
    eq: t('flows.op.eq'), ne: t('flows.op.ne'), contains: t('flows.op.contains'), gt: t('flows.op.gt'), lt: t('flows.op.lt'),
    present: t('flows.op.present'), absent: t('flows.op.absent'),
  };

  // --- Words -----------------------------------------------------------------------------------

  /** "just now", "5 minutes ago", "2 hours ago", "yesterday", "3 days ago", else the date. */
  function ago(iso) {
    if (!iso) return '';
    const at = new Date(iso).getTime();
    if (Number.isNaN(at)) return '';
    const s = Math.round((Date.now() - at) / 1000);
    if (s < 45) return t('flows.just_now');
    if (s < 86400 * 2 && s >= 86400) return t('flows.yesterday');
    if (s < 86400 * 7) return t('flows.ago', { duration: inWords(s) });
    return P.date(iso);
  }

  function inWords(s) {
    if (s < 5400) return plural(Math.max(1, Math.round(s / 60)), 'flows.minute');
    if (s < 86400) return plural(Math.round(s / 3600), 'flows.hour');
    return plural(Math.round(s / 86400), 'flows.day');
  }

  function dateTime(iso) {
    if (!iso) return '';
    return P.dateTime(iso);
  }

  /** "10 minutes", "1 hour 30 minutes", "2 days": a timeout as people say it. */
  function seconds(s) {
    const n = Number(s) || 0;
    if (n < 60) return plural(n, 'flows.second');
    if (n < 3600) return plural(Math.round(n / 60), 'flows.minute');
    if (n < 86400) {
      const hrs = Math.floor(n / 3600);
      const min = Math.round((n % 3600) / 60);
      return plural(hrs, 'flows.hour') + (min ? ' ' + plural(min, 'flows.minute') : '');
    }
    return plural(Math.round(n / 86400), 'flows.day');
  }

  const quoted = (w) => t('flows.quote', { w });
  const orList = (words) => words.map(quoted).join(t('flows.or'));

  function matcherWords(m, options) {
    switch (m && m.type) {
      case 'keyword': return t('flows.m.keyword', { words: orList(m.words || []) });
      case 'any_word': return t('flows.m.any_word', { words: orList(m.words || []) });
      case 'option': {
        const o = (options || []).find((x) => x.id === m.option);
        return t('flows.m.option', { option: quoted(o ? o.title : m.option) });
      }
      case 'number': return t('flows.m.number');
      case 'number_between': return t('flows.m.number_between', { min: m.min, max: m.max });
      case 'date': return t('flows.m.date');
      case 'email': return t('flows.m.email');
      case 'phone': return t('flows.m.phone');
      case 'regex': return parts('flows.m.regex', { pattern: h('code', { class: 'mono', text: m.pattern }) });
      case 'any': return t('flows.m.any');
      default: return t('flows.m.other', { json: JSON.stringify(m) });
    }
  }

  function conditionWords(c) {
    switch (c && c.type) {
      case 'field': return c.field + ' ' + (OPS[c.op] || c.op) + (c.value !== undefined && c.value !== null ? ' ' + quoted(c.value) : '');
      case 'business_hours': return c.open === false ? t('flows.c.outside_hours') : t('flows.c.inside_hours');
      case 'channel': return t('flows.c.channel', { channel: CHANNEL_WORDS[c.kind] || c.kind });
      case 'language': return t('flows.c.language', { language: c.language });
      case 'context': return c.context === 'marketing' ? t('flows.c.marketing') : t('flows.c.service');
      case 'all': return (c.conditions || []).map(conditionWords).join(t('flows.and'));
      case 'any_of': return (c.conditions || []).map(conditionWords).join(t('flows.or'));
      default: return JSON.stringify(c);
    }
  }

  function stateWords(st) {
    const status = st && st.status ? st.status : {};
    const at = st && st.step ? st.step : '';
    switch (status.status) {
      case 'waiting_reply': return t('flows.state.waiting_reply', { step: quoted(at) });
      case 'waiting_webhook': return t('flows.state.waiting_webhook', { step: quoted(at) });
      case 'ended': {
        const ended = END_WORDS[status.how] || t('flows.ended');
        return at ? t('flows.state.ended_at', { ended, step: quoted(at) }) : ended;
      }
      default: return t('flows.state.ready', { step: quoted(at) });
    }
  }

  // --- Dialog ------------------------------------------------------------------------------------

  /** Asks before something that cannot be undone; Esc (the dialog's own cancel) means no. */
  function confirmAction(text) {
    const dialog = $('flow-confirm');
    if (!dialog || typeof dialog.showModal !== 'function') return Promise.resolve(window.confirm(text));
    $('flow-confirm-text').textContent = text;
    dialog.returnValue = 'no';
    dialog.showModal();
    $('flow-confirm-no').focus();
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
    });
  }

  function head(title, ...actions) {
    return h('div', { class: 'admin-head' }, h('h2', { id: 'flow-title', text: title }), h('div', { class: 'cmp-row' }, actions));
  }

  const flowPath = (name) => '/api/v1/flows/' + encodeURIComponent(name);

  // --- Import -------------------------------------------------------------------------------------

  /**
   * Posts a definition as written (YAML or JSON) with the console's CSRF header, as the list
   * import of the Campaigns area posts its CSV: the body is the file, not JSON built here.
   */
  async function postDefinition(text, type) {
    let res;
    try {
      res = await fetch('/api/v1/flows', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': type, 'X-CSRF-Token': P.csrf, Accept: 'application/json' },
        body: text,
      });
    } catch (_) {
      throw new P.ApiError(0, 'network', t('flows.unreachable'));
    }
    let data = null;
    try { data = JSON.parse(await res.text()); } catch (_) { data = null; }
    if (!res.ok) {
      const err = data && typeof data.error === 'object' && data.error ? data.error : data || {};
      throw new P.ApiError(res.status, String(err.code || 'http_' + res.status), String(err.message || t('flows.not_imported')));
    }
    return { status: res.status, flow: data };
  }

  /** JSON when it looks like JSON (or the file says so), YAML otherwise. */
  function typeOf(text, fileName) {
    if (/\.json$/i.test(fileName || '')) return 'application/json';
    if (/\.ya?ml$/i.test(fileName || '')) return 'application/yaml';
    return /^\s*[{[]/.test(text) ? 'application/json' : 'application/yaml';
  }

  /** The server's sentence, with each `step "x": ...` issue on its own line, the step in bold. */
  function issueList(message) {
    const text = String(message || '').replace(/^the flow is not valid:\s*/, '');
    const issues = text.split(/;\s+(?=step "|name |the flow |steps )/);
    return h('ul', { class: 'flow-issues' }, issues.map((p) => {
      const m = /^step "([^"]*)":\s*(.*)$/s.exec(p);
      return m
        ? h('li', null, parts('flows.issue_step', { step: h('strong', { class: 'mono', text: m[1] }), issue: m[2] }))
        : h('li', { text: p });
    }));
  }

  function importPanel() {
    const text = h('textarea', {
      id: 'flow-import-text', rows: '10', spellcheck: 'false', class: 'mono', 'data-testid': 'flow-import-text',
      placeholder: t('flows.import_placeholder'),
    });
    const file = h('input', { type: 'file', id: 'flow-import-file', accept: '.yaml,.yml,.json,application/json,application/yaml', 'data-testid': 'flow-import-file' });
    const result = h('div', { id: 'flow-import-result', 'data-testid': 'flow-import-result', 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'flow-import-submit', text: t('flows.import') });
    const cancel = h('button', { type: 'button', text: t('flows.cancel'), onclick: () => { panel.hidden = true; $('flow-import-open').focus(); } });
    let fileName = '';
    file.addEventListener('change', async () => {
      const f = file.files && file.files[0];
      if (!f) return;
      fileName = f.name;
      text.value = await f.text();
      clear(result);
    });
    const form = h('form', { class: 'flow-import-form', 'data-testid': 'flow-import' },
      h('div', { class: 'field' }, h('label', { for: 'flow-import-text', text: t('flows.paste') }), text),
      h('div', { class: 'cmp-row' }, h('label', { for: 'flow-import-file', class: 'small muted', text: t('flows.or_file') }), file),
      result,
      h('div', { class: 'form-actions' }, submit, cancel));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = text.value;
      clear(result);
      if (!body.trim()) {
        result.appendChild(h('p', { class: 'alert', role: 'alert', text: t('flows.paste_first') }));
        return;
      }
      submit.disabled = true;
      try {
        const { status, flow } = await postDefinition(body, typeOf(body, fileName));
        const what = status === 201 ? t('flows.imported', { name: quoted(flow.name) })
          : t('flows.saved_version', { name: quoted(flow.name), version: flow.version });
        notify(what, 'info');
        go('#flow/' + encodeURIComponent(flow.name));
      } catch (err) {
        if (err instanceof P.ApiError && (err.status === 422 || err.status === 400)) {
          result.appendChild(h('div', { class: 'alert', role: 'alert', 'data-testid': 'flow-import-error' },
            h('strong', { text: t('flows.not_imported_strong') }), issueList(err.message)));
        } else {
          showError(t('flows.error.import'), err);
        }
      } finally {
        submit.disabled = false;
      }
    });
    const panel = h('section', { class: 'panel flow-import', id: 'flow-import-panel', hidden: true },
      h('h3', { text: t('flows.import_title') }),
      h('p', { class: 'small muted' }, parts('flows.import_hint', { command: h('code', { text: 'parley apply' }) })),
      form);
    return panel;
  }

  // --- List ------------------------------------------------------------------------------------------

  async function showList() {
    const data = items(await api('GET', '/api/v1/flows'));
    const root = clear(view());
    const imp = importPanel();
    const open = h('button', {
      type: 'button', class: 'primary', id: 'flow-import-open', 'data-testid': 'flow-import-open', text: t('flows.import_title'),
      onclick: () => { imp.hidden = false; $('flow-import-text').focus(); },
    });
    root.appendChild(head(t('flows.title'), open));
    root.appendChild(h('p', { class: 'muted', text: t('flows.intro') }));
    root.appendChild(imp);
    if (!data.length) {
      root.appendChild(h('p', { class: 'empty', 'data-testid': 'flow-list-empty', text: t('flows.none') }));
      return;
    }
    data.sort((a, b) => a.name.localeCompare(b.name));
    const rows = data.map((f) => h('tr', { dataset: { name: f.name } },
      h('td', null, h('a', { href: '#flow/' + encodeURIComponent(f.name), class: 'flow-link', text: f.name }),
        f.description ? h('div', { class: 'small muted flow-desc', text: f.description }) : null),
      h('td', null, h('span', { class: 'chip flow-context context-' + f.context, text: CONTEXT_WORDS[f.context] || f.context })),
      h('td', { class: 'num', text: String(f.version) }),
      h('td', { class: 'num', text: num(f.steps) }),
      h('td', { class: 'num' + (f.open_runs ? '' : ' muted'), text: f.open_runs ? plural(f.open_runs, 'flows.in_it') : t('flows.in_it_none') }),
      h('td', { text: ago(f.updated_at), title: dateTime(f.updated_at) })));
    const list = h('table', { class: 'grid flow-list', 'data-testid': 'flow-list' },
      h('thead', null, h('tr', null,
        h('th', { text: t('flows.col.flow') }), h('th', { text: t('flows.col.kind') }), h('th', { class: 'num', text: t('flows.col.version') }),
        h('th', { class: 'num', text: t('flows.col.steps') }), h('th', { class: 'num', text: t('flows.col.in_it') }), h('th', { text: t('flows.col.updated') }))),
      h('tbody', null, rows));
    // Arrow keys move between the flows; Enter opens one (it is a link).
    list.addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
      const links = Array.from(list.querySelectorAll('a.flow-link'));
      const at = links.indexOf(document.activeElement);
      if (at < 0) return;
      ev.preventDefault();
      const next = ev.key === 'ArrowDown' ? Math.min(links.length - 1, at + 1) : Math.max(0, at - 1);
      links[next].focus();
    });
    root.appendChild(list);
    root.appendChild(h('p', { class: 'hint', text: t('flows.keys_hint') }));
  }

  // --- Detail ------------------------------------------------------------------------------------------

  let shown = null; // the flow on screen: { name, definition }

  function stepLink(name, id) {
    if (!id) return null;
    return h('a', { href: '#flow/' + encodeURIComponent(name) + '/' + encodeURIComponent(id), class: 'step-ref mono', dataset: { step: id }, text: id });
  }

  function messageBox(msg, label) {
    if (!msg) return null;
    const box = h('div', { class: 'flow-msg' });
    if (label) box.appendChild(h('span', { class: 'tag', text: label }));
    if (msg.text !== undefined && msg.text !== null) box.appendChild(h('p', { class: 'text', text: msg.text }));
    if (msg.template) {
      const tpl = msg.template;
      const withParams = tpl.parameters && tpl.parameters.length;
      box.appendChild(h('p', { class: 'text' }, parts(withParams ? 'flows.template_with' : 'flows.template', {
        name: h('strong', { text: tpl.name }), language: tpl.language, parameters: withParams ? tpl.parameters.map(quoted).join(', ') : '',
      })));
    }
    const c = msg.component;
    if (c) {
      box.appendChild(h('p', { class: 'text', text: c.text || '' }));
      if (c.type === 'question') {
        box.appendChild(h('ol', { class: 'flow-options' }, (c.options || []).map((o) => h('li', null, h('span', { text: o.title }),
          o.description ? h('span', { class: 'muted small', text: ' — ' + o.description }) : null))));
      } else if (c.type === 'link') {
        box.appendChild(h('p', { class: 'small' }, h('strong', { text: c.title }), ' ', h('span', { class: 'mono', text: c.url })));
      } else if (c.type === 'time_slots') {
        box.appendChild(h('ol', { class: 'flow-options' }, (c.slots || []).map((s) => h('li', { text: s.title }))));
      }
    }
    return box;
  }

  /** One line of a card: "If the reply is ... → next". */
  function branchLine(name, words, next, testid) {
    return h('li', { class: 'flow-case', 'data-testid': testid || 'flow-case' },
      h('span', null, words), h('span', { class: 'arrow', 'aria-hidden': 'true', text: ' → ' }),
      h('span', { class: 'visually-hidden', text: t('flows.goes_to') }),
      next ? stepLink(name, next) : h('span', { class: 'muted', text: t('flows.flow_ends') }));
  }

  function thenLine(name, next, isLast, nextInOrder) {
    if (next) return h('p', { class: 'flow-then' }, parts('flows.then', { step: stepLink(name, next) }));
    if (isLast) return h('p', { class: 'flow-then muted', text: t('flows.then_ends') });
    return h('p', { class: 'flow-then muted' }, parts('flows.then_next', { step: stepLink(name, nextInOrder) }));
  }

  function stepCard(def, step, index) {
    const name = def.name;
    const steps = def.steps;
    const isLast = index === steps.length - 1;
    const nextInOrder = isLast ? null : steps[index + 1].id;
    const body = [];
    switch (step.type) {
      case 'send':
        body.push(messageBox(step.message), thenLine(name, step.next, isLast, nextInOrder));
        break;
      case 'ask': {
        body.push(messageBox(step.message));
        if (step.save_as) body.push(h('p', { class: 'small' }, parts('flows.saves_as', { field: h('span', { class: 'mono', text: 'flow.' + step.save_as }) })));
        const options = step.message && step.message.component && step.message.component.options;
        const cases = (step.cases || []).map((c) => branchLine(name, parts('flows.if', { condition: matcherWords(c.when, options) }), c.next));
        if (step.timeout) {
          cases.push(branchLine(name, t('flows.no_reply_within', { duration: seconds(step.timeout.after_seconds) }), step.timeout.next, 'flow-timeout'));
        }
        body.push(h('ul', { class: 'flow-cases' }, cases));
        const tries = def.max_invalid || 3;
        const invalid = h('div', { class: 'flow-invalid', 'data-testid': 'flow-invalid' },
          h('p', { class: 'small' }, parts(step.invalid ? 'flows.invalid_says' : 'flows.invalid_asks', {
            tries: plural(tries, 'flows.time'),
            then: step.other ? stepLink(name, step.other) : h('span', { text: t('flows.flow_ends') }),
          })),
          messageBox(step.invalid, t('flows.not_understood')));
        body.push(invalid);
        break;
      }
      case 'set':
        body.push(h('p', null, parts('flows.sets', { field: h('span', { class: 'mono', text: step.field.scope + '.' + step.field.name }), value: h('span', { class: 'mono', text: quoted(step.value) }) })),
          thenLine(name, step.next, isLast, nextInOrder));
        break;
      case 'branch': {
        const lines = (step.cases || []).map((c) => branchLine(name, t('flows.if', { condition: conditionWords(c.when) }), c.next));
        lines.push(step.otherwise
          ? branchLine(name, t('flows.otherwise'), step.otherwise)
          : isLast ? branchLine(name, t('flows.otherwise'), null) : branchLine(name, t('flows.otherwise_next'), nextInOrder));
        body.push(h('ul', { class: 'flow-cases' }, lines));
        break;
      }
      case 'webhook':
        body.push(h('p', { class: 'flow-url' }, h('span', { class: 'chip', text: step.method || 'POST' }), ' ', h('span', { class: 'mono', text: step.url })),
          h('p', { class: 'small muted', text: t('flows.webhook_waits', { seconds: num((step.timeout_ms || 5000) / 1000), retries: plural(step.retries === undefined ? 2 : step.retries, 'flows.retry') }) }),
          step.save_as ? h('p', { class: 'small' }, parts('flows.saves_webhook', { webhook: h('span', { class: 'mono', text: 'webhook.*' }), field: h('span', { class: 'mono', text: 'flow.' + step.save_as + '.*' }) })) : null,
          h('ul', { class: 'flow-cases' },
            step.next ? branchLine(name, t('flows.if_answers'), step.next)
              : isLast ? branchLine(name, t('flows.if_answers'), null) : branchLine(name, t('flows.if_answers_next'), nextInOrder),
            branchLine(name, t('flows.if_fails'), step.on_error, 'flow-on-error')));
        break;
      case 'handoff': {
        const to = [];
        if (step.queue) to.push(h('span', null, parts('flows.to_queue', { queue: h('strong', { text: step.queue }) })));
        if (step.skills && step.skills.length) to.push(h('span', null, parts('flows.to_skills', { skills: h('strong', { text: step.skills.join(', ') }) })));
        if (step.agent) to.push(h('span', null, parts('flows.to_agent', { agent: h('strong', { text: step.agent }) })));
        body.push(messageBox(step.message),
          h('p', null, parts('flows.hands_off', { to: to.length ? to.flatMap((x, i) => (i ? [', ', x] : [x])) : t('flows.to_people') })));
        break;
      }
      case 'start_flow':
        body.push(h('p', null, parts('flows.starts_flow', { flow: h('a', { href: '#flow/' + encodeURIComponent(step.flow), class: 'mono', text: step.flow }) })));
        break;
      case 'end':
        body.push(messageBox(step.message), h('p', { class: 'flow-then muted', text: step.end_session ? t('flows.ends_session') : t('flows.ends_flow') }));
        break;
      default:
        body.push(h('pre', { class: 'mono', text: JSON.stringify(step, null, 2) }));
    }
    return h('li', { class: 'flow-step kind-' + step.type, id: 'step-' + step.id, tabindex: '-1', 'data-testid': 'flow-step', dataset: { step: step.id, kind: step.type } },
      h('header', { class: 'flow-step-head' },
        h('span', { class: 'flow-step-n', 'aria-hidden': 'true', text: String(index + 1) }),
        h('span', { class: 'flow-kind', 'data-testid': 'flow-step-kind', text: KIND_WORDS[step.type] || step.type }),
        h('span', { class: 'mono muted flow-step-id', text: step.id })),
      h('div', { class: 'flow-step-body' }, body));
  }

  function focusStep(id) {
    const card = id ? document.getElementById('step-' + id) : null;
    if (!card) return;
    for (const c of document.querySelectorAll('.flow-step.target')) c.classList.remove('target');
    card.classList.add('target');
    card.scrollIntoView({ block: 'center' });
    card.focus({ preventScroll: true });
  }

  async function showFlow(name, stepId) {
    if (shown && shown.name === name && $('flow-steps')) {
      focusStep(stepId);
      return;
    }
    const f = await api('GET', flowPath(name));
    shown = { name: f.name, definition: f.definition };
    const def = f.definition;
    const root = clear(view());
    const exportLink = h('a', { class: 'button', href: flowPath(f.name) + '/export', download: f.name + '.yaml', 'data-testid': 'flow-export', text: t('flows.export') });
    const del = h('button', { type: 'button', class: 'danger', 'data-testid': 'flow-delete', text: t('flows.delete') });
    del.addEventListener('click', () => deleteFlow(f, del));
    root.appendChild(h('p', { class: 'small' }, h('a', { href: '#flows', text: t('flows.all_flows') })));
    root.appendChild(head(f.name, exportLink, del));
    root.appendChild(h('p', { class: 'flow-facts' },
      h('span', { class: 'chip flow-context context-' + f.context, text: CONTEXT_WORDS[f.context] || f.context }), ' ',
      h('span', { class: 'chip', text: t('flows.version', { version: f.version }) }), ' ',
      h('span', { class: 'chip', 'data-testid': 'flow-open-runs', text: f.open_runs ? plural(f.open_runs, 'flows.in_it') : t('flows.no_run') }), ' ',
      h('span', { class: 'muted small', title: dateTime(f.updated_at), text: t('flows.updated', { when: ago(f.updated_at) }) })));
    if (f.description) root.appendChild(h('p', { class: 'flow-description', text: f.description }));
    const steps = h('ol', { class: 'flow-steps', id: 'flow-steps', 'data-testid': 'flow-steps', 'data-flow': f.name, 'aria-label': t('flows.steps_label') },
      def.steps.map((s, i) => stepCard(def, s, i)));
    root.appendChild(h('div', { class: 'flow-detail' },
      h('div', { class: 'flow-main' }, h('h3', { text: plural(def.steps.length, 'flows.steps_in_order') }), steps),
      testPanel(f)));
    if (stepId) focusStep(stepId);
  }

  async function deleteFlow(f, button) {
    if (!(await confirmAction(t('flows.delete_q', { name: quoted(f.name) })))) return;
    button.disabled = true;
    try {
      await api('DELETE', flowPath(f.name));
      notify(t('flows.deleted', { name: quoted(f.name) }), 'info');
      shown = null;
      go('#flows');
    } catch (err) {
      if (err instanceof P.ApiError && err.status === 409) {
        const box = $('flow-delete-error') || h('p', { class: 'alert', id: 'flow-delete-error', role: 'alert', 'data-testid': 'flow-delete-error' });
        box.textContent = t('flows.not_deleted', { reason: err.message });
        const facts = view().querySelector('.flow-facts');
        if (facts && !box.parentNode) facts.after(box);
      } else {
        showError(t('flows.error.delete'), err);
      }
    } finally {
      button.disabled = false;
    }
  }

  // --- Test panel ------------------------------------------------------------------------------------

  function testPanel(f) {
    const replies = [];
    const kind = h('select', { id: 'flow-test-kind', 'data-testid': 'flow-test-kind' },
      Object.entries(CHANNEL_WORDS).map(([v, label]) => h('option', { value: v, text: label })));
    const hours = h('input', { type: 'checkbox', id: 'flow-test-hours', checked: true, 'data-testid': 'flow-test-hours' });
    const reset = h('button', { type: 'button', class: 'small', 'data-testid': 'flow-test-reset', text: t('flows.reset') });
    const transcript = h('ol', { class: 'messages flow-transcript', id: 'flow-transcript', 'data-testid': 'flow-transcript', 'aria-live': 'polite', 'aria-label': t('flows.test_conversation') });
    const where = h('p', { class: 'flow-where', id: 'flow-test-state', 'data-testid': 'flow-test-state', role: 'status' });
    const input = h('input', { type: 'text', id: 'flow-test-reply', 'data-testid': 'flow-test-reply', autocomplete: 'off', placeholder: t('flows.reply_placeholder'), 'aria-label': t('flows.reply_label') });
    const send = h('button', { type: 'submit', class: 'primary', 'data-testid': 'flow-test-send', text: t('flows.send') });
    const form = h('form', { class: 'flow-test-form', autocomplete: 'off' }, input, send);
    let seq = 0;
    let sendDisabled = false;

    async function run() {
      const mine = ++seq;
      send.disabled = true;
      try {
        const r = await api('POST', flowPath(f.name) + '/test', {
          replies, channel_kind: kind.value, business_hours_open: hours.checked,
        });
        if (mine !== seq) return;
        render(r);
      } catch (err) {
        if (mine === seq) showError(t('flows.error.test'), err);
      } finally {
        if (mine === seq) send.disabled = sendDisabled;
      }
    }

    function render(r) {
      clear(transcript);
      for (const line of r.transcript || []) {
        if (line.from === 'system') {
          transcript.appendChild(h('li', { class: 'flow-system', 'data-testid': 'flow-line', dataset: { from: 'system' }, text: line.text }));
          continue;
        }
        const customer = line.from === 'customer';
        transcript.appendChild(h('li', { class: 'message ' + (customer ? 'out' : 'in actor-bot'), 'data-testid': 'flow-line', dataset: { from: line.from } },
          h('div', { class: 'bubble' }, h('p', { class: 'text', text: line.text })),
          h('div', { class: 'meta' }, h('span', { text: customer ? t('flows.customer') : t('flows.bot') }))));
      }
      if (!(r.transcript || []).length) transcript.appendChild(h('li', { class: 'empty', text: t('flows.said_nothing') }));
      const ended = r.state && r.state.status && r.state.status.status === 'ended';
      where.textContent = stateWords(r.state);
      where.classList.toggle('ended', Boolean(ended));
      input.disabled = Boolean(ended);
      sendDisabled = Boolean(ended);
      send.disabled = sendDisabled;
      input.placeholder = ended ? t('flows.has_ended') : t('flows.reply_placeholder');
      transcript.scrollTop = transcript.scrollHeight;
      const fields = r.state && r.state.fields ? Object.entries(r.state.fields)
        .sort(([a], [b]) => (a.includes('.') - b.includes('.')) || (a < b ? -1 : 1)) : [];
      clear(collected);
      if (fields.length) {
        collected.appendChild(h('p', { class: 'label', text: t('flows.collected') }));
        collected.appendChild(fieldTable(fields));
      }
    }

    const collected = h('div', { class: 'flow-collected', 'data-testid': 'flow-test-fields' });

    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = input.value;
      if (!text.trim() || input.disabled) return;
      replies.push(text);
      input.value = '';
      run().then(() => input.focus());
    });
    reset.addEventListener('click', () => {
      replies.length = 0;
      run().then(() => input.focus());
    });
    kind.addEventListener('change', run);
    hours.addEventListener('change', run);
    run();

    return h('aside', { class: 'panel flow-test', 'aria-labelledby': 'flow-test-h', 'data-testid': 'flow-test' },
      h('div', { class: 'admin-head' }, h('h3', { id: 'flow-test-h', text: t('flows.try_title') }), reset),
      h('div', { class: 'flow-test-options' },
        h('label', { for: 'flow-test-kind', class: 'small muted', text: t('flows.channel_label') }), kind,
        h('label', { class: 'check' }, hours, t('flows.hours_open'))),
      h('p', { class: 'small muted', text: t('flows.try_hint') }),
      transcript, where, collected, form);
  }

  function fieldTable(entries) {
    return h('table', { class: 'kv' }, h('tbody', null, entries.map(([k, v]) => h('tr', null,
      h('th', { scope: 'row', class: 'mono', text: k }), h('td', { text: String(v) })))));
  }

  // --- Routing ------------------------------------------------------------------------------------

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  async function route() {
    const hash = location.hash.replace(/^#/, '') || 'flows';
    const [area, name, step] = hash.split('/').map((p) => decodeURIComponent(p || ''));
    try {
      if (area === 'flow' && name) await showFlow(name, step);
      else {
        shown = null;
        await showList();
      }
    } catch (err) {
      shown = null;
      if (err instanceof P.ApiError && err.status === 404) {
        clear(view()).append(h('p', { class: 'small' }, h('a', { href: '#flows', text: t('flows.all_flows') })),
          h('p', { class: 'alert', text: t('flows.no_such_flow', { name: quoted(name) }) }));
        return;
      }
      showError(t('flows.error.page'), err);
      clear(view()).appendChild(h('p', { class: 'alert', text: err && err.message ? err.message : String(err) }));
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    window.addEventListener('hashchange', route);
    route();
  });
})();
