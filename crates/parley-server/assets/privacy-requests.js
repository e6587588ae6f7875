// Privacy requests (issue 16): find a person by phone, e-mail or id, see what is held, download
// an export, restrict or lift their processing, and erase them after typing the number or
// e-mail again; then follow the erasure job to its report. Everything goes through
// /api/v1/privacy; every text from the server is put in the page as text (Parley.h).
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, notify, showError, when, t } = P;
  const BASE = '/api/v1/privacy';
  const panel = document.getElementById('panel-requests');
  const lang = document.documentElement.lang || 'en';
  const nf = new Intl.NumberFormat(lang);
  const plurals = new Intl.PluralRules(lang);
  /** The `<key>_one` or `<key>_other` text for `n`, by the page language's plural rule. */
  const plural = (n, key) => t(key + (plurals.select(Number(n) || 0) === 'one' ? '_one' : '_other'), { n: nf.format(Number(n) || 0) });
  const CONSENT = { OptedOut: 'opted_out', ImplicitlyOptedIn: 'implicit', ExplicitlyOptedIn: 'explicit', DoublyOptedIn: 'double' };
  if (!panel) return;
  const KINDS = [
    ['phone', t('erasure.kind.phone')],
    ['email', t('erasure.kind.email')],
    ['messaging_user_id', t('erasure.kind.messaging_user')],
    ['contact_id', t('erasure.kind.contact')],
  ];
  const REPORT_KEYS = ['messaging_users', 'contacts', 'contacts_blanked', 'sessions_ended', 'sessions', 'entries',
    'media_files', 'cases_scrubbed', 'consent_events', 'opt_out_proofs', 'link_clicks', 'campaign_messages',
    'flow_runs', 'web_visitors', 'notifications', 'jobs', 'delivery_errors', 'webhook_deliveries',
    'simulator_messages', 'audience_list_members'];
  let loaded = false;
  let subject = null; // { kind, value }
  const result = h('div', { class: 'privacy-result', 'data-testid': 'privacy-result' });
  const job = h('div', { class: 'privacy-job', 'data-testid': 'erasure-job', 'aria-live': 'polite' });

  function query(s) {
    return encodeURIComponent(s.kind) + '=' + encodeURIComponent(s.value);
  }

  function body(s, extra) {
    return Object.assign({ [s.kind]: s.value }, extra);
  }

  function searchForm() {
    const kind = h('select', { id: 'privacy-kind', 'data-testid': 'privacy-kind' },
      ...KINDS.map(([v, label]) => h('option', { value: v, text: label })));
    const value = h('input', { id: 'privacy-value', type: 'text', required: true, maxlength: 320, 'data-testid': 'privacy-value', placeholder: t('erasure.find_placeholder') });
    const form = h('form', { class: 'privacy-find', 'data-testid': 'privacy-find' },
      h('label', { for: 'privacy-kind', text: t('erasure.find_by') }), kind,
      h('label', { for: 'privacy-value', class: 'visually-hidden', text: t('erasure.value') }), value,
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'privacy-search' }, t('erasure.find')));
    // One toolbar row: the kind, the value, Find.
    Object.assign(form.style, { display: 'flex', gap: '8px', alignItems: 'center', flexWrap: 'wrap' });
    kind.style.width = 'auto';
    Object.assign(value.style, { width: 'auto', flex: '1 1 16em' });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      subject = { kind: kind.value, value: value.value.trim() };
      clear(job);
      lookup();
    });
    return form;
  }

  async function lookup() {
    clear(result);
    let held;
    try {
      held = await api('GET', BASE + '/subject?' + query(subject));
    } catch (e) {
      result.append(h('p', { class: 'muted', 'data-testid': 'privacy-none' }, e.status === 404 ? t('erasure.nothing_held') : t('erasure.error.lookup')));
      if (e.status !== 404) showError(t('erasure.error.lookup'), e);
      return;
    }
    showHeld(held);
  }

  function showHeld(held) {
    clear(result);
    const users = held.messaging_users || [];
    const contacts = held.contacts || [];
    if (!users.length && !contacts.length) {
      result.append(h('p', { class: 'muted', 'data-testid': 'privacy-none' }, t('erasure.nothing_held')));
      if (held.opt_out_proof) result.append(h('p', { 'data-testid': 'privacy-proof' }, t('erasure.proof_kept')));
      return;
    }
    result.append(h('h2', {}, t('erasure.held_title')));
    if (users.length) {
      const rows = users.map((u) => h('tr', { 'data-testid': 'privacy-user' },
        h('td', {}, u.channel_name),
        h('td', {}, u.platform_key),
        h('td', {}, u.name || ''),
        h('td', {}, CONSENT[u.consent_status] ? t('erasure.consent.' + CONSENT[u.consent_status]) : t('erasure.consent_none')),
        h('td', { 'data-testid': 'privacy-restricted' }, u.restricted_at ? t('erasure.restricted_since', { when: when(u.restricted_at) }) : t('erasure.not_restricted')),
        h('td', {}, [plural(u.counts.sessions, 'erasure.sessions'), plural(u.counts.entries, 'erasure.messages'),
          plural(u.counts.media, 'erasure.files')].join(', '))));
      result.append(h('table', { class: 'list' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('erasure.col.channel')), h('th', {}, t('erasure.col.key')), h('th', {}, t('erasure.col.name')),
          h('th', {}, t('erasure.col.consent')), h('th', {}, t('erasure.col.restriction')), h('th', {}, t('erasure.col.held')))),
        h('tbody', {}, ...rows)));
    }
    if (contacts.length) {
      result.append(h('ul', { class: 'privacy-contacts' }, ...contacts.map((c) => h('li', { 'data-testid': 'privacy-contact' },
        t('erasure.contact_line', {
          who: (c.first_name + ' ' + c.last_name).trim() || c.phone || c.email || c.id,
          cases: plural(c.cases, 'erasure.cases'),
        })))));
    }
    const restricted = users.some((u) => u.restricted_at);
    const exportBtn = h('button', { type: 'button', 'data-testid': 'privacy-export' }, t('erasure.export'));
    exportBtn.addEventListener('click', download);
    const restrictBtn = h('button', { type: 'button', 'data-testid': restricted ? 'privacy-lift' : 'privacy-restrict' },
      restricted ? t('erasure.lift') : t('erasure.restrict'));
    restrictBtn.addEventListener('click', () => restrict(!restricted));
    const eraseBtn = h('button', { type: 'button', class: 'danger', 'data-testid': 'privacy-erase' }, t('erasure.erase'));
    eraseBtn.addEventListener('click', confirmStep);
    result.append(h('p', { class: 'actions' }, exportBtn, ' ', restrictBtn, ' ', eraseBtn));
  }

  async function download() {
    try {
      const doc = await api('GET', BASE + '/export?' + query(subject));
      const blob = new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' });
      const a = h('a', { href: URL.createObjectURL(blob), download: 'privacy-export.json' });
      document.body.append(a);
      a.click();
      a.remove();
      notify(t('erasure.exported'), 'info');
    } catch (e) {
      showError(t('erasure.error.export'), e);
    }
  }

  async function restrict(on) {
    try {
      const r = await api('POST', BASE + '/restriction', body(subject, { restricted: on }));
      notify(plural(r.changed, on ? 'erasure.restricted' : 'erasure.lifted'), 'info');
      lookup();
    } catch (e) {
      showError(t('erasure.error.restrict'), e);
    }
  }

  /** The confirmation step: the person types the number or e-mail (or id) again. */
  function confirmStep() {
    clear(job);
    const typed = h('input', { id: 'erase-confirm', type: 'text', autocomplete: 'off', 'data-testid': 'erase-confirm' });
    const go = h('button', { type: 'submit', class: 'danger', disabled: true, 'data-testid': 'erase-go' }, t('erasure.erase_now'));
    const cancel = h('button', { type: 'button', 'data-testid': 'erase-cancel' }, t('erasure.cancel'));
    typed.addEventListener('input', () => { go.disabled = typed.value.trim() !== subject.value; });
    cancel.addEventListener('click', () => clear(job));
    const form = h('form', { class: 'erase-confirm', 'data-testid': 'erase-confirm-step' },
      h('p', { class: 'warning' }, t('erasure.warning')),
      h('label', { for: 'erase-confirm', text: t('erasure.type_to_confirm', { value: subject.value }) }), ' ', typed, ' ', go, ' ', cancel);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (typed.value.trim() !== subject.value) return;
      go.disabled = true;
      try {
        const started = await api('POST', BASE + '/erasures', body(subject, { confirm: true }));
        follow(started.id);
      } catch (e) {
        go.disabled = false;
        showError(t('erasure.error.erase'), e);
      }
    });
    job.append(form);
    typed.focus();
  }

  /** Polls the erasure job until it is done or failed, then shows its report. */
  async function follow(id) {
    clear(job);
    const status = h('p', { 'data-testid': 'erasure-status' }, t('erasure.running'));
    job.append(status);
    for (let i = 0; i < 600; i++) {
      let r;
      try {
        r = await api('GET', BASE + '/erasures/' + encodeURIComponent(id));
      } catch (e) {
        showError(t('erasure.error.job'), e);
        return;
      }
      if (r.status !== 'running') {
        showReport(r);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  function showReport(r) {
    clear(job);
    job.append(h('p', { 'data-testid': 'erasure-status', 'data-status': r.status },
      r.status === 'done' ? t('erasure.done') : t('erasure.failed', { reason: r.error || '' })));
    const rows = REPORT_KEYS.filter((k) => r.report && r.report[k]).map((k) =>
      h('tr', { 'data-testid': 'erasure-row', 'data-key': k }, h('th', { scope: 'row' }, t('erasure.report.' + k)), h('td', {}, String(r.report[k]))));
    job.append(rows.length
      ? h('table', { class: 'list erasure-report', 'data-testid': 'erasure-report' }, h('tbody', {}, ...rows))
      : h('p', { class: 'muted' }, t('erasure.report_empty')));
    clear(result);
  }

  function load() {
    if (loaded) return;
    loaded = true;
    panel.append(h('p', { class: 'muted' }, t('erasure.intro')), searchForm(), result, job);
  }

  document.addEventListener('privacy:tab', (e) => { if (e.detail === 'requests') load(); });
  // privacy.js may have opened this tab before this script listened.
  if (!panel.hidden) load();
})();
