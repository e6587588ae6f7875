// The agent console in a real browser (Debian's Chromium, driven by playwright-core).
//
// How to run it by hand:
//   1. Install the browser and the locked npm packages once: `scripts/browser-deps.sh`.
//   2. Start the demo in one terminal: `cargo run -p parley -- demo` (it prints its URL; the
//      simulator is on, the "Demo SMS" channel and the agents Ada and Sam exist). Give both agents
//      a console password the way the server offers it, for example the CLI or API the demo prints.
//   3. In another terminal, from this directory:
//        PARLEY_URL=http://127.0.0.1:8080 \
//        AGENT1_EMAIL=ada@demo.parley.test AGENT1_PASSWORD=... \
//        AGENT2_EMAIL=sam@demo.parley.test AGENT2_PASSWORD=... \
//        node console.mjs
//      or the same as arguments: `node console.mjs --url=... --agent1=email:password
//      --agent2=email:password [--channel="Demo SMS"] [--customer=+447400123456]`.
//      Both agents must be members of the channel's queue. Set HEADFUL=1 to watch it.
// It exits 0 when the whole scenario passed, 1 with the failing step (and a screenshot path)
// otherwise, 2 when it was started wrongly.
//
// The scenario: agent 1 signs in and goes Available; a customer's SMS arrives through the simulator;
// the offer shows the first message and agent 1 accepts; agent 1 replies (Enter sends) and the
// customer, on the simulator phone page, sees the reply and answers; the answer appears live; a
// message carrying a script tag is shown as text and never runs; agent 1 transfers to agent 2
// (signed in in a second browser), who accepts; agent 1 no longer has the session; agent 2 ends it.

import {
  args, credentials, message, needs, Scenario, signIn as enter, simulatorInbound, url,
} from './harness.mjs';

const config = {
  url,
  agent1: credentials(args.agent1, 'AGENT1_EMAIL', 'AGENT1_PASSWORD'),
  agent2: credentials(args.agent2, 'AGENT2_EMAIL', 'AGENT2_PASSWORD'),
  channel: args.channel || process.env.SIM_CHANNEL || 'Demo SMS',
  // A new customer per run, so earlier runs' history does not get in the way.
  customer: args.customer || process.env.CUSTOMER || '+447400' + String(100000 + Math.floor(Math.random() * 899999)),
};
needs(url, 'console.mjs', 'the server\'s URL is missing (--url=... or PARLEY_URL).');
for (const who of ['agent1', 'agent2']) {
  needs(config[who], 'console.mjs', `${who}'s e-mail and password are missing (--${who}=email:password or ${who.toUpperCase()}_EMAIL/_PASSWORD).`);
}

const scenario = new Scenario('console');
const browser = (label) => scenario.browser(label);
const at = (name, fn) => scenario.stage(name, fn);
const customerSays = (text) => simulatorInbound(config.channel, config.customer, text);

/** Signs in and waits until the console's live stream is connected. */
async function signIn(page, who) {
  await enter(page, who);
  await page.waitForSelector('[data-testid="connection"][data-state="live"]');
}

async function setPresence(page, presence) {
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/me/presence') && r.request().method() === 'PUT' && r.ok()),
    page.selectOption('[data-testid="presence"]', presence),
  ]);
}

const sessionItem = (id) => `[data-testid="session-item"][data-session-id="${id}"]`;

async function main() {
  const first = 'Hello, my parcel has not arrived. Can you help?';
  const reply = 'Sorry to hear that! Let me check your order.';
  const answer = 'Thank you, the order number is 12345.';
  const hostile = '<script>window.__xss=1</script>';

  const one = await browser('agent 1');
  const two = await browser('agent 2');
  const p1 = one.pages()[0] || await one.newPage();
  const p2 = two.pages()[0] || await two.newPage();

  await at('agent 1 signs in', () => signIn(p1, config.agent1));
  await at('agent 2 signs in and stays away for now', async () => {
    await signIn(p2, config.agent2);
    await setPresence(p2, 'busy');
  });
  await at('agent 1 goes available', () => setPresence(p1, 'available'));

  await at('a customer SMS arrives', () => customerSays(first));

  const sessionId = await at('the offer shows the first message (AG-02)', async () => {
    const offer = p1.locator('[data-testid="offer"]', { has: p1.locator('[data-testid="offer-first-message"]', { hasText: first }) });
    await offer.waitFor();
    return offer.getAttribute('data-session-id');
  });
  if (!sessionId) throw new Error('the offer has no session id');

  await at('agent 1 accepts', async () => {
    await p1.click(`[data-testid="offer"][data-session-id="${sessionId}"] [data-testid="offer-accept"]`);
    await p1.waitForSelector(sessionItem(sessionId));
    await p1.waitForSelector(`[data-testid="offer"][data-session-id="${sessionId}"]`, { state: 'detached' });
    await p1.waitForSelector(message('inbound', first));
  });

  await at('agent 1 replies with Enter, and sees the segment counter', async () => {
    await p1.click('[data-testid="composer"]');
    await p1.keyboard.type(reply);
    await p1.waitForFunction(() => {
      const c = document.querySelector('[data-testid="segment-counter"]');
      return c && Boolean(c.dataset.segments) && /GSM-7/.test(c.textContent || '');
    });
    await p1.keyboard.press('Enter');
    await p1.waitForSelector(message('outbound', reply));
    await p1.waitForSelector(`${message('outbound', reply)}:is([data-status="sent"], [data-status="delivered"], [data-status="read"])`);
    await p1.waitForFunction(() => document.querySelector('[data-testid="composer"]').value === '')
      .catch(() => { throw new Error('the composer was not cleared after sending'); });
  });

  await at('the customer sees the reply on the simulator phone and answers', async () => {
    const phone = await one.newPage();
    await phone.goto(config.url + '/simulator');
    await phone.waitForSelector('[data-testid="sim-channel"] option[value]:not([value=""])', { state: 'attached' });
    const value = await phone.$eval('[data-testid="sim-channel"]', (select, name) => {
      const opt = Array.from(select.options).find((o) => o.textContent.startsWith(name + ' ('));
      return opt ? opt.value : null;
    }, config.channel);
    if (!value) throw new Error(`the simulator phone does not offer the channel ${config.channel}`);
    await phone.selectOption('[data-testid="sim-channel"]', value);
    await phone.fill('[data-testid="sim-from"]', config.customer);
    await phone.dispatchEvent('[data-testid="sim-from"]', 'change');
    await phone.waitForSelector(`[data-testid="sim-message"][data-direction="outbound"]:has-text(${JSON.stringify(reply)})`);
    await phone.fill('[data-testid="sim-text"]', answer);
    await phone.press('[data-testid="sim-text"]', 'Enter');
    await phone.waitForSelector(`[data-testid="sim-message"][data-direction="inbound"]:has-text(${JSON.stringify(answer)})`);
    await phone.close();
  });

  await at("agent 1 sees the customer's answer live", () => p1.waitForSelector(message('inbound', answer)));

  await at('a message with a script tag is shown as text and does not run', async () => {
    await customerSays(hostile);
    await p1.waitForSelector(message('inbound', hostile));
    const ran = await p1.evaluate(() => window.__xss);
    if (ran !== undefined) throw new Error('the customer\'s script ran in the console');
    const injected = await p1.$$eval('[data-testid="message-list"] script', (s) => s.length);
    if (injected) throw new Error('a script element was created from customer text');
  });

  const agent2Name = await p2.evaluate(() => document.body.dataset.agentName);
  await at('agent 2 becomes available', () => setPresence(p2, 'available'));

  await at('agent 1 transfers to agent 2', async () => {
    await p1.click('[data-testid="transfer"]');
    await p1.fill('[data-testid="transfer-search"]', agent2Name);
    const target = p1.locator('[data-testid="transfer-target"]', { hasText: agent2Name }).first();
    await target.click();
  });

  await at('agent 2 gets the offer and accepts', async () => {
    const accept = `[data-testid="offer"][data-session-id="${sessionId}"] [data-testid="offer-accept"]`;
    await p2.waitForSelector(accept);
    await p2.click(accept);
    await p2.waitForSelector(sessionItem(sessionId));
    // The whole history came along, still as text.
    await p2.waitForSelector(message('inbound', hostile));
    if (await p2.evaluate(() => window.__xss) !== undefined) throw new Error('the script ran for agent 2');
  });

  await at('agent 1 no longer has the session', () => p1.waitForSelector(sessionItem(sessionId), { state: 'detached' }));

  await at('agent 2 ends it', async () => {
    await p2.click(sessionItem(sessionId) + ' button');
    await p2.click('[data-testid="end"]');
    await p2.click('[data-testid="end-confirm"]');
    await p2.waitForSelector(sessionItem(sessionId), { state: 'detached' });
    await p2.waitForSelector('[data-testid="session-status"][data-status="ended"]');
  });
}

await scenario.run(main);
