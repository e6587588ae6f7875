// The Webhooks area in a real browser (Debian's Chromium, driven by playwright-core): an admin
// finds Webhooks in the navigation, sees a subscription with its events and the state of its last
// delivery, opens its deliveries (a failed attempt with its 500 and the receiver's answer, shown
// as text), presses Retry and sees the delivery succeed; then creates a subscription with the
// event checkboxes and reads its secret once.
//
// Run by hand: `node webhooks.mjs --url=http://127.0.0.1:8080 --user=email:password
//   --hook=<url for a new subscription> [--shots=/tmp/shots]`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const user = credentials(args.user);
needs(url && user && args.hook, 'webhooks.mjs', '--url, --user=email:password and --hook are required.');

const scenario = new Scenario('webhooks');
const stage = (name, fn) => scenario.stage(name, fn);
let page = null;
const shot = (name) => scenario.shot(name, page);

async function main() {
  page = await scenario.page();

  await stage('admin signs in and finds Webhooks in the navigation', async () => {
    await signIn(page, user);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console/webhooks'),
      page.click('nav.nav a[href="/console/webhooks"]'),
    ]);
    await page.waitForSelector('[data-testid="hook-row"]');
  });

  await stage('the list shows the events and the last delivery retrying with its 500', async () => {
    const cells = await page.locator('[data-testid="hook-row"]').first().locator('td').allTextContents();
    if (!cells[1].includes('message.received')) throw new Error('the row reads: ' + cells.join(' | '));
    if (!cells[4].startsWith('Retrying (500)')) throw new Error('the last delivery reads: ' + cells[4]);
    await shot('h1-webhooks-list');
  });

  await stage('the deliveries show the answer as text; Retry delivers it', async () => {
    await page.locator('[data-testid="hook-row"]').first().locator('button', { hasText: 'Deliveries' }).click();
    const row = page.locator('[data-testid="delivery-row"]').first();
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    if (cells[2] !== 'Retrying' || cells[4] !== '500' || cells[5] !== '<b>not yet</b>') {
      throw new Error('the delivery reads: ' + cells.join(' | '));
    }
    if (await row.locator('b').count()) throw new Error('the answer was parsed as markup');
    await shot('h1-webhooks-deliveries-failed');
    await row.locator('button', { hasText: 'Retry' }).click();
    await page.waitForFunction(() => {
      const r = document.querySelector('[data-testid="delivery-row"]');
      return r && r.children[2].textContent === 'Delivered';
    });
    await shot('h1-webhooks-deliveries-retried');
  });

  await stage('creates a subscription with checkboxes and reads its secret once', async () => {
    await page.click('[data-testid="hook-new"]');
    await page.fill('#hook-name', 'CRM');
    await page.fill('#hook-url', args.hook);
    await page.check('input[data-event="case.closed"]');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/webhook-subscriptions') && r.request().method() === 'POST' && r.status() === 201),
      page.click('#hook-edit button[type="submit"]'),
    ]);
    const secret = await page.locator('[data-testid="hook-secret"]').textContent();
    if (!secret.startsWith('whsec_')) throw new Error('the secret reads: ' + secret);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="hook-row"]').length === 2);
    await shot('h1-webhooks-created');
  });
}

await scenario.run(main);
