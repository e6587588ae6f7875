// Options and link cards from the agent console, in a real browser (Debian's Chromium, driven by
// playwright-core).
//
// Run by hand like console.mjs (a server with the simulator on, an agent in the channel's queue):
//   node components.mjs --url=http://127.0.0.1:8080 --agent=email:password \
//     [--channel="Demo SMS"] [--customer=+14155550123] [--shots=/some/dir]
// Exits 0 when the scenario passed, 1 with the failing step (and screenshots) otherwise, 2 when
// started wrongly.
//
// The scenario: the agent signs in and goes Available; a customer's SMS opens a session and the
// agent accepts it; Alt+O opens the Options panel; a question with 3 options is written (Send waits
// until every option has a title) and the live preview shows the numbered text an SMS customer
// reads; it is sent, and the timeline shows it as numbered chips; the customer answers "2" and the
// timeline marks "chose: <second option>"; a link card is sent and shown as a card (its title as
// text); a question too long for SMS is refused by the API and the panel says why. Screenshots of
// the panel, the timeline and the refusal go to --shots.

import { args, credentials, message, needs, Scenario, signIn, simulatorInbound, url } from './harness.mjs';

const agent = credentials(args.agent);
needs(url && agent, 'components.mjs', '--url and --agent=email:password are required.');
const channel = args.channel || 'Demo SMS';
const customer = args.customer || '+1415555' + String(1000 + Math.floor(Math.random() * 8999));

const scenario = new Scenario('components');
const stage = (name, fn) => scenario.stage(name, fn);
const shot = (name, locator) => scenario.shot(name, locator);
const inbound = (text) => simulatorInbound(channel, customer, text);

async function main() {
  const first = 'Hi, my new sofa is ready. When can you deliver it?';
  const question = 'When should we deliver?';
  const options = ['Tomorrow morning', 'Tomorrow afternoon', 'Next week'];

  const page = await scenario.page();

  await stage('the agent signs in and goes available', async () => {
    await signIn(page, agent);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/me/presence') && r.request().method() === 'PUT' && r.ok()),
      page.selectOption('[data-testid="presence"]', 'available'),
    ]);
  });

  await stage('a customer writes; the agent accepts the session', async () => {
    await inbound(first);
    const accept = page.locator('[data-testid="offer"]', { hasText: first }).locator('[data-testid="offer-accept"]');
    await accept.click();
    await page.waitForSelector(message('inbound', first));
  });

  await stage('Alt+O opens the Options panel with the focus in the question', async () => {
    await page.click('[data-testid="composer"]');
    await page.keyboard.press('Alt+KeyO');
    await page.waitForSelector('[data-testid="component-panel"]:visible');
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
    if (focused !== 'opt-text') throw new Error('the focus is on ' + JSON.stringify(focused));
    if (!await page.isDisabled('[data-testid="component-send"]')) throw new Error('Send is enabled on an empty question');
  });

  await stage('a question with three options: Send waits for every title, the preview follows', async () => {
    await page.keyboard.type(question);
    const rows = page.locator('[data-testid="component-option"]');
    if (await rows.count() !== 2) throw new Error('the panel does not start with two option rows');
    await rows.nth(0).fill(options[0]);
    // Enter moves to the next option, and after the last one adds a row.
    await rows.nth(0).press('Enter');
    await page.keyboard.type(options[1]);
    await page.keyboard.press('Enter');
    if (await rows.count() !== 3) throw new Error('Enter in the last option did not add a row');
    const hint = await page.textContent('[data-testid="component-hint"]');
    if (!/Option 3 has no title/.test(hint || '')) throw new Error('the hint says ' + JSON.stringify(hint));
    if (!await page.isDisabled('[data-testid="component-send"]')) throw new Error('Send is enabled with an empty option');
    await page.keyboard.type(options[2]);
    const want = [question, ...options.map((o, i) => `${i + 1}. ${o}`)].join('\n');
    await page.waitForFunction((w) => document.querySelector('[data-testid="component-preview"]').textContent === w, want);
    const note = await page.textContent('[data-testid="component-native-note"]');
    if (note.trim() !== 'WhatsApp and Messenger show buttons or a list.') throw new Error('the note says ' + JSON.stringify(note));
    await page.waitForFunction(() => /1 segment/.test(document.querySelector('[data-testid="component-fit"]').textContent));
    if (await page.isDisabled('[data-testid="component-send"]')) throw new Error('Send is still disabled');
    // The reply box is untouched: Enter in the panel never sent it.
    if (await page.inputValue('[data-testid="composer"]') !== '') throw new Error('the panel wrote into the reply box');
    await shot('h5-composer-panel', page.locator('.conversation'));
  });

  await stage('sent: the timeline shows the question with its options as numbered chips', async () => {
    const [res] = await Promise.all([
      page.waitForResponse((r) => /\/api\/v1\/sessions\/[^/]+\/messages$/.test(r.url()) && r.request().method() === 'POST'),
      page.click('[data-testid="component-send"]'),
    ]);
    const sent = res.request().postDataJSON();
    if ('body' in sent) throw new Error('the request carried a body: ' + JSON.stringify(sent));
    const ids = sent.component.options.map((o) => o.id).join(',');
    if (ids !== 'tomorrow-morning,tomorrow-afternoon,next-week') throw new Error('option ids ' + ids);
    if (res.status() !== 201) throw new Error(`the API answered ${res.status()}`);
    await page.waitForSelector('[data-testid="component-panel"]', { state: 'hidden' });
    const bubble = page.locator(message('outbound', question));
    await bubble.waitFor();
    const chips = await bubble.locator('[data-testid="message-option"]').allTextContents();
    const wantChips = options.map((o, i) => `${i + 1}. ${o}`);
    if (JSON.stringify(chips) !== JSON.stringify(wantChips)) throw new Error('chips ' + JSON.stringify(chips));
    if (await bubble.locator('[data-testid="message-option"] button, [data-testid="message-option"] a').count()) {
      throw new Error('an option chip is interactive');
    }
  });

  await stage('the customer answers "2": the timeline marks the choice', async () => {
    await inbound('2');
    const reply = page.locator(message('inbound', '2'));
    await reply.waitFor();
    const chose = (await reply.locator('[data-testid="message-choice"]').textContent()).trim();
    if (chose !== 'chose: ' + options[1]) throw new Error('the reply is marked ' + JSON.stringify(chose));
    const marked = await page.locator(message('outbound', question) + ' [data-testid="message-option"].chosen').allTextContents();
    if (JSON.stringify(marked) !== JSON.stringify(['2. ' + options[1]])) throw new Error('chosen chip ' + JSON.stringify(marked));
    // The customer's first message answered nothing: it is not marked.
    if (await page.locator(message('inbound', first) + ' [data-testid="message-choice"]').count()) {
      throw new Error('a message before the question is marked as a choice');
    }
  });

  await stage('a link card: its preview, then a card with its title and URL in the timeline', async () => {
    await page.keyboard.press('Alt+KeyO');
    await page.waitForSelector('[data-testid="component-panel"]:visible');
    await page.check('[data-testid="component-kind-link"]');
    await page.fill('[data-testid="component-link-text"]', 'Your delivery slot, and how to change it:');
    await page.fill('[data-testid="component-link-title"]', 'My <b>delivery</b>');
    await page.fill('[data-testid="component-link-url"]', 'ftp://example.com/d/42');
    const hint = await page.textContent('[data-testid="component-hint"]');
    if (!/http:\/\/ or https:\/\//.test(hint || '')) throw new Error('the hint says ' + JSON.stringify(hint));
    await page.fill('[data-testid="component-link-url"]', 'https://example.com/d/42');
    const want = 'Your delivery slot, and how to change it:\nMy <b>delivery</b>\nhttps://example.com/d/42';
    await page.waitForFunction((w) => document.querySelector('[data-testid="component-preview"]').textContent === w, want);
    await page.click('[data-testid="component-send"]');
    const card = page.locator(message('outbound', 'Your delivery slot, and how to change it:') + ' [data-testid="message-link"]');
    await card.waitFor();
    const title = await card.locator('.link-title').textContent();
    if (title !== 'My <b>delivery</b>') throw new Error('the card title reads ' + JSON.stringify(title));
    if (await card.locator('b').count()) throw new Error('markup in a title was parsed');
    const href = await card.locator('a').getAttribute('href');
    if (href !== 'https://example.com/d/42') throw new Error('the card links to ' + href);
    await shot('h5-timeline', page.locator('.conversation'));
  });

  await stage('a question too long for SMS: the API refuses it and the panel says why', async () => {
    await page.keyboard.press('Alt+KeyO');
    await page.waitForSelector('[data-testid="component-panel"]:visible');
    await page.fill('[data-testid="component-text"]', 'Which of these suits you best? '.repeat(40).trim());
    const rows = page.locator('[data-testid="component-option"]');
    await rows.nth(0).fill('Yes');
    await rows.nth(1).fill('No');
    const [res] = await Promise.all([
      page.waitForResponse((r) => /\/api\/v1\/sessions\/[^/]+\/messages$/.test(r.url()) && r.request().method() === 'POST'),
      page.click('[data-testid="component-send"]'),
    ]);
    if (res.status() !== 422) throw new Error(`the API answered ${res.status()}`);
    const error = page.locator('[data-testid="component-error"]');
    await error.waitFor();
    const text = (await error.textContent()).trim();
    if (!text.startsWith('Not sent: ') || text.length < 'Not sent: '.length + 5) throw new Error('the panel says ' + JSON.stringify(text));
    if (!await page.isVisible('[data-testid="component-panel"]')) throw new Error('the panel closed on an error');
    await page.waitForFunction(() => /9 segments/.test(document.querySelector('[data-testid="component-fit"]').textContent));
    await shot('h5-panel-error', page.locator('.conversation'));
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="component-panel"]', { state: 'hidden' });
  });
}

await scenario.run(main);
