// A message whose outcome is unknown, in a real browser (Debian's Chromium, driven by
// playwright-core): the supervisor sees it in words with Resend and Mark failed, marks it failed,
// and the timeline shows it failed with only Resend left; Resend queues it again.
//
// Run by hand like console.mjs:
// `node outcome.mjs --url=http://127.0.0.1:8080 --user=email:password --session=<id>`.
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
const url = (args.url || '').replace(/\/+$/, '');
const at = (args.user || '').indexOf(':');
if (!url || at <= 0 || !args.session) {
  console.error('outcome.mjs: --url, --user=email:password and --session=<id> are required.');
  process.exit(2);
}
const user = { email: args.user.slice(0, at), password: args.user.slice(at + 1) };

let step = 'starting';
const pageErrors = [];
const dir = mkdtempSync(join(tmpdir(), 'parley-outcome-'));
let context = null;
let shown = null;

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
  shown = page;
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const message = '[data-testid="message"][data-direction="outbound"]';

  await stage('supervisor signs in', async () => {
    await page.goto(url + '/console/login');
    await page.fill('input[name="email"]', user.email);
    await page.fill('input[name="password"]', user.password);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console'),
      page.click('[data-testid="login-submit"]'),
    ]);
  });

  await stage('the unknown outcome is shown in words, with what can be done', async () => {
    await page.goto(url + '/console#session=' + args.session);
    await page.waitForSelector(message + '[data-status="unknown"] [data-testid="message-unknown"]');
    const status = await page.textContent(message + ' [data-testid="message-status"]');
    if (status.trim() !== 'Outcome unknown') throw new Error('status shown as ' + JSON.stringify(status));
    await page.waitForSelector(message + ' [data-testid="message-resend"]');
  });

  await stage('marked failed: the timeline says failed, and only Resend is left', async () => {
    await page.click(message + ' [data-testid="message-mark-failed"]');
    await page.waitForSelector(message + '[data-status="failed"] [data-testid="message-error"]');
    if (await page.$(message + ' [data-testid="message-mark-failed"]')) {
      throw new Error('Mark failed is still offered on a failed message');
    }
  });

  await stage('resent: queued again', async () => {
    await page.click(message + ' [data-testid="message-resend"]');
    await page.waitForSelector(message + ':is([data-status="queued"], [data-status="delivered"], [data-status="sent"])');
  });
}

main()
  .then(async () => { await context.close(); rmSync(dir, { recursive: true, force: true }); process.exit(0); })
  .catch(async (err) => {
    console.error(`FAILED at: ${step}\n${err && err.stack ? err.stack : err}`);
    if (shown) {
      const text = await shown.innerText('main').catch(() => '(no page)');
      console.error('the page showed:\n' + text);
    }
    if (context) await context.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  });
