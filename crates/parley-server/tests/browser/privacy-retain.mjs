// The Privacy page's Retention and Audit log tabs in a real browser (Debian's Chromium, driven by
// playwright-core): an admin sets how long one channel keeps media (a picker per kind and
// channel), sees the built-in 30 days of the error log, then reads the change in the audit log
// (who by name, what in words, when in words with the exact time on hover), filters it by
// resource, and finds the export links carrying the filter.
//
// Run by hand: `node privacy-retain.mjs --url=http://127.0.0.1:8080 --user=email:password
//   --name="Ada" --channel-id=<uuid> [--shots=/tmp/shots]`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const user = credentials(args.user);
const channel = args['channel-id'];
needs(url && user && args.name && channel, 'privacy-retain.mjs',
  '--url, --user=email:password, --name and --channel-id are required.');

const scenario = new Scenario('privacy-retain');
const step = (name, fn) => scenario.stage(name, fn);
let page = null;
const snap = (name) => scenario.shot(name, page);

async function main() {
  page = await scenario.page();

  await step('admin opens Privacy, Retention', async () => {
    await signIn(page, user);
    await page.goto(url + '/console/privacy#retention');
    await page.locator('[data-testid="retention-table"]').waitFor();
    const rows = await page.locator('[data-testid="retention-row"]').count();
    if (rows !== 6) throw new Error('kinds shown: ' + rows);
    const builtin = await page.locator('#retention-error_logs-all option:checked').textContent();
    if (!builtin.includes('30')) throw new Error('the error log reads: ' + builtin);
  });

  await step('sets 90 days of media on the channel', async () => {
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'PUT' && r.status() === 200),
      page.selectOption(`#retention-media-${channel}`, '90'),
    ]);
    await page.waitForFunction((id) => {
      const el = document.getElementById('retention-media-' + id);
      return el && el.value === '90';
    }, channel);
    await snap('s16-retention');
  });

  await step('the audit log shows the change in words', async () => {
    await page.click('#tab-audit');
    const row = page.locator('[data-testid="audit-row"][data-action="retention_policy_updated"]');
    await row.first().waitFor();
    const who = await row.first().locator('[data-testid="audit-who"]').textContent();
    if (who !== args.name) throw new Error('who reads: ' + who);
    const what = await row.first().locator('[data-testid="audit-what"]').textContent();
    if (what !== 'Retention period changed') throw new Error('what reads: ' + what);
    const when = await row.first().locator('td.when');
    if ((await when.textContent()) !== 'just now') throw new Error('when reads: ' + (await when.textContent()));
    // The exact time is the title of the cell or of the <time> inside it.
    const exact = (await when.getAttribute('title')) || (await when.locator('[title]').first().getAttribute('title'));
    if (!exact) throw new Error('no exact time on hover');
    await snap('s16-audit-log');
  });

  await step('filters by resource; the export links carry the filter', async () => {
    await page.selectOption('[data-testid="audit-kind"]', 'retention_policy');
    await page.waitForFunction(() => {
      const a = document.querySelector('[data-testid="audit-export-csv"]');
      const rows = [...document.querySelectorAll('[data-testid="audit-row"]')];
      return a && (a.getAttribute('href') || '').includes('resource_kind=retention_policy') && rows.length > 0
        && rows.every((r) => r.dataset.action.startsWith('retention_policy'));
    }).catch(() => { throw new Error('the audit log was never filtered by resource'); });
    const csv = await page.locator('[data-testid="audit-export-csv"]').getAttribute('href');
    if (!csv.includes('resource_kind=retention_policy') || !csv.includes('format=csv')) throw new Error('csv link: ' + csv);
    await snap('s16-audit-log-filtered');
  });
}

scenario.run(main);
