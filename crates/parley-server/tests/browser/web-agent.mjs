// A web chat session at the agent's console in a real browser (Debian's Chromium, driven by
// playwright-core): the agent goes Available and accepts a web visitor's session; the Visitor panel
// shows the pre-chat answers under the form's labels (a value holding markup shown as text), the
// page as a link that opens without an opener, the browser in words and "Anonymous visitor"; the
// agent's typing is sent (throttled) and stopped on send; the visitor's typing shows under the
// messages.
//
// Run by the Rust test `browser::web_session_in_a_real_browser`, which creates the web channel,
// its deployment and the visitor's waiting session, and makes the visitor type once the agent's
// reply is stored. By hand: `node web-agent.mjs --url=... --agent=email:password [--shots=dir]`.
// Exits 0 when the scenario passed, 1 with the failing step, 2 when started wrongly.

import { args, credentials, message, needs, Scenario, signIn } from './harness.mjs';

const agent = credentials(args.agent);
needs(args.url && agent, 'web-agent.mjs', '--url and --agent=email:password are required.');

const FIRST = 'My parcel is late';
const REPLY = 'Hello! Let me look at your order.';

const scenario = new Scenario('web-agent');
const stage = (name, fn) => scenario.stage(name, fn);
let page = null;
const shot = (name) => scenario.shot(name, page);

async function main() {
  page = await scenario.page();
  await stage('the agent signs in and goes available', async () => {
    await signIn(page, agent);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/me/presence') && r.ok()),
      page.selectOption('[data-testid="presence"]', 'available'),
    ]);
  });

  const sessionId = await stage('the web session is offered and accepted', async () => {
    const offer = page.locator('[data-testid="offer"]', { hasText: FIRST }).first();
    await offer.waitFor();
    const id = await offer.getAttribute('data-session-id');
    await offer.locator('[data-testid="offer-accept"]').click();
    await page.waitForSelector(message('inbound', FIRST));
    return id;
  });
  if (!sessionId) throw new Error('the offer has no session id');

  await stage('the Visitor panel shows pre-chat, page, browser and identity', async () => {
    const panel = page.locator('[data-testid="visitor-panel"]');
    await panel.waitFor();
    const identity = (await page.textContent('[data-testid="visitor-identity"]')).trim();
    if (identity !== 'Anonymous visitor') throw new Error('the identity reads: ' + identity);
    const facts = await page.$$eval('[data-testid="visitor-facts"] dt', (dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling ? dt.nextElementSibling.textContent : '']));
    const want = [['What is it about?', 'Late order'], ['First name', '<b>Zoë</b>'], ['plan', 'gold']];
    for (const [label, value] of want) {
      if (!facts.some(([l, v]) => l === label && v === value)) throw new Error(`no "${label}: ${value}" in ${JSON.stringify(facts)}`);
    }
    if (await page.locator('[data-testid="visitor-facts"] b').count()) throw new Error('a pre-chat value was parsed as markup');
    const link = page.locator('[data-testid="visitor-page"] a');
    if ((await link.getAttribute('href')) !== 'https://shop.example/cart?step=2') throw new Error('the page link is wrong');
    if ((await link.getAttribute('rel')) !== 'noopener noreferrer') throw new Error('the page link keeps an opener');
    if ((await link.getAttribute('target')) !== '_blank') throw new Error('the page link opens in the console');
    const browser = (await page.textContent('[data-testid="visitor-browser"]')).trim();
    if (browser !== 'Firefox 133 on Linux') throw new Error('the browser reads: ' + browser);
    // The pre-chat name names the visitor, as text.
    await page.waitForFunction(() => document.querySelector('#conv-name').textContent === '<b>Zoë</b>');
    await shot('web-visitor-panel');
  });

  await stage("the agent's typing is sent while typing and stopped on send", async () => {
    const typing = (on) => (r) => r.url().endsWith(`/api/v1/sessions/${sessionId}/typing`)
      && r.request().method() === 'POST' && r.status() === 204
      && JSON.parse(r.request().postData() || '{}').typing === on;
    await page.click('[data-testid="composer"]');
    await Promise.all([page.waitForResponse(typing(true)), page.keyboard.type(REPLY)]);
    await Promise.all([page.waitForResponse(typing(false)), page.keyboard.press('Enter')]);
    await page.waitForSelector(message('outbound', REPLY));
  });

  await stage("the visitor's typing shows under the messages", async () => {
    await page.waitForSelector('[data-testid="visitor-typing"]:not([hidden])');
    const text = (await page.textContent('[data-testid="visitor-typing"]')).trim();
    if (text !== '<b>Zoë</b> is typing…') throw new Error('the indicator reads: ' + text);
    await shot('web-visitor-typing');
  });
}

await scenario.run(main);
