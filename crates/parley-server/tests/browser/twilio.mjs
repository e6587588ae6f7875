// The Twilio API area in a real browser (Debian's Chromium, driven by playwright-core): an admin
// finds "Twilio API" in the navigation, issues an account whose name holds markup (shown as
// text), reads its auth token once with a Copy button and the SDK snippet with this server's
// base URL, creates a messaging service picking a channel by name from a list, then revokes the
// account after confirming.
//
// Run by hand: `node twilio.mjs --url=http://127.0.0.1:8080 --user=email:password
//   --channel=<an SMS channel's name> [--shots=/tmp/shots]`.
// Exits 0 when the scenario passed (printing `sid=<account SID>`), 1 with the failing step
// otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const NAME = 'Order <b>system</b>';
const user = credentials(args.user);
needs(url && user && args.channel, 'twilio.mjs', '--url, --user=email:password and --channel are required.');

const scenario = new Scenario('twilio');
const stage = (name, fn) => scenario.stage(name, fn);
let page = null;
const shot = (name) => scenario.shot(name, page);

async function main() {
  page = await scenario.page();
  let sid = '';

  await stage('admin signs in and finds the Twilio API in the navigation', async () => {
    await signIn(page, user);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console/twilio'),
      page.click('nav.nav a[href="/console/twilio"]'),
    ]);
    await page.waitForSelector('[data-testid="tw-new"]');
  });

  await stage('issues an account and reads its token once, with the SDK snippet', async () => {
    await page.fill('#tw-name', NAME);
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/twilio-accounts') && r.request().method() === 'POST' && r.status() === 201),
      page.click('[data-testid="tw-new"] button[type="submit"]'),
    ]);
    const token = (await page.locator('[data-testid="tw-token-value"]').textContent()).trim();
    if (!/^[0-9a-f]{32}$/.test(token)) throw new Error('the token reads: ' + token);
    const row = page.locator('[data-testid="tw-row"]').first();
    await row.waitFor();
    sid = await row.getAttribute('data-sid');
    if (!/^AC[0-9a-f]{32}$/.test(sid)) throw new Error('the SID reads: ' + sid);
    const snippet = await page.locator('[data-testid="tw-snippet"]').textContent();
    if (!snippet.includes('client.api.base_url = "' + url + '"') || !snippet.includes(sid)) {
      throw new Error('the snippet reads: ' + snippet);
    }
    if (snippet.includes(token)) throw new Error('the snippet shows the token');
    const name = await row.locator('td').first().textContent();
    if (name !== NAME) throw new Error('the name reads: ' + name);
    if (await row.locator('b').count()) throw new Error('the name was parsed as markup');
    await page.click('[data-testid="tw-copy"]');
    await page.waitForSelector('.toast:has-text("Token copied"), .toast:has-text("Ctrl+C")');
    await shot('h8-twilio-token');
    // The list never shows the token again.
    await page.reload();
    await page.waitForSelector('[data-testid="tw-row"]');
    if ((await page.content()).includes(token)) throw new Error('the token is shown again');
  });

  await stage('creates a messaging service picking a channel by name', async () => {
    const row = page.locator(`[data-testid="tw-row"][data-sid="${sid}"]`);
    await row.locator('button', { hasText: 'Messaging services' }).click();
    await page.click('[data-testid="tw-service-new"]');
    await page.fill('#tw-service-name', 'Alerts');
    const option = page.locator('#tw-channel-pick option', { hasText: args.channel }).first();
    const value = await option.getAttribute('value');
    await page.selectOption('#tw-channel-pick', value);
    const pool = await page.locator('[data-testid="tw-pool"]').textContent();
    if (!pool.includes(args.channel)) throw new Error('the pool reads: ' + pool);
    await shot('h8-twilio-service-form');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/messaging-services') && r.request().method() === 'POST' && r.status() === 201),
      page.click('[data-testid="tw-service-edit"] button[type="submit"]'),
    ]);
    const service = page.locator('[data-testid="tw-service-row"]').first();
    await service.waitFor();
    const cells = await service.locator('td').allTextContents();
    if (cells[0] !== 'Alerts' || !/^MG[0-9a-f]{32}$/.test(cells[1]) || !cells[2].includes(args.channel)) {
      throw new Error('the service reads: ' + cells.join(' | '));
    }
    await shot('h8-twilio-services');
  });

  await stage('revokes the account after confirming', async () => {
    const row = page.locator(`[data-testid="tw-row"][data-sid="${sid}"]`);
    await row.locator('[data-testid="tw-revoke"]').click();
    await page.waitForSelector('[data-testid="tw-confirm"]');
    await shot('h8-twilio-revoke-confirm');
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/v1/twilio-accounts/' + sid) && r.request().method() === 'DELETE' && r.status() === 204),
      page.click('[data-testid="tw-confirm-yes"]'),
    ]);
    await page.waitForFunction((s) => {
      const r = document.querySelector(`[data-testid="tw-row"][data-sid="${s}"]`);
      return r && r.children[3].textContent.startsWith('Revoked');
    }, sid);
    await shot('h8-twilio-revoked');
  });
  console.log('sid=' + sid);
}

await scenario.run(main);
