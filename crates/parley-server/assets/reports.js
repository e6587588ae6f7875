// The Reports page (issue 15): a report picked from seven tabs, its filters, its chart drawn on
// the server (/console/reports/{kind}/chart.svg, an <img>: nothing of it runs or is parsed here)
// and its figures in a table beside it, formatted in the agent's language. The report and its
// filters live in the address, so a link opens the same view; the CSV link exports the same rows.
'use strict';

(function () {
  const P = window.Parley;
  const { t, api, items, h, clear, $ } = P;

  const lang = document.documentElement.lang || 'en';
  const numFmt = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });
  const pctFmt = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 });
  const secFmt = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  const dayFmt = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

  const KINDS = ['sessions', 'session_times', 'consent', 'delivery_errors', 'campaigns', 'bots', 'agent_activity'];
  // The groupings each report accepts, its default first (parley_core::reports::ReportKind::
  // dimensions; the API refuses the others). The default is sent as no grouping at all.
  const GROUPS = {
    sessions: ['day', 'channel', 'channel_kind', 'queue', 'agent', 'status', 'context'],
    session_times: ['day', 'channel', 'channel_kind', 'queue', 'agent', 'context'],
    consent: ['channel', 'day', 'channel_kind', 'source'],
    delivery_errors: ['error_code', 'day', 'channel', 'channel_kind', 'provider_code'],
    campaigns: [],
    bots: ['day', 'channel', 'channel_kind', 'queue', 'context'],
    agent_activity: ['agent', 'day'],
  };
  const FILTERS = ['from', 'to', 'channel_id', 'queue_id', 'agent_id', 'context', 'group_by'];

  const tabs = [...document.querySelectorAll('#rp-kinds [role="tab"]')];
  const form = $('rp-filters');
  const status = $('rp-status');
  const body = $('rp-body');
  const result = $('rp-result');
  const chart = $('rp-chart');
  let kind = 'sessions';
  let loading = 0;

  // --- Days ---------------------------------------------------------------------------------

  const iso = (d) => d.toISOString().slice(0, 10);
  function todayUtc() {
    const now = new Date();
    return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  }

  /** The first and last day of a preset, both included. */
  function presetRange(preset) {
    const to = todayUtc();
    const from = new Date(to);
    if (preset === '7') from.setUTCDate(from.getUTCDate() - 6);
    else if (preset === 'month') from.setUTCDate(1);
    else if (preset === 'year') from.setUTCMonth(0, 1);
    else from.setUTCDate(from.getUTCDate() - 29);
    return { from: iso(from), to: iso(to) };
  }

  /** Which preset a range is, if any ('custom' otherwise). */
  function presetOf(from, to) {
    for (const p of ['7', '30', 'month', 'year']) {
      const r = presetRange(p);
      if (r.from === from && r.to === to) return p;
    }
    return 'custom';
  }

  // --- The address ---------------------------------------------------------------------------

  function query() {
    const q = new URLSearchParams();
    for (const name of FILTERS) {
      const el = form.elements[name];
      if (el && el.value) q.set(name, el.value);
    }
    return q;
  }

  function readAddress() {
    const q = new URLSearchParams(location.search);
    const asked = q.get('report');
    kind = KINDS.includes(asked) ? asked : 'sessions';
    const def = presetRange('30');
    form.elements.from.value = q.get('from') || def.from;
    form.elements.to.value = q.get('to') || def.to;
    form.elements.preset.value = presetOf(form.elements.from.value, form.elements.to.value);
    for (const name of ['channel_id', 'queue_id', 'agent_id', 'context']) {
      const el = form.elements[name];
      const v = q.get(name) || '';
      // A value not (yet) among the options is kept as an option of its own, so a shared link
      // never silently drops a filter.
      if (v && ![...el.options].some((o) => o.value === v)) el.appendChild(h('option', { value: v, text: v }));
      el.value = v;
    }
    fillGroups(q.get('group_by') || '');
  }

  function writeAddress() {
    const q = query();
    q.set('report', kind);
    const next = location.pathname + '?' + q.toString();
    if (next !== location.pathname + location.search) history.replaceState(null, '', next);
  }

  // --- Pickers -------------------------------------------------------------------------------

  function fillGroups(value) {
    const el = form.elements.group_by;
    const groups = GROUPS[kind];
    clear(el);
    if (!groups.length) el.appendChild(h('option', { value: '', text: t('reports.default_group') }));
    groups.forEach((g, i) => el.appendChild(h('option', { value: i === 0 ? '' : g, text: t('reports.dim.' + g) })));
    el.value = groups.includes(value) && value !== groups[0] ? value : '';
    el.disabled = groups.length === 0;
  }

  /** Channel, queue and agent selects with names (the ids go in the address). */
  async function loadPickers() {
    const lists = [
      ['channel_id', '/api/v1/channels?limit=500'],
      ['queue_id', '/api/v1/queues?limit=500'],
      ['agent_id', '/api/v1/agents?limit=500'],
    ];
    await Promise.all(lists.map(async ([name, path]) => {
      let found = [];
      try {
        found = items(await api('GET', path));
      } catch (err) {
        P.showError(t('reports.load_failed'), err);
        return;
      }
      const el = form.elements[name];
      const keep = el.value;
      const first = el.options[0];
      clear(el);
      el.appendChild(first);
      found.sort((a, b) => String(a.name).localeCompare(String(b.name), lang));
      for (const x of found) el.appendChild(h('option', { value: x.id, text: x.name }));
      if (keep && ![...el.options].some((o) => o.value === keep)) el.appendChild(h('option', { value: keep, text: keep }));
      el.value = keep;
    }));
  }

  // --- Figures -------------------------------------------------------------------------------

  const numeric = (col) => ['count', 'duration_ms', 'ratio', 'number'].includes(col.kind);

  function duration(ms) {
    if (ms > 0 && ms < 1000) return t('common.seconds', { n: secFmt.format(ms / 1000) });
    return P.duration(ms);
  }

  /** One cell in the agent's language, by its column's kind. */
  function cellText(col, v) {
    // A figure with nothing to measure (a mean of no sessions) is a dash; a missing name is words.
    if ((v === null || v === undefined) && numeric(col)) return '–';
    if (v === null || v === undefined) return t('reports.none');
    switch (col.kind) {
      case 'date': {
        const d = new Date(String(v) + 'T00:00:00Z');
        return Number.isNaN(d.getTime()) ? String(v) : dayFmt.format(d);
      }
      case 'count': return typeof v === 'number' ? P.number(Math.round(v)) : String(v);
      case 'duration_ms': return typeof v === 'number' ? duration(v) : String(v);
      case 'ratio': return typeof v === 'number' ? pctFmt.format(v) : String(v);
      case 'number': return typeof v === 'number' ? numFmt.format(v) : String(v);
      default: return String(v);
    }
  }

  function columnName(key) {
    const k = 'reports.col.' + key;
    const text = t(k);
    return text === k ? key.replace(/_/g, ' ') : text;
  }

  function drawTable(report) {
    const table = $('rp-table');
    const head = table.tHead;
    const rows = table.tBodies[0];
    clear(head);
    clear(rows);
    head.appendChild(h('tr', null, report.columns.map((c) => h('th', {
      scope: 'col', class: numeric(c) ? 'num' : null, dataset: { key: c.key }, text: columnName(c.key),
    }))));
    for (const row of report.rows) {
      rows.appendChild(h('tr', { 'data-testid': 'rp-row' }, report.columns.map((c, i) => h('td', {
        class: numeric(c) ? 'num' : null, dataset: { key: c.key }, text: cellText(c, row[i]),
        title: c.kind === 'label' && row[i] ? String(row[i]) : null,
      }))));
    }
    $('rp-caption').textContent = t('reports.table_caption', {
      report: t('reports.kind.' + kind),
      from: cellText({ kind: 'date' }, form.elements.from.value),
      to: cellText({ kind: 'date' }, form.elements.to.value),
    });
  }

  function setStatus(text, state) {
    status.textContent = text;
    status.dataset.state = state;
    status.hidden = !text;
  }

  /** Loads the chosen report: the table from the API, the chart from the console route. */
  async function load() {
    const mine = ++loading;
    writeAddress();
    const q = query();
    const path = encodeURIComponent(kind);
    $('rp-name').textContent = t('reports.kind.' + kind);
    $('rp-explain').textContent = t('reports.explain.' + kind);
    $('rp-csv').setAttribute('href', '/api/v1/reports/' + path + '/export.csv?' + q.toString());
    $('rp-csv').setAttribute('download', kind + '-' + form.elements.from.value + '-' + form.elements.to.value + '.csv');
    result.setAttribute('aria-busy', 'true');
    setStatus(t('reports.loading'), 'loading');
    let report;
    try {
      report = await api('GET', '/api/v1/reports/' + path + '?' + q.toString());
    } catch (err) {
      if (mine !== loading) return;
      result.setAttribute('aria-busy', 'false');
      body.hidden = true;
      setStatus(t('reports.load_failed') + ': ' + err.message, 'error');
      return;
    }
    if (mine !== loading) return;
    const rows = report && Array.isArray(report.rows) ? report.rows : [];
    const columns = report && Array.isArray(report.columns) ? report.columns : [];
    drawTable({ columns, rows });
    // A report of many figures gets the whole width for its table, under the chart.
    body.classList.toggle('rp-wide', columns.length > 5);
    result.setAttribute('aria-busy', 'false');
    result.dataset.kind = kind;
    result.dataset.rows = String(rows.length);
    if (!rows.length) {
      body.hidden = true;
      setStatus(t('reports.empty'), 'empty');
      return;
    }
    chart.alt = t('reports.chart_alt', { report: t('reports.kind.' + kind), n: P.number(rows.length) });
    const src = '/console/reports/' + path + '/chart.svg?' + q.toString();
    await new Promise((resolve) => {
      chart.onload = resolve;
      chart.onerror = resolve;
      chart.src = src;
    });
    if (mine !== loading) return;
    body.hidden = false;
    setStatus('', 'ready');
  }

  // --- Wiring --------------------------------------------------------------------------------

  function select(next, focus) {
    kind = next;
    for (const tab of tabs) {
      const on = tab.dataset.kind === kind;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      if (on && focus) tab.focus();
    }
    fillGroups(form.elements.group_by.value);
    load();
  }

  for (const tab of tabs) {
    tab.addEventListener('click', () => select(tab.dataset.kind, false));
    tab.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(tab);
      let j = null;
      if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
      else if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
      else if (e.key === 'Home') j = 0;
      else if (e.key === 'End') j = tabs.length - 1;
      if (j === null) return;
      e.preventDefault();
      select(tabs[j].dataset.kind, true);
    });
  }

  form.elements.preset.addEventListener('change', () => {
    const p = form.elements.preset.value;
    if (p === 'custom') {
      form.elements.from.focus();
      return;
    }
    const r = presetRange(p);
    form.elements.from.value = r.from;
    form.elements.to.value = r.to;
    load();
  });
  for (const name of ['from', 'to']) {
    form.elements[name].addEventListener('change', () => {
      form.elements.preset.value = presetOf(form.elements.from.value, form.elements.to.value);
      if (form.elements[name].checkValidity()) load();
    });
  }
  for (const name of ['channel_id', 'queue_id', 'agent_id', 'context', 'group_by']) {
    form.elements[name].addEventListener('change', () => load());
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  $('rp-reset').addEventListener('click', () => {
    const r = presetRange('30');
    form.elements.preset.value = '30';
    form.elements.from.value = r.from;
    form.elements.to.value = r.to;
    for (const name of ['channel_id', 'queue_id', 'agent_id', 'context', 'group_by']) form.elements[name].value = '';
    load();
  });
  $('rp-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      P.notify(t('reports.link_copied'), 'info');
    } catch (_) {
      P.notify(location.href, 'info');
    }
  });

  readAddress();
  for (const tab of tabs) {
    const on = tab.dataset.kind === kind;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
  }
  loadPickers().finally(load);
})();
