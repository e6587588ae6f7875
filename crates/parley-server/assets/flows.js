// Flows area (admins): the list of bots and journeys, a flow read as its steps and branches, a test
// panel that plays the customer, and Import, Export and Delete. Everything goes through the JSON
// API under /api/v1/flows; names are shown instead of ids, dates in words, and every text from the
// server or a flow file is put in the page as text (Parley.h), never as markup.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items } = P;

  const view = () => $('flow-view');
  const nf = new Intl.NumberFormat('en');
  const num = (n) => nf.format(Number(n) || 0);
  const plural = (n, one, many) => num(n) + ' ' + (Number(n) === 1 ? one : many);

  const KIND_WORDS = {
    send: 'Send', ask: 'Ask', set: 'Set field', branch: 'Branch', webhook: 'Call webhook',
    handoff: 'Hand off', start_flow: 'Start flow', end: 'End',
  };
  const CONTEXT_WORDS = { service: 'Service bot', marketing: 'Marketing journey' };
  const CHANNEL_WORDS = { sms: 'SMS', whatsapp: 'WhatsApp', messenger: 'Messenger', web: 'Web chat' };
  const END_WORDS = {
    completed: 'Ended: the flow completed',
    handed_off: 'Ended: handed off to people',
    continued: 'Ended: another flow took over',
    failed: 'Ended: the flow failed',
    looped: 'Ended: too many steps without waiting (a loop)',
    stopped: 'Ended: stopped from outside',
  };
  const OPS = {
    eq: 'is', ne: 'is not', contains: 'contains', gt: 'is more than', lt: 'is less than',
    present: 'has a value', absent: 'is empty',
  };

  // --- Words -----------------------------------------------------------------------------------

  /** "just now", "5 minutes ago", "2 hours ago", "yesterday", "3 days ago", else the date. */
  function ago(iso) {
    if (!iso) return '';
    const t = new Date(iso).getTime();
    if (Number.isNaN(t)) return '';
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 45) return 'just now';
    if (s < 86400 * 2 && s >= 86400) return 'yesterday';
    if (s < 86400 * 7) return inWords(s) + ' ago';
    return new Date(iso).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
  }

  function inWords(s) {
    if (s < 5400) return plural(Math.max(1, Math.round(s / 60)), 'minute', 'minutes');
    if (s < 86400) return plural(Math.round(s / 3600), 'hour', 'hours');
    return plural(Math.round(s / 86400), 'day', 'days');
  }

  function dateTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    return d.toLocaleString(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  }

  /** "10 minutes", "1 hour 30 minutes", "2 days": a timeout as people say it. */
  function seconds(s) {
    const n = Number(s) || 0;
    if (n < 60) return plural(n, 'second', 'seconds');
    if (n < 3600) return plural(Math.round(n / 60), 'minute', 'minutes');
    if (n < 86400) {
      const hrs = Math.floor(n / 3600);
      const min = Math.round((n % 3600) / 60);
      return plural(hrs, 'hour', 'hours') + (min ? ' ' + plural(min, 'minute', 'minutes') : '');
    }
    return plural(Math.round(n / 86400), 'day', 'days');
  }

  const quoted = (w) => '“' + w + '”';
  const orList = (words) => words.map(quoted).join(' or ');

  function matcherWords(m, options) {
    switch (m && m.type) {
      case 'keyword': return 'the reply is ' + orList(m.words || []);
      case 'any_word': return 'the reply contains ' + orList(m.words || []);
      case 'option': {
        const o = (options || []).find((x) => x.id === m.option);
        return 'the customer picks ' + quoted(o ? o.title : m.option);
      }
      case 'number': return 'the reply is a number';
      case 'number_between': return 'the reply is a number from ' + m.min + ' to ' + m.max;
      case 'date': return 'the reply is a date';
      case 'email': return 'the reply is an e-mail address';
      case 'phone': return 'the reply is a phone number';
      case 'regex': return ['the reply matches the pattern ', h('code', { class: 'mono', text: m.pattern })];
      case 'any': return 'any reply';
      default: return 'the reply matches ' + JSON.stringify(m);
    }
  }

  function conditionWords(c) {
    switch (c && c.type) {
      case 'field': return c.field + ' ' + (OPS[c.op] || c.op) + (c.value !== undefined && c.value !== null ? ' ' + quoted(c.value) : '');
      case 'business_hours': return c.open === false ? 'outside business hours' : 'during business hours';
      case 'channel': return 'the channel is ' + (CHANNEL_WORDS[c.kind] || c.kind);
      case 'language': return 'the customer’s language is ' + c.language;
      case 'context': return 'the conversation is ' + (c.context === 'marketing' ? 'a marketing journey' : 'a service conversation');
      case 'all': return (c.conditions || []).map(conditionWords).join(' and ');
      case 'any_of': return (c.conditions || []).map(conditionWords).join(' or ');
      default: return JSON.stringify(c);
    }
  }

  function stateWords(st) {
    const status = st && st.status ? st.status : {};
    const at = st && st.step ? st.step : '';
    switch (status.status) {
      case 'waiting_reply': return 'Waiting for the customer’s reply at step ' + quoted(at);
      case 'waiting_webhook': return 'Waiting for the webhook at step ' + quoted(at);
      case 'ended': return (END_WORDS[status.how] || 'Ended') + (at ? ' (at step ' + quoted(at) + ')' : '');
      default: return 'Ready at step ' + quoted(at);
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
      throw new P.ApiError(0, 'network', 'The server could not be reached. Check the connection and try again.');
    }
    let data = null;
    try { data = JSON.parse(await res.text()); } catch (_) { data = null; }
    if (!res.ok) {
      const err = data && typeof data.error === 'object' && data.error ? data.error : data || {};
      throw new P.ApiError(res.status, String(err.code || 'http_' + res.status), String(err.message || 'The flow was not imported.'));
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
    const parts = text.split(/;\s+(?=step "|name |the flow |steps )/);
    return h('ul', { class: 'flow-issues' }, parts.map((p) => {
      const m = /^step "([^"]*)":\s*(.*)$/s.exec(p);
      return m
        ? h('li', null, 'Step ', h('strong', { class: 'mono', text: m[1] }), ': ' + m[2])
        : h('li', { text: p });
    }));
  }

  function importPanel() {
    const text = h('textarea', {
      id: 'flow-import-text', rows: '10', spellcheck: 'false', class: 'mono', 'data-testid': 'flow-import-text',
      placeholder: 'name: order-status\nsteps:\n  - id: welcome\n    type: send\n    message: { text: "Hi!" }',
    });
    const file = h('input', { type: 'file', id: 'flow-import-file', accept: '.yaml,.yml,.json,application/json,application/yaml', 'data-testid': 'flow-import-file' });
    const result = h('div', { id: 'flow-import-result', 'data-testid': 'flow-import-result', 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'flow-import-submit', text: 'Import' });
    const cancel = h('button', { type: 'button', text: 'Cancel', onclick: () => { panel.hidden = true; $('flow-import-open').focus(); } });
    let fileName = '';
    file.addEventListener('change', async () => {
      const f = file.files && file.files[0];
      if (!f) return;
      fileName = f.name;
      text.value = await f.text();
      clear(result);
    });
    const form = h('form', { class: 'flow-import-form', 'data-testid': 'flow-import' },
      h('div', { class: 'field' }, h('label', { for: 'flow-import-text', text: 'Paste a flow (YAML or JSON)' }), text),
      h('div', { class: 'cmp-row' }, h('label', { for: 'flow-import-file', class: 'small muted', text: 'or pick a file' }), file),
      result,
      h('div', { class: 'form-actions' }, submit, cancel));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = text.value;
      clear(result);
      if (!body.trim()) {
        result.appendChild(h('p', { class: 'alert', role: 'alert', text: 'Paste a flow or pick a file first.' }));
        return;
      }
      submit.disabled = true;
      try {
        const { status, flow } = await postDefinition(body, typeOf(body, fileName));
        const what = status === 201 ? 'Imported “' + flow.name + '”.'
          : 'Saved “' + flow.name + '” (version ' + flow.version + ').';
        notify(what, 'info');
        go('#flow/' + encodeURIComponent(flow.name));
      } catch (err) {
        if (err instanceof P.ApiError && (err.status === 422 || err.status === 400)) {
          result.appendChild(h('div', { class: 'alert', role: 'alert', 'data-testid': 'flow-import-error' },
            h('strong', { text: 'This flow was not imported.' }), issueList(err.message)));
        } else {
          showError('The flow was not imported', err);
        }
      } finally {
        submit.disabled = false;
      }
    });
    const panel = h('section', { class: 'panel flow-import', id: 'flow-import-panel', hidden: true },
      h('h3', { text: 'Import a flow' }),
      h('p', { class: 'small muted' }, 'The same file ', h('code', { text: 'parley apply' }), ' takes. A flow with an existing name becomes its new version; conversations already in it finish on theirs.'),
      form);
    return panel;
  }

  // --- List ------------------------------------------------------------------------------------------

  async function showList() {
    const data = items(await api('GET', '/api/v1/flows'));
    const root = clear(view());
    const imp = importPanel();
    const open = h('button', {
      type: 'button', class: 'primary', id: 'flow-import-open', 'data-testid': 'flow-import-open', text: 'Import a flow',
      onclick: () => { imp.hidden = false; $('flow-import-text').focus(); },
    });
    root.appendChild(head('Flows', open));
    root.appendChild(h('p', { class: 'muted', text: 'Bots that answer on a channel and marketing journeys: each a versioned list of steps. Open one to read it as steps and try it as the customer.' }));
    root.appendChild(imp);
    if (!data.length) {
      root.appendChild(h('p', { class: 'empty', 'data-testid': 'flow-list-empty', text: 'No flows yet. Import one (a YAML or JSON file), then name it in a channel’s settings as its bot.' }));
      return;
    }
    data.sort((a, b) => a.name.localeCompare(b.name));
    const rows = data.map((f) => h('tr', { dataset: { name: f.name } },
      h('td', null, h('a', { href: '#flow/' + encodeURIComponent(f.name), class: 'flow-link', text: f.name }),
        f.description ? h('div', { class: 'small muted flow-desc', text: f.description }) : null),
      h('td', null, h('span', { class: 'chip flow-context context-' + f.context, text: CONTEXT_WORDS[f.context] || f.context })),
      h('td', { class: 'num', text: String(f.version) }),
      h('td', { class: 'num', text: num(f.steps) }),
      h('td', { class: 'num' + (f.open_runs ? '' : ' muted'), text: f.open_runs ? plural(f.open_runs, 'conversation', 'conversations') + ' in it now' : 'none' }),
      h('td', { text: ago(f.updated_at), title: dateTime(f.updated_at) })));
    const list = h('table', { class: 'grid flow-list', 'data-testid': 'flow-list' },
      h('thead', null, h('tr', null,
        h('th', { text: 'Flow' }), h('th', { text: 'Kind' }), h('th', { class: 'num', text: 'Version' }),
        h('th', { class: 'num', text: 'Steps' }), h('th', { class: 'num', text: 'In it now' }), h('th', { text: 'Updated' }))),
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
    root.appendChild(h('p', { class: 'hint', text: 'Keys: ↑/↓ move between flows, Enter opens one.' }));
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
      const t = msg.template;
      box.appendChild(h('p', { class: 'text' }, 'Template ', h('strong', { text: t.name }), ' (' + t.language + ')',
        t.parameters && t.parameters.length ? ' with ' + t.parameters.map(quoted).join(', ') : ''));
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
      h('span', { class: 'visually-hidden', text: ' goes to ' }),
      next ? stepLink(name, next) : h('span', { class: 'muted', text: 'the flow ends' }));
  }

  function thenLine(name, next, isLast, nextInOrder) {
    if (next) return h('p', { class: 'flow-then' }, 'Then ', stepLink(name, next));
    if (isLast) return h('p', { class: 'flow-then muted', text: 'Then the flow ends.' });
    return h('p', { class: 'flow-then muted' }, 'Then the next step, ', stepLink(name, nextInOrder));
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
        if (step.save_as) body.push(h('p', { class: 'small' }, 'Saves the answer as ', h('span', { class: 'mono', text: 'flow.' + step.save_as })));
        const options = step.message && step.message.component && step.message.component.options;
        const cases = (step.cases || []).map((c) => branchLine(name, ['If ', matcherWords(c.when, options)], c.next));
        if (step.timeout) {
          cases.push(branchLine(name, 'If there is no reply within ' + seconds(step.timeout.after_seconds), step.timeout.next, 'flow-timeout'));
        }
        body.push(h('ul', { class: 'flow-cases' }, cases));
        const tries = def.max_invalid || 3;
        const invalid = h('div', { class: 'flow-invalid', 'data-testid': 'flow-invalid' },
          h('p', { class: 'small' }, 'If the reply is not understood: ',
            step.invalid ? 'says the message below and asks again' : 'asks again',
            ', up to ' + plural(tries, 'time', 'times') + ', then ',
            step.other ? stepLink(name, step.other) : h('span', { text: 'the flow ends' }), '.'),
          messageBox(step.invalid, 'Not understood'));
        body.push(invalid);
        break;
      }
      case 'set':
        body.push(h('p', null, 'Sets ', h('span', { class: 'mono', text: step.field.scope + '.' + step.field.name }), ' to ', h('span', { class: 'mono', text: quoted(step.value) })),
          thenLine(name, step.next, isLast, nextInOrder));
        break;
      case 'branch': {
        const lines = (step.cases || []).map((c) => branchLine(name, 'If ' + conditionWords(c.when), c.next));
        lines.push(step.otherwise
          ? branchLine(name, 'Otherwise', step.otherwise)
          : isLast ? branchLine(name, 'Otherwise', null) : branchLine(name, 'Otherwise the next step', nextInOrder));
        body.push(h('ul', { class: 'flow-cases' }, lines));
        break;
      }
      case 'webhook':
        body.push(h('p', { class: 'flow-url' }, h('span', { class: 'chip', text: step.method || 'POST' }), ' ', h('span', { class: 'mono', text: step.url })),
          h('p', { class: 'small muted', text: 'Signed with the flow secret; waits ' + ((step.timeout_ms || 5000) / 1000) + ' s, ' + plural(step.retries === undefined ? 2 : step.retries, 'retry', 'retries') + '.' }),
          step.save_as ? h('p', { class: 'small' }, 'Saves the answer as ', h('span', { class: 'mono', text: 'webhook.*' }), ' and ', h('span', { class: 'mono', text: 'flow.' + step.save_as + '.*' })) : null,
          h('ul', { class: 'flow-cases' },
            step.next ? branchLine(name, 'If it answers', step.next)
              : isLast ? branchLine(name, 'If it answers', null) : branchLine(name, 'If it answers, the next step', nextInOrder),
            branchLine(name, 'If it fails (an error, no answer in time)', step.on_error, 'flow-on-error')));
        break;
      case 'handoff': {
        const to = [];
        if (step.queue) to.push(h('span', null, 'the queue ', h('strong', { text: step.queue })));
        if (step.skills && step.skills.length) to.push(h('span', null, 'agents with ', h('strong', { text: step.skills.join(', ') })));
        if (step.agent) to.push(h('span', null, 'the agent ', h('strong', { text: step.agent })));
        body.push(messageBox(step.message),
          h('p', null, 'Hands the conversation to ', to.length ? to.flatMap((x, i) => (i ? [', ', x] : [x])) : 'people', ', with what the flow collected.'));
        break;
      }
      case 'start_flow':
        body.push(h('p', null, 'Starts the flow ', h('a', { href: '#flow/' + encodeURIComponent(step.flow), class: 'mono', text: step.flow }), ' with the fields so far.'));
        break;
      case 'end':
        body.push(messageBox(step.message), h('p', { class: 'flow-then muted', text: step.end_session ? 'Ends the flow and the session.' : 'Ends the flow; the session stays open.' }));
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
    const exportLink = h('a', { class: 'button', href: flowPath(f.name) + '/export', download: f.name + '.yaml', 'data-testid': 'flow-export', text: 'Export YAML' });
    const del = h('button', { type: 'button', class: 'danger', 'data-testid': 'flow-delete', text: 'Delete…' });
    del.addEventListener('click', () => deleteFlow(f, del));
    root.appendChild(h('p', { class: 'small' }, h('a', { href: '#flows', text: '← All flows' })));
    root.appendChild(head(f.name, exportLink, del));
    root.appendChild(h('p', { class: 'flow-facts' },
      h('span', { class: 'chip flow-context context-' + f.context, text: CONTEXT_WORDS[f.context] || f.context }), ' ',
      h('span', { class: 'chip', text: 'version ' + f.version }), ' ',
      h('span', { class: 'chip', 'data-testid': 'flow-open-runs', text: f.open_runs ? plural(f.open_runs, 'conversation', 'conversations') + ' in it now' : 'no conversation in it now' }), ' ',
      h('span', { class: 'muted small', title: dateTime(f.updated_at), text: 'updated ' + ago(f.updated_at) })));
    if (f.description) root.appendChild(h('p', { class: 'flow-description', text: f.description }));
    const steps = h('ol', { class: 'flow-steps', id: 'flow-steps', 'data-testid': 'flow-steps', 'data-flow': f.name, 'aria-label': 'Steps' },
      def.steps.map((s, i) => stepCard(def, s, i)));
    root.appendChild(h('div', { class: 'flow-detail' },
      h('div', { class: 'flow-main' }, h('h3', { text: plural(def.steps.length, 'step', 'steps') + ', in order' }), steps),
      testPanel(f)));
    if (stepId) focusStep(stepId);
  }

  async function deleteFlow(f, button) {
    if (!(await confirmAction('Delete the flow “' + f.name + '”? Channels or other flows that name it stop finding it.'))) return;
    button.disabled = true;
    try {
      await api('DELETE', flowPath(f.name));
      notify('Deleted “' + f.name + '”.', 'info');
      shown = null;
      go('#flows');
    } catch (err) {
      if (err instanceof P.ApiError && err.status === 409) {
        const box = $('flow-delete-error') || h('p', { class: 'alert', id: 'flow-delete-error', role: 'alert', 'data-testid': 'flow-delete-error' });
        box.textContent = 'Not deleted: ' + err.message;
        const facts = view().querySelector('.flow-facts');
        if (facts && !box.parentNode) facts.after(box);
      } else {
        showError('The flow was not deleted', err);
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
    const reset = h('button', { type: 'button', class: 'small', 'data-testid': 'flow-test-reset', text: 'Reset' });
    const transcript = h('ol', { class: 'messages flow-transcript', id: 'flow-transcript', 'data-testid': 'flow-transcript', 'aria-live': 'polite', 'aria-label': 'Test conversation' });
    const where = h('p', { class: 'flow-where', id: 'flow-test-state', 'data-testid': 'flow-test-state', role: 'status' });
    const input = h('input', { type: 'text', id: 'flow-test-reply', 'data-testid': 'flow-test-reply', autocomplete: 'off', placeholder: 'Reply as the customer', 'aria-label': 'The customer’s reply' });
    const send = h('button', { type: 'submit', class: 'primary', 'data-testid': 'flow-test-send', text: 'Send' });
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
        if (mine === seq) showError('The test did not run', err);
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
          h('div', { class: 'meta' }, h('span', { text: customer ? 'Customer' : 'Bot' }))));
      }
      if (!(r.transcript || []).length) transcript.appendChild(h('li', { class: 'empty', text: 'The flow said nothing yet.' }));
      const ended = r.state && r.state.status && r.state.status.status === 'ended';
      where.textContent = stateWords(r.state);
      where.classList.toggle('ended', Boolean(ended));
      input.disabled = Boolean(ended);
      sendDisabled = Boolean(ended);
      send.disabled = sendDisabled;
      input.placeholder = ended ? 'The flow has ended' : 'Reply as the customer';
      transcript.scrollTop = transcript.scrollHeight;
      const fields = r.state && r.state.fields ? Object.entries(r.state.fields)
        .sort(([a], [b]) => (a.includes('.') - b.includes('.')) || (a < b ? -1 : 1)) : [];
      clear(collected);
      if (fields.length) {
        collected.appendChild(h('p', { class: 'label', text: 'Collected' }));
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
      h('div', { class: 'admin-head' }, h('h3', { id: 'flow-test-h', text: 'Try it as the customer' }), reset),
      h('div', { class: 'flow-test-options' },
        h('label', { for: 'flow-test-kind', class: 'small muted', text: 'Channel' }), kind,
        h('label', { class: 'check' }, hours, 'Business hours open')),
      h('p', { class: 'small muted', text: 'Nothing is sent to anyone and nothing is saved. Webhooks are called for real, so you see what your service answers.' }),
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
        clear(view()).append(h('p', { class: 'small' }, h('a', { href: '#flows', text: '← All flows' })),
          h('p', { class: 'alert', text: 'There is no flow named “' + name + '”.' }));
        return;
      }
      showError('This page could not be shown', err);
      clear(view()).appendChild(h('p', { class: 'alert', text: err && err.message ? err.message : String(err) }));
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    window.addEventListener('hashchange', route);
    route();
  });
})();
