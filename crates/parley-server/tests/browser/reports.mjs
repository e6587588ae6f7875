// The Reports page in a real browser (issue 15; Debian's Chromium, driven by playwright-core): a
// supervisor opens Reports from the navigation, sees sessions by day, groups them by channel
// (a channel named with markup stays text in the table and escaped in the chart), checks that the
// chart drawn on the server and the table carry the same figures, filters by channel and finds
// the filters kept in the address after a reload, moves between the seven reports with the
// keyboard and the mouse, picks a period without data (the empty state in words) and downloads
// the CSV of what is shown.
//
// Run by hand: `node reports.mjs --url=http://127.0.0.1:8080 --user=email:password
//   --expect='{"Desk SMS":3,"Promo & <Shop>":1}' [--shots=/tmp/shots]`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const user = credentials(args.user);
needs(url && user && args.expect, 'reports.mjs', '--url, --user=email:password and --expect are required.');
// Sessions per channel name, as the test created them.
const expected = JSON.parse(args.expect);
const total = Object.values(expected).reduce((a, b) => a + b, 0);

const scenario = new Scenario('reports');
const step = (name, fn) => scenario.stage(name, fn);
let page = null;
const snap = (name) => scenario.shot(name, page);

const KINDS = ['sessions', 'session_times', 'consent', 'delivery_errors', 'campaigns', 'bots', 'agent_activity'];

/** Waits until the report `kind` has loaded (chart shown, or the empty state). */
async function settled(kind) {
  await page.waitForFunction((k) => {
    const r = document.querySelector('[data-testid="rp-result"]');
    const s = document.querySelector('[data-testid="rp-status"]');
    return r && r.dataset.kind === k && r.getAttribute('aria-busy') === 'false'
      && s && (s.dataset.state === 'ready' || s.dataset.state === 'empty' || s.dataset.state === 'error');
  }, kind);
  const state = await page.getAttribute('[data-testid="rp-status"]', 'data-state');
  if (state === 'error') throw new Error(kind + ': ' + (await page.textContent('[data-testid="rp-status"]')));
  return state;
}

/** The table as {header: [..], rows: [[..]]}, as the person reads it. */
async function table() {
  return page.evaluate(() => {
    const t = document.querySelector('[data-testid="rp-table"]');
    return {
      keys: [...t.tHead.querySelectorAll('th')].map((th) => th.dataset.key),
      header: [...t.tHead.querySelectorAll('th')].map((th) => th.textContent),
      rows: [...t.tBodies[0].rows].map((tr) => [...tr.cells].map((td) => td.textContent)),
    };
  });
}

/** The chart's SVG as the server drew it for the image on the page. */
async function chartSvg() {
  return page.evaluate(async () => {
    const img = document.querySelector('[data-testid="rp-chart"]');
    if (!img.complete || img.naturalWidth === 0) throw new Error('the chart image did not load');
    const r = await fetch(img.src, { credentials: 'same-origin' });
    return r.text();
  });
}

const escapeXml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const number = (s) => Number(String(s).replace(/[^\d.-]/g, ''));

async function main() {
  page = await scenario.page();

  await step('supervisor opens Reports from the navigation: sessions by day', async () => {
    await signIn(page, user);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console/reports'),
      page.click('nav.nav a[href="/console/reports"]'),
    ]);
    const state = await settled('sessions');
    if (state !== 'ready') throw new Error('sessions by day shows ' + state + ': ' + (await page.textContent('[data-testid="rp-status"]')));
    const t = await table();
    if (t.keys[0] !== 'day' || t.header[0] !== 'Day') throw new Error('first column: ' + t.header.join(', '));
    const sum = t.rows.reduce((a, r) => a + number(r[1]), 0);
    if (sum !== total) throw new Error(`sessions by day add up to ${sum}, not ${total}: ${JSON.stringify(t.rows)}`);
    if (t.rows.length < 28) throw new Error('the last 30 days show ' + t.rows.length + ' days');
    const alt = await page.getAttribute('[data-testid="rp-chart"]', 'alt');
    if (!alt || !alt.includes('Sessions')) throw new Error('the chart reads: ' + alt);
    await snap('reports-sessions-by-day');
  });

  await step('grouped by channel: the chart and the table agree', async () => {
    await page.selectOption('#rp-group', 'channel');
    await settled('sessions');
    if (!page.url().includes('group_by=channel')) throw new Error('the address misses the grouping: ' + page.url());
    const t = await table();
    const got = Object.fromEntries(t.rows.map((r) => [r[0], number(r[1])]));
    for (const [name, n] of Object.entries(expected)) {
      if (got[name] !== n) throw new Error(`${name}: the table shows ${got[name]}, expected ${n} (${JSON.stringify(got)})`);
    }
    if (await page.locator('[data-testid="rp-table"] b, [data-testid="rp-table"] shop').count()) throw new Error('a name was parsed as markup');
    const svg = await chartSvg();
    for (const [name, n] of Object.entries(expected)) {
      if (!svg.includes('>' + escapeXml(name) + '</text>')) throw new Error(`the chart does not name ${name}`);
      const row = t.rows.findIndex((r) => r[0] === name);
      if (!svg.includes(`data-row="${row}" data-value="${n}"`)) throw new Error(`the chart's bar for ${name} is not ${n}`);
    }
    if (svg.includes('<Shop>')) throw new Error('the chart holds raw markup');
    await snap('reports-sessions-by-channel');
  });

  await step('filtered by a channel; the address keeps the filters across a reload', async () => {
    const [name, n] = Object.entries(expected)[0];
    await page.selectOption('#rp-channel', { label: name });
    await settled('sessions');
    let t = await table();
    if (t.rows.length !== 1 || t.rows[0][0] !== name || number(t.rows[0][1]) !== n) throw new Error('filtered: ' + JSON.stringify(t.rows));
    const before = page.url();
    if (!before.includes('channel_id=')) throw new Error('the address misses the channel: ' + before);
    await page.reload();
    await settled('sessions');
    t = await table();
    if (t.rows.length !== 1 || t.rows[0][0] !== name) throw new Error('after a reload: ' + JSON.stringify(t.rows));
    const picked = await page.$eval('#rp-channel', (s) => s.options[s.selectedIndex].textContent);
    if (picked !== name) throw new Error('the channel picker shows ' + picked);
    if ((await page.$eval('#rp-group', (s) => s.value)) !== 'channel') throw new Error('the grouping was lost');
    await page.click('#rp-reset');
    await settled('sessions');
  });

  await step('the CSV link exports what is shown', async () => {
    const href = await page.getAttribute('[data-testid="rp-csv"]', 'href');
    if (!href.startsWith('/api/v1/reports/sessions/export.csv?')) throw new Error('the CSV link is ' + href);
    const res = await page.evaluate(async (h) => {
      const r = await fetch(h, { credentials: 'same-origin' });
      return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
    }, href);
    if (res.status !== 200 || !/csv/.test(res.type || '')) throw new Error(`the CSV answered ${res.status} ${res.type}`);
    if (!res.body.startsWith('day,sessions')) throw new Error('the CSV starts: ' + res.body.slice(0, 80));
  });

  await step('every report opens, by keyboard and by mouse', async () => {
    await page.focus('[role="tab"][data-kind="sessions"]');
    await page.keyboard.press('ArrowRight');
    await settled('session_times');
    const focused = await page.evaluate(() => document.activeElement.dataset.kind);
    if (focused !== 'session_times') throw new Error('the arrow key moved the focus to ' + focused);
    if (!page.url().includes('report=session_times')) throw new Error('the address misses the report: ' + page.url());
    for (const kind of KINDS) {
      await page.click(`[role="tab"][data-kind="${kind}"]`);
      const state = await settled(kind);
      const explain = await page.textContent('[data-testid="rp-explain"]');
      if (!explain || explain.startsWith('reports.')) throw new Error(kind + ' has no explanation');
      const heading = await page.textContent('#rp-name');
      if (heading.startsWith('reports.')) throw new Error(kind + ' heading: ' + heading);
      const t = await table();
      for (const h of t.header) if (h.includes('_') || h.startsWith('reports.')) throw new Error(`${kind}: column ${h} has no name`);
      console.log(`    ${kind}: ${state}, ${t.rows.length} rows`);
      await snap('reports-' + kind.replace(/_/g, '-'));
    }
  });

  await step('a period without data says so in words', async () => {
    await page.click('[role="tab"][data-kind="sessions"]');
    await settled('sessions');
    await page.fill('#rp-from', '2024-01-01');
    await page.fill('#rp-to', '2024-01-31');
    await page.click('[data-testid="rp-apply"]');
    const state = await settled('sessions');
    const preset = await page.$eval('#rp-preset', (s) => s.value);
    if (preset !== 'custom') throw new Error('the period picker shows ' + preset);
    // By day, every day of the range is a row (of zeros): the chart still draws.
    const t = await table();
    const sum = t.rows.reduce((a, r) => a + number(r[1]), 0);
    if (sum !== 0) throw new Error('January 2024 has ' + sum + ' sessions');
    await page.selectOption('#rp-group', 'channel');
    const empty = await settled('sessions');
    if (empty !== 'empty') throw new Error('no data shows as ' + empty + ' (' + state + ')');
    const words = await page.textContent('[data-testid="rp-status"]');
    if (!words.includes('No data')) throw new Error('the empty state reads: ' + words);
    if (await page.isVisible('[data-testid="rp-chart"]')) throw new Error('an empty report shows a chart');
    await snap('reports-empty');
  });
}

scenario.run(main);
