// Sender limits on the admin Channels tab in a real browser (Debian's Chromium, driven by
// playwright-core): each limit shows as a bar with its use and state in words, and a held message
// is released from the page.
//
// Run by hand: `node sender-limits.mjs --url=http://127.0.0.1:8080 --admin=email:password --held=<entry id>`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const admin = credentials(args.admin);
needs(url && admin && args.held, 'sender-limits.mjs', '--url, --admin=email:password and --held are required.');

const scenario = new Scenario('sender-limits');
const stage = (name, fn) => scenario.stage(name, fn);

async function main() {
  const page = await scenario.page();

  await stage('admin signs in', async () => {
    await signIn(page, admin);
  });

  await stage('the Channels tab shows each limit with its use and state', async () => {
    await page.goto(url + '/console/admin#channels');
    const volume = page.locator('[data-testid="limit-monthly_volume"]');
    await volume.waitFor();
    if ((await volume.getAttribute('data-state')) !== 'reached') throw new Error('the monthly volume is not shown as reached');
    const text = await volume.textContent();
    if (!text.includes('3 of 2')) throw new Error(`the use is not shown: ${text}`);
    await scenario.shot('sender-limits', page);
  });

  await stage('a held message is released from the page', async () => {
    const row = page.locator(`[data-entry="${args.held}"]`);
    await row.waitFor();
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/release') && r.status() === 204),
      row.locator('[data-testid="limit-release"]').click(),
    ]);
    await row.waitFor({ state: 'detached' });
  });
}

await scenario.run(main);
