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

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const WAIT = Number(process.env.STEP_TIMEOUT_MS || 15000);
const NAME = 'Order <b>system</b>';

const args = Object.fromEntries(process.argv.slice(2)
  .map((a) => /^--([\w-]+)=(.*)$/s.exec(a)).filter(Boolean).map((m) => [m[1], m[2]]));
const url = (args.url || process.env.PARLEY_URL || '').replace(/\/+$/, '');
const at = (args.user || '').indexOf(':');
if (!url || at <= 0 || !args.channel) {
  console.error('twilio.mjs: --url, --user=email:password and --channel are required.');
  process.exit(2);
}
const user = { email: args.user.slice(0, at), password: args.user.slice(at + 1) };
const shots = args.shots || '';
if (shots) mkdirSync(shots, { recursive: true });

let step = 'starting';
const pageErrors = [];
const dir = mkdtempSync(join(tmpdir(), 'parley-twilio-'));
let context = null;
let page = null;

async function stage(name, fn) {
  step = name;
  await fn();
  console.log(`ok  ${name}`);
  if (pageErrors.length) throw new Error('errors in the page: ' + pageErrors.join(' | '));
}

async function shot(name) {
  if (!shots) return;
  const path = join(shots, name + '.png');
  await page.screenshot({ path, fullPage: true });
  console.log(`shot ${path}`);
}

async function main() {
  context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1400, height: 900 },
  });
  context.setDefaultTimeout(WAIT);
  page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  let sid = '';

  await stage('admin signs in and finds the Twilio API in the navigation', async () => {
    await page.goto(url + '/console/login');
    await page.fill('input[name="email"]', user.email);
    await page.fill('input[name="password"]', user.password);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console'),
      page.click('[data-testid="login-submit"]'),
    ]);
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

let code = 0;
try {
  await main();
  console.log('twilio scenario passed');
} catch (err) {
  code = 1;
  console.error(`FAILED at step "${step}": ${err && err.message ? err.message : err}`);
  if (page) await shot('h8-failure').catch(() => {});
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
