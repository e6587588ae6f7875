// Sensitive-data rules in a real browser (Debian's Chromium, driven by playwright-core): an admin
// writes a card-number rule on the Privacy page's Sensitive data tab, checks it in the live test
// box and saves it with the keyboard; then a customer's SMS with a card number reaches the agent
// console masked, with the transcript's "Sensitive data blocked (Customer)" note.
//
// Run by hand: `node sensitive-data.mjs --url=http://127.0.0.1:8080 --admin=email:password
//   --channel="Desk SMS" --customer=+447400123456` (the admin must be a member of the channel's
// queue). Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started
// wrongly.

import { args, credentials, message, needs, Scenario, signIn, simulatorInbound, url } from './harness.mjs';

const admin = credentials(args.admin);
needs(url && admin && args.channel && args.customer, 'sensitive-data.mjs',
  '--url, --admin=email:password, --channel and --customer are required.');

const scenario = new Scenario('sensitive-data');
const stage = (name, fn) => scenario.stage(name, fn);
const CARD = '4111 1111 1111 1111';

async function main() {
  const page = await scenario.page();

  await stage('admin signs in', () => signIn(page, admin));

  await stage('the Sensitive data tab shows the empty rules table and the form', async () => {
    await page.goto(url + '/console/privacy#sensitive-data');
    await page.waitForSelector('#sensitive-form');
    await page.waitForSelector('[data-testid="sensitive-rules"] .empty');
  });

  await stage('the test box masks a card number while the rule is written', async () => {
    await page.fill('#sensitive-name', 'Card numbers');
    await page.selectOption('#sensitive-detector', 'card_number');
    await page.selectOption('#sensitive-action', 'replace');
    await page.fill('#sensitive-replacement', '[card]');
    if (!(await page.isChecked('#sensitive-author-customer'))) await page.check('#sensitive-author-customer');
    await page.fill('[data-testid="sensitive-sample"]', `pay ${CARD} now, not 4111 1111 1111 1112`);
    await page.waitForFunction(() => {
      const out = document.querySelector('[data-testid="sensitive-result"]');
      return out && out.textContent === 'pay [card] now, not 4111 1111 1111 1112';
    });
    const count = await page.textContent('[data-testid="sensitive-count"]');
    if (!count.includes('1')) throw new Error(`the match count is not shown: ${count}`);
    await scenario.shot('sensitive-data-preview', page);
  });

  await stage('a look-ahead pattern is refused in words', async () => {
    await page.selectOption('#sensitive-detector', 'regex');
    await page.fill('#sensitive-pattern', '\\d(?=\\d)');
    await page.waitForFunction(() => /look-ahead/.test(document.querySelector('[data-testid="sensitive-count"]').textContent));
    await page.selectOption('#sensitive-detector', 'card_number');
  });

  await stage('the rule is saved with the keyboard and listed in words', async () => {
    await page.focus('[data-testid="sensitive-save"]');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/sensitive-data-rules') && r.request().method() === 'POST' && r.status() === 201),
      page.keyboard.press('Enter'),
    ]);
    const row = page.locator('[data-testid="sensitive-rule"]', { hasText: 'Card numbers' });
    await row.waitFor();
    const text = await row.textContent();
    for (const want of ['All channels', 'Luhn', '[card]', 'Customers']) {
      if (!text.includes(want)) throw new Error(`the rule row does not say ${want}: ${text}`);
    }
    await scenario.shot('sensitive-data-rules', page);
  });

  await stage('a customer card number reaches the console masked, with the note', async () => {
    await page.goto(url + '/console');
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/me/presence') && r.request().method() === 'PUT' && r.ok()),
      page.selectOption('[data-testid="presence"]', 'available'),
    ]);
    await simulatorInbound(args.channel, args.customer, `my card is ${CARD} thanks`);
    const masked = 'my card is [card] thanks';
    const offer = page.locator('[data-testid="offer"]', { has: page.locator('[data-testid="offer-first-message"]', { hasText: masked }) });
    await offer.waitFor();
    await offer.locator('[data-testid="offer-accept"]').click();
    await page.waitForSelector(message('inbound', masked));
    await page.locator('[data-testid="message-event"]', { hasText: 'Sensitive data blocked (Customer)' }).waitFor();
    const html = await page.content();
    if (html.includes('4111 1111')) throw new Error('the card number is on the page');
    await scenario.shot('sensitive-data-console', page);
  });
}

await scenario.run(main);
