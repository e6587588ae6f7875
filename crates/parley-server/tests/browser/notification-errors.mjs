// The Notification errors page in a real browser (Debian's Chromium, driven by playwright-core):
// an admin finds it in the navigation, sees each failed notification with its time in words,
// channel, recipient, stage, code and reason (a recipient written as markup stays text), filters
// by stage and by channel, opens an entry's inputs (customer data shown as text) and deletes one.
//
// Run by hand: `node notification-errors.mjs --url=http://127.0.0.1:8080 --user=email:password
//   --other=<name of the second channel> [--shots=/tmp/shots]`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const user = credentials(args.user);
needs(url && user && args.other, 'notification-errors.mjs',
  '--url, --user=email:password and --other are required.');

const scenario = new Scenario('notification-errors');
const step = (name, fn) => scenario.stage(name, fn);
let page = null;
const snap = (name) => scenario.shot(name, page);

const rows = () => page.locator('[data-testid="nerr-row"]');
const rowCount = (n) => page.waitForFunction(
  (want) => document.querySelectorAll('[data-testid="nerr-row"]').length === want, n);

async function main() {
  page = await scenario.page();

  await step('admin signs in and opens Notification errors from the navigation', async () => {
    await signIn(page, user);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console/notification-errors'),
      page.click('nav.nav a[href="/console/notification-errors"]'),
    ]);
    await rowCount(3);
  });

  await step('each entry reads in words; a recipient written as markup is text', async () => {
    const all = await rows().evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    const markup = all.find((cells) => cells[2] === '<b>bold</b>');
    if (!markup) throw new Error('no row shows the recipient as text: ' + JSON.stringify(all));
    if (await page.locator('[data-testid="nerr-list"] b').count()) throw new Error('the recipient was parsed as markup');
    if (!all.every((cells) => cells[0] === 'just now')) throw new Error('times read: ' + all.map((c) => c[0]).join(', '));
    const excluded = all.find((cells) => cells[3] === 'Recipient excluded');
    if (!excluded || !excluded[4].startsWith('2001')) throw new Error('the exclusion reads: ' + JSON.stringify(excluded));
    await snap('h7-notification-errors-list');
  });

  await step('filters by stage, then by channel', async () => {
    await page.selectOption('[data-testid="nerr-stage"]', 'exclusion');
    await rowCount(1);
    const stage = await rows().first().getAttribute('data-stage');
    if (stage !== 'exclusion') throw new Error('the filtered row is ' + stage);
    await snap('h7-notification-errors-filtered');
    await page.selectOption('[data-testid="nerr-stage"]', '');
    await rowCount(3);
    await page.selectOption('[data-testid="nerr-channel"]', { label: args.other });
    await rowCount(1);
    const channel = await rows().first().locator('td').nth(1).textContent();
    if (channel !== args.other) throw new Error('the filtered row is of ' + channel);
    await page.selectOption('[data-testid="nerr-channel"]', '');
    await rowCount(3);
  });

  await step('an entry opens its inputs, customer data as text', async () => {
    const row = rows().filter({ hasText: 'Validation' }).filter({ hasNotText: '<b>bold</b>' }).first();
    await row.locator('[data-testid="nerr-expand"]').click();
    const pre = page.locator('[data-testid="nerr-detail"]:not([hidden]) [data-testid="nerr-inputs"]');
    await pre.waitFor();
    const text = await pre.textContent();
    if (!text.includes('<img src=x onerror=alert(1)>')) throw new Error('the inputs read: ' + text);
    if (await page.locator('[data-testid="nerr-list"] img').count()) throw new Error('the inputs were parsed as markup');
    await snap('h7-notification-errors-inputs');
  });

  await step('deletes an entry', async () => {
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'DELETE' && r.status() === 204),
      rows().filter({ hasText: '<b>bold</b>' }).locator('[data-testid="nerr-delete"]').click(),
    ]);
    await rowCount(2);
    await page.reload();
    await rowCount(2);
  });
}

scenario.run(main);
