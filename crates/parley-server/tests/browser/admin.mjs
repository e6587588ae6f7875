// The admin console's keyword forms in a real browser (Debian's Chromium, driven by playwright-core):
// a Help process on a short code whose message lacks what the short code rules ask (CO-16) is
// refused, and the reasons are shown under the Message field; with a compliant message it saves.
//
// Run by hand like console.mjs: `node admin.mjs --url=http://127.0.0.1:8080 --admin=email:password`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const admin = credentials(args.admin);
needs(url && admin, 'admin.mjs', '--url and --admin=email:password are required.');

const BAD = 'Kids Club: help at kids.example';
const GOOD = 'Kids Club Alerts: Help at help@kids.example. Msg&data rates may apply. 2 msgs/week. Text STOP to cancel.';

const scenario = new Scenario('admin');
const stage = (name, fn) => scenario.stage(name, fn);

async function main() {
  const page = await scenario.page();

  await stage('admin signs in', async () => {
    await signIn(page, admin);
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

await scenario.run(main);
