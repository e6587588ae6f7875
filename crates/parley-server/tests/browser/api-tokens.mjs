// The API tokens area in a real browser (Debian's Chromium, driven by playwright-core): an admin
// finds "API tokens" in the navigation, creates an agent-role token acting as an agent, lasting
// 30 days, whose name holds markup (shown as text); reads the token once with a Copy button; sees
// its role, agent, "Expires in 30 days" and "Never" used; and revokes it after confirming.
//
// Run by hand: `node api-tokens.mjs --url=http://127.0.0.1:8080 --user=email:password
//   --agent=<an agent's e-mail> [--shots=/tmp/shots]`.
// Exits 0 when the scenario passed (printing `id=<token id>` and `token=<token>`), 1 with the
// failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const NAME = 'Ada <b>script</b>';
const user = credentials(args.user);
needs(url && user && args.agent, 'api-tokens.mjs', '--url, --user=email:password and --agent are required.');

const scenario = new Scenario('api-tokens');
const stage = (name, fn) => scenario.stage(name, fn);
let page = null;
const shot = (name) => scenario.shot(name, page);

async function main() {
  page = await scenario.page();
  let id = '';
  let token = '';

  await stage('admin signs in and finds API tokens in the navigation', async () => {
    await signIn(page, user);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console/api-tokens'),
      page.click('nav.nav a[href="/console/api-tokens"]'),
    ]);
    await page.waitForSelector('[data-testid="tok-new"]');
  });

  await stage('creates an agent token for 30 days and reads it once', async () => {
    await page.fill('#tok-name', NAME);
    await page.selectOption('#tok-role', 'agent');
    const option = page.locator('#tok-agent option', { hasText: args.agent }).first();
    await page.selectOption('#tok-agent', await option.getAttribute('value'));
    await page.selectOption('#tok-expires', '30d');
    await shot('tokens-new');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/api-tokens') && r.request().method() === 'POST' && r.status() === 201),
      page.click('[data-testid="tok-new"] button[type="submit"]'),
    ]);
    token = (await page.locator('[data-testid="tok-value"]').textContent()).trim();
    if (!/^pk_[A-Za-z0-9_-]{43}$/.test(token)) throw new Error('the token reads: ' + token);
    // The list reloads after the answer: wait for the new token's row, not whichever is first.
    const row = page.locator('[data-testid="tok-row"]', { hasText: NAME }).first();
    await row.waitFor();
    id = await row.getAttribute('data-id');
    const cells = await row.locator('td').allTextContents();
    if (cells[0] !== NAME) throw new Error('the name reads: ' + cells[0]);
    if (await row.locator('b').count()) throw new Error('the name was parsed as markup');
    if (!cells[1].startsWith('agent (') || !cells[1].includes(args.agent)) throw new Error('the role reads: ' + cells[1]);
    if (cells[3] !== 'Never') throw new Error('last used reads: ' + cells[3]);
    if (!/^Expires in (30 days|4 weeks|1 month)/.test(cells[4]) && !cells[4].startsWith('Expires in')) {
      throw new Error('the state reads: ' + cells[4]);
    }
    await page.click('[data-testid="tok-copy"]');
    await page.waitForSelector('.toast:has-text("Token copied"), .toast:has-text("Ctrl+C")');
    await shot('tokens-created');
    await page.reload();
    await page.waitForSelector('[data-testid="tok-row"]');
    if ((await page.content()).includes(token)) throw new Error('the token is shown again');
  });

  await stage('revokes the token after confirming', async () => {
    const row = page.locator(`[data-testid="tok-row"][data-id="${id}"]`);
    await row.locator('[data-testid="tok-revoke"]').click();
    await page.waitForSelector('[data-testid="tok-confirm"]');
    await shot('tokens-revoke-confirm');
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/v1/api-tokens/' + id) && r.request().method() === 'DELETE' && r.status() === 204),
      page.click('[data-testid="tok-confirm-yes"]'),
    ]);
    await page.waitForFunction((i) => {
      const r = document.querySelector(`[data-testid="tok-row"][data-id="${i}"] [data-testid="tok-state"]`);
      return r && r.textContent.startsWith('Revoked');
    }, id);
    await shot('tokens-revoked');
  });
  console.log('id=' + id);
  console.log('token=' + token);
}

await scenario.run(main);
