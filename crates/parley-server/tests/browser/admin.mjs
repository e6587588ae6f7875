// The admin console's keyword forms in a real browser (Debian's Chromium, driven by playwright-core):
// a Help process on a short code whose message lacks what the short code rules ask (CO-16) is
// refused, and the reasons are shown under the Message field; with a compliant message it saves.
//
// Run by hand like console.mjs: `node admin.mjs --url=http://127.0.0.1:8080 --admin=email:password`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { mkdtempSync, rmSync } from 'node:fs';
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

const args = Object.fromEntries(process.argv.slice(2)
  .map((a) => /^--([\w-]+)=(.*)$/s.exec(a)).filter(Boolean).map((m) => [m[1], m[2]]));
const url = (args.url || process.env.PARLEY_URL || '').replace(/\/+$/, '');
const at = (args.admin || '').indexOf(':');
if (!url || at <= 0) {
  console.error('admin.mjs: --url and --admin=email:password are required.');
  process.exit(2);
}
const admin = { email: args.admin.slice(0, at), password: args.admin.slice(at + 1) };

const BAD = 'Kids Club: help at kids.example';
const GOOD = 'Kids Club Alerts: Help at help@kids.example. Msg&data rates may apply. 2 msgs/week. Text STOP to cancel.';

let step = 'starting';
const pageErrors = [];
const dir = mkdtempSync(join(tmpdir(), 'parley-admin-'));
let context = null;

async function stage(name, fn) {
  step = name;
  await fn();
  console.log(`ok  ${name}`);
  if (pageErrors.length) throw new Error('errors in the page: ' + pageErrors.join(' | '));
}

async function main() {
  context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1400, height: 900 },
  });
  context.setDefaultTimeout(WAIT);
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await stage('admin signs in', async () => {
    await page.goto(url + '/console/login');
    await page.fill('input[name="email"]', admin.email);
    await page.fill('input[name="password"]', admin.password);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console'),
      page.click('[data-testid="login-submit"]'),
    ]);
  });

  await stage('opens a new keyword process', async () => {
    await page.goto(url + '/console/admin#sms-processes');
    await page.click('#admin-tabs [data-resource="sms-processes"]');
    await page.click('[data-testid="admin-new"]');
    await page.waitForSelector('#admin-form [data-field="message"]');
  });

  const form = '#admin-form';
  await stage('a help message missing the short code elements is refused next to the field', async () => {
    await page.fill(`${form} [data-field="name"]`, 'Kids help');
    await page.selectOption(`${form} [data-field="kind"]`, 'help');
    await page.fill(`${form} [data-field="number"]`, '11221');
    await page.fill(`${form} [data-field="provider_keyword"]`, 'kids');
    await page.fill(`${form} [data-field="message"]`, BAD);
    await page.click('[data-testid="admin-save"]');
    const error = page.locator('.field:has([data-field="message"]) [data-testid="field-error"]');
    await error.waitFor();
    const text = await error.textContent();
    for (const part of ['Msg&data rates may apply', 'the message frequency', 'how to opt out']) {
      if (!text.includes(part)) throw new Error(`the field error does not name "${part}": ${text}`);
    }
  });

  await stage('a compliant message saves and clears the error', async () => {
    await page.fill(`${form} [data-field="message"]`, GOOD);
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/sms-processes') && r.request().method() === 'POST' && r.status() === 201),
      page.click('[data-testid="admin-save"]'),
    ]);
    await page.waitForSelector('[data-testid="admin-table"] >> text=Kids help');
    if (await page.locator('[data-testid="field-error"]').count()) throw new Error('the field error stayed');
  });
}

let code = 0;
try {
  await main();
  console.log('admin scenario passed');
} catch (err) {
  code = 1;
  console.error(`FAILED at step "${step}": ${err && err.message ? err.message : err}`);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
