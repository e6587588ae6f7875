// The Privacy page's Requests tab in a real browser (Debian's Chromium, driven by
// playwright-core): an admin finds a person by phone number, sees what is held (a customer's
// name written as markup stays text), restricts and lifts their processing, then erases them
// through the confirmation step (the button stays off until the number is typed again) and
// reads the erasure's report; a second search finds nothing.
//
// Run by hand: `node privacy-requests.mjs --url=http://127.0.0.1:8080 --user=email:password
//   --phone=+14155550177 [--shots=/tmp/shots]`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const user = credentials(args.user);
needs(url && user && args.phone, 'privacy-requests.mjs',
  '--url, --user=email:password and --phone are required.');

const scenario = new Scenario('privacy-requests');
const step = (name, fn) => scenario.stage(name, fn);
let page = null;
const snap = (name) => scenario.shot(name, page);

async function find() {
  await page.selectOption('[data-testid="privacy-kind"]', 'phone');
  await page.fill('[data-testid="privacy-value"]', args.phone);
  await page.click('[data-testid="privacy-search"]');
}

async function main() {
  page = await scenario.page();

  await step('admin signs in and opens Privacy, Requests', async () => {
    await signIn(page, user);
    await page.goto(url + '/console/privacy#requests');
    await page.locator('[data-testid="privacy-find"]').waitFor();
  });

  await step('finds the person by phone and sees what is held, as text', async () => {
    await find();
    await page.locator('[data-testid="privacy-user"]').first().waitFor();
    const users = await page.locator('[data-testid="privacy-user"]').count();
    if (users !== 1) throw new Error('messaging users shown: ' + users);
    const text = await page.locator('[data-testid="privacy-result"]').textContent();
    if (!text.includes('<b>Zed</b>')) throw new Error('the name reads: ' + text);
    if (await page.locator('[data-testid="privacy-result"] b').count()) throw new Error('the name was parsed as markup');
    await snap('privacy-requests-held');
  });

  await step('restricts processing, then lifts it', async () => {
    await page.click('[data-testid="privacy-restrict"]');
    await page.locator('[data-testid="privacy-lift"]').waitFor();
    const state = await page.locator('[data-testid="privacy-restricted"]').first().textContent();
    if (!state.startsWith('Restricted')) throw new Error('the state reads: ' + state);
    await snap('privacy-requests-restricted');
    await page.click('[data-testid="privacy-lift"]');
    await page.locator('[data-testid="privacy-restrict"]').waitFor();
  });

  await step('erase asks for the number again before it goes', async () => {
    await page.click('[data-testid="privacy-erase"]');
    const go = page.locator('[data-testid="erase-go"]');
    await go.waitFor();
    if (!(await go.isDisabled())) throw new Error('Erase now is on before the number is typed');
    await page.fill('[data-testid="erase-confirm"]', '+10000000000');
    if (!(await go.isDisabled())) throw new Error('Erase now is on for another number');
    await page.fill('[data-testid="erase-confirm"]', args.phone);
    if (await go.isDisabled()) throw new Error('Erase now stays off for the right number');
    await snap('privacy-requests-confirm');
    await go.click();
    await page.locator('[data-testid="erasure-status"][data-status="done"]').waitFor({ timeout: 20000 });
    const users = await page.locator('[data-testid="erasure-row"][data-key="messaging_users"] td').textContent();
    if (users !== '1') throw new Error('messaging users erased: ' + users);
    const entries = Number(await page.locator('[data-testid="erasure-row"][data-key="entries"] td').textContent());
    if (!(entries >= 1)) throw new Error('entries erased: ' + entries);
    await snap('privacy-requests-report');
  });

  await step('a second search finds nothing held', async () => {
    await find();
    await page.locator('[data-testid="privacy-none"]').waitFor();
    await snap('privacy-requests-nothing');
  });
}

scenario.run(main);
