// The Web chat area in a real browser (issue 14): an admin finds "Web chat" in the navigation,
// creates a keyset and uploads one JWK by pasting it (an array is refused with the server's
// words), then creates a deployment on a web channel: bad origins are marked by their line,
// a title with markup stays text, pre-chat fields are added (a hidden one cannot be required),
// the keyset is chosen; the snippet appears with a copy button, and on edit the channel select
// is disabled.
//
// Run by hand: `node web-deployments.mjs --url=http://127.0.0.1:8080 --admin=email:password
//   --channel=<a web channel's name> [--shots=/tmp/shots]`.
// Exits 0 when the scenario passed (printing `deployment=<id>`), 1 with the failing step
// otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const admin = credentials(args.admin);
needs(url && admin && args.channel, 'web-deployments.mjs', '--url, --admin=email:password and --channel are required.');

const TITLE = 'Shop <b>help</b>';
// A well-formed RSA JWK of 2048 bits (its numbers are not a real key: the upload checks shape and size).
const N = Buffer.from(Uint8Array.from({ length: 256 }, (_, i) => (i === 0 ? 0xc3 : 0xa5))).toString('base64url');
const JWK = { kty: 'RSA', kid: 'shop-key-1', alg: 'RS256', use: 'sig', n: N, e: 'AQAB' };

const scenario = new Scenario('web-deployments');
const stage = (name, fn) => scenario.stage(name, fn);
let page = null;
const shot = (name) => scenario.shot(name, page);

async function main() {
  page = await scenario.page();
  let id = '';

  await stage('admin signs in and finds Web chat in the navigation', async () => {
    await signIn(page, admin);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console/admin/web-deployments'),
      page.click('nav.nav a[href="/console/admin/web-deployments"]'),
    ]);
    await page.waitForSelector('[data-testid="wd-new"]');
  });

  await stage('creates a keyset and uploads one key by pasting it', async () => {
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console/admin/keysets'),
      page.click('a[href="/console/admin/keysets"]'),
    ]);
    await page.waitForSelector('[data-testid="ks-new"]');
    await page.fill('#ks-name', 'Shop users');
    await page.fill('#ks-issuer', 'https://shop.example.com');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/keysets') && r.request().method() === 'POST' && r.status() === 201),
      page.click('[data-testid="ks-new"] button[type="submit"]'),
    ]);
    const card = page.locator('[data-testid="ks-card"][data-name="Shop users"]');
    await card.waitFor();
    await card.locator('[data-testid="ks-jwk"]').fill(JSON.stringify([JWK]));
    await card.locator('[data-testid="ks-upload"]').click();
    const err = card.locator('[data-testid="ks-jwk-error"]');
    await err.waitFor({ state: 'visible' });
    if (!(await err.textContent()).includes('not an array')) throw new Error('the array refusal reads: ' + (await err.textContent()));
    await shot('keyset-array-refused');
    await card.locator('[data-testid="ks-jwk"]').fill(JSON.stringify(JWK, null, 2));
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/keys') && r.request().method() === 'POST' && r.status() === 201),
      card.locator('[data-testid="ks-upload"]').click(),
    ]);
    await page.waitForSelector('[data-testid="ks-card"][data-name="Shop users"] [data-testid="ks-key"]:has-text("shop-key-1")');
    await shot('keyset-with-key');
  });

  await stage('bad origins are marked by their line', async () => {
    await page.goto(url + '/console/admin/web-deployments');
    await page.click('[data-testid="wd-new"]');
    await page.waitForSelector('[data-testid="wd-form-el"]');
    const option = page.locator('#wd-channel option', { hasText: args.channel }).first();
    await page.selectOption('#wd-channel', await option.getAttribute('value'));
    await page.fill('#wd-name', 'shop');
    await page.fill('#wd-origins', 'https://shop.example.com\n\nshop.example.com\nhttps://*.com\nhttps://*.example.com');
    await page.fill('#wd-title', TITLE);
    await page.fill('#wd-greeting', 'Hi! How can we help?');
    await page.selectOption('#wd-language', 'fr');
    await page.click('#wd-newline');
    await page.click('#wd-prechat');
    for (const std of ['first_name', 'email']) {
      await page.selectOption('[data-testid="pc-standard"]', std);
      await page.click('[data-testid="pc-add"]');
    }
    await page.selectOption('[data-testid="pc-standard"]', '');
    await page.click('[data-testid="pc-add"]');
    const hidden = page.locator('[data-testid="pc-row"]').nth(2);
    await hidden.locator('[data-testid="pc-name"]').fill('cart_total');
    await hidden.locator('[data-testid="pc-required"]').check();
    await hidden.locator('[data-testid="pc-hidden"]').check();
    if (await hidden.locator('[data-testid="pc-required"]').isChecked()) throw new Error('a hidden field stayed required');
    await page.locator('[data-testid="pc-row"]').first().locator('[data-testid="pc-required"]').check();
    const keyset = page.locator('#wd-keyset option', { hasText: 'Shop users' }).first();
    await page.selectOption('#wd-keyset', await keyset.getAttribute('value'));
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/web-deployments') && r.request().method() === 'POST' && r.status() === 422),
      page.click('[data-testid="wd-save"]'),
    ]);
    // The answer is in; the page draws the list once it has read the body.
    await page.locator('[data-testid="wd-origin-errors"] li').nth(1).waitFor();
    const lines = await page.locator('[data-testid="wd-origin-errors"] li').allTextContents();
    if (lines.length !== 2 || !lines[0].startsWith('Line 3:') || !lines[1].startsWith('Line 4:')) {
      throw new Error('the origin errors read: ' + JSON.stringify(lines));
    }
    await shot('deployment-origin-errors');
  });

  await stage('creates the deployment and copies its snippet', async () => {
    await page.fill('#wd-origins', 'https://shop.example.com\nhttps://*.example.com');
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/web-deployments') && r.request().method() === 'POST' && r.status() === 201),
      page.click('[data-testid="wd-save"]'),
    ]);
    id = (await res.json()).id;
    const snippet = (await page.locator('[data-testid="wd-snippet"]').textContent()).trim();
    if (!/^<script src="http:\/\/[^"]+\/widget\.js" data-deployment="shop" data-language="fr" async><\/script>$/.test(snippet)) {
      throw new Error('the snippet reads: ' + snippet);
    }
    await page.click('[data-testid="wd-copy"]');
    await page.waitForSelector('.toast:has-text("Snippet copied"), .toast:has-text("Ctrl+C")');
    if (!(await page.locator('#wd-channel').isDisabled())) throw new Error('the channel can still be changed');
    const row = page.locator('[data-testid="wd-row"][data-name="shop"]');
    await row.waitFor();
    if (await row.locator('b').count()) throw new Error('the title was parsed as markup');
    if (!(await row.textContent()).includes(TITLE)) throw new Error('the row reads: ' + (await row.textContent()));
    await shot('deployment-created');
  });

  await stage('edits it: the channel stays fixed, pre-chat rows come back', async () => {
    await page.reload();
    await page.locator('[data-testid="wd-row"][data-name="shop"] [data-testid="wd-edit"]').click();
    await page.waitForSelector('[data-testid="wd-form-el"]');
    if (!(await page.locator('#wd-channel').isDisabled())) throw new Error('the channel select is enabled on edit');
    const names = await page.locator('[data-testid="pc-name"]').evaluateAll((els) => els.map((e) => e.value));
    if (names.join(',') !== 'first_name,email,cart_total') throw new Error('the pre-chat rows read: ' + names);
    await page.fill('#wd-title', 'Demo Shop');
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/v1/web-deployments/' + id) && r.request().method() === 'PUT' && r.status() === 200),
      page.click('[data-testid="wd-save"]'),
    ]);
    await shot('deployment-edit');
  });
  console.log('deployment=' + id);
}

await scenario.run(main);
