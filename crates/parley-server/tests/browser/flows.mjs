// The Flows area and the bot's part of a conversation in a real browser (Debian's Chromium, driven
// by playwright-core): an admin imports a small flow by pasting it, sees it in the list (its
// description with markup shown as text), opens it with the keyboard, reads its steps as cards,
// plays the customer in the test panel with two replies and sees the bot's answers and where the
// run ended, exports it as YAML, fails to import a broken flow and reads the error naming the
// step, cannot delete a flow a conversation is in (409 shown), deletes the imported one; then
// opens a conversation a channel bot holds and sees the Bot section: the flow, how it started,
// its status and what it collected, the customer's text shown as text.
//
// Run by hand: `node flows.mjs --url=http://127.0.0.1:8080 --user=email:password
//   --session=<id of a session held by a bot> --bot=<its flow's name> [--shots=/tmp/shots]`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { readFileSync } from 'node:fs';
import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const user = credentials(args.user);
needs(url && user && args.session && args.bot, 'flows.mjs', '--url, --user=email:password, --session and --bot are required.');

// Its webhook goes nowhere (the discard port): answered or not, the run goes on to "bye".
const FLOW = `name: feedback
description: Scores <b>and</b> comments after a conversation.
steps:
  - id: ask_score
    type: ask
    message: { text: "How did we do? Reply with a number from 1 to 5." }
    save_as: score
    cases:
      - when: { type: number_between, min: 1, max: 5 }
        next: ask_comment
      - when: { type: keyword, words: [agent, human] }
        next: to_agent
    invalid: { text: "Please reply with a number from 1 to 5." }
    other: to_agent
    timeout: { after_seconds: 3600, next: bye }
  - id: ask_comment
    type: ask
    message: { text: "Thanks! Anything you want to tell us?" }
    save_as: comment
    cases:
      - when: { type: any }
        next: notify
  - id: notify
    type: webhook
    url: "http://127.0.0.1:9/feedback"
    timeout_ms: 300
    retries: 0
    next: bye
    on_error: bye
  - id: bye
    type: end
    message: { text: "Thank you, your {{flow.score}} is noted. Goodbye!" }
  - id: to_agent
    type: handoff
    queue: Support
    message: { text: "Connecting you to a person." }
`;

const BROKEN = `name: broken
steps:
  - id: start
    type: ask
    message: { text: "Yes or no?" }
    cases:
      - when: { type: keyword, words: ["yes"] }
        next: nowhere
`;

const scenario = new Scenario('flows');
const stage = (name, fn) => scenario.stage(name, fn);
let page = null;
const shot = (name) => scenario.shot(name, page);
const text = (sel) => page.locator(sel).first().textContent();

async function main() {
  page = await scenario.page('', { acceptDownloads: true });

  await stage('admin signs in and finds Flows in the navigation', async () => {
    await signIn(page, user);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console/flows'),
      page.click('nav.nav a[href="/console/flows"]'),
    ]);
    await page.waitForSelector('[data-testid="flow-list"]');
  });

  await stage('imports a flow by pasting it and sees it in the list, its description as text', async () => {
    await page.click('[data-testid="flow-import-open"]');
    await page.fill('[data-testid="flow-import-text"]', FLOW);
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/flows') && r.request().method() === 'POST' && r.status() === 201),
      page.click('[data-testid="flow-import-submit"]'),
    ]);
    await page.waitForURL(/#flow\/feedback$/);
    await page.waitForSelector('[data-testid="flow-steps"]');
    await page.click('a[href="#flows"]');
    const row = page.locator('[data-testid="flow-list"] tr[data-name="feedback"]');
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    if (!cells[0].includes('Scores <b>and</b> comments')) throw new Error('the row reads: ' + cells.join(' | '));
    if (await row.locator('b').count()) throw new Error('the description was parsed as markup');
    if (cells[1] !== 'Service bot' || cells[2] !== '1' || cells[3] !== '5' || cells[4] !== 'none' || cells[5] !== 'just now') {
      throw new Error('the row reads: ' + cells.join(' | '));
    }
    const bot = await page.locator(`[data-testid="flow-list"] tr[data-name="${args.bot}"] td`).nth(4).textContent();
    if (bot !== '1 conversation in it now') throw new Error('the bot\'s row reads: ' + bot);
    await shot('1-flows-list');
  });

  await stage('opens the flow with the keyboard and reads its steps and branches', async () => {
    const links = page.locator('[data-testid="flow-list"] a.flow-link');
    const names = await links.allTextContents();
    const target = names.indexOf('feedback');
    await links.last().focus();
    for (let i = names.length - 1; i > target; i -= 1) await page.keyboard.press('ArrowUp');
    await Promise.all([page.waitForURL(/#flow\/feedback$/), page.keyboard.press('Enter')]);
    await page.waitForSelector('[data-testid="flow-steps"]');
    const kinds = await page.locator('[data-testid="flow-step-kind"]').allTextContents();
    if (kinds.join(',') !== 'Ask,Ask,Call webhook,End,Hand off') throw new Error('the steps read: ' + kinds.join(','));
    const cases = await page.locator('#step-ask_score [data-testid="flow-case"]').allTextContents();
    if (!cases[0].startsWith('If the reply is a number from 1 to 5') || !cases[0].endsWith('ask_comment')) {
      throw new Error('the first case reads: ' + cases[0]);
    }
    if (!cases[1].includes('“agent” or “human”')) throw new Error('the keyword case reads: ' + cases[1]);
    const timeout = await text('#step-ask_score [data-testid="flow-timeout"]');
    if (!/no reply within 1 hour/.test(timeout) || !timeout.endsWith('bye')) throw new Error('the timeout reads: ' + timeout);
    const invalid = await text('#step-ask_score [data-testid="flow-invalid"]');
    if (!invalid.includes('Please reply with a number from 1 to 5.') || !invalid.includes('to_agent')) throw new Error('the invalid branch reads: ' + invalid);
    const hook = await text('#step-notify');
    if (!hook.includes('http://127.0.0.1:9/feedback') || !/If it fails.*bye/.test(hook)) throw new Error('the webhook reads: ' + hook);
    // A branch's target is an in-page link to its card.
    await page.click('#step-ask_score a.step-ref[data-step="to_agent"]');
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'step-to_agent');
  });

  await stage('plays the customer in the test panel and sees the bot answer', async () => {
    const lines = page.locator('[data-testid="flow-line"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="flow-line"]').length >= 1);
    for (const reply of ['4', 'Quick and kind <3']) {
      const n = await lines.count();
      await page.fill('[data-testid="flow-test-reply"]', reply);
      await page.press('[data-testid="flow-test-reply"]', 'Enter');
      await page.waitForFunction((k) => document.querySelectorAll('[data-testid="flow-line"]').length > k, n);
    }
    await page.waitForFunction(() => /Ended/.test(document.querySelector('[data-testid="flow-test-state"]').textContent));
    const bot = await page.locator('[data-testid="flow-line"][data-from="bot"]').allTextContents();
    const said = bot.map((b) => b.replace(/Bot$/, ''));
    const want = ['How did we do? Reply with a number from 1 to 5.', 'Thanks! Anything you want to tell us?', 'Thank you, your 4 is noted. Goodbye!'];
    if (JSON.stringify(said) !== JSON.stringify(want)) throw new Error('the bot said: ' + JSON.stringify(said));
    const customer = await page.locator('[data-testid="flow-line"][data-from="customer"]').allTextContents();
    if (!customer[1].startsWith('Quick and kind <3')) throw new Error('the customer said: ' + customer.join(' | '));
    const where = await text('[data-testid="flow-test-state"]');
    if (where !== 'Ended: the flow completed (at step “bye”)') throw new Error('the state reads: ' + where);
    const fields = await text('[data-testid="flow-test-fields"]');
    if (!fields.includes('score4')) throw new Error('the collected fields read: ' + fields);
    await shot('2-flow-detail-tested');
    await page.click('[data-testid="flow-test-reset"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="flow-line"]').length === 1
      && /Waiting for the customer’s reply at step “ask_score”/.test(document.querySelector('[data-testid="flow-test-state"]').textContent));
  });

  await stage('exports the flow as a YAML file', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="flow-export"]')]);
    if (download.suggestedFilename() !== 'feedback.yaml') throw new Error('the file is named ' + download.suggestedFilename());
    const yaml = readFileSync(await download.path(), 'utf8');
    if (!/^name: feedback$/m.test(yaml) || !/type: number_between/.test(yaml)) throw new Error('the export reads: ' + yaml.slice(0, 200));
  });

  await stage('a broken flow is refused with the step named', async () => {
    await page.click('a[href="#flows"]');
    await page.click('[data-testid="flow-import-open"]');
    await page.fill('[data-testid="flow-import-text"]', BROKEN);
    await page.click('[data-testid="flow-import-submit"]');
    const error = page.locator('[data-testid="flow-import-error"]');
    await error.waitFor();
    const said = await error.textContent();
    if (!said.includes('This flow was not imported.') || !said.includes('Step start:') || !said.includes('"nowhere" is not a step')) {
      throw new Error('the error reads: ' + said);
    }
    if (await page.locator('[data-testid="flow-list"] tr[data-name="broken"]').count()) throw new Error('the broken flow is listed');
    await shot('3-import-refused');
  });

  await stage('a flow a conversation is in is not deleted; the imported one is', async () => {
    await page.goto(url + '/console/flows#flow/' + args.bot);
    await page.waitForSelector('[data-testid="flow-steps"]');
    await page.click('[data-testid="flow-delete"]');
    await page.click('[data-testid="confirm-yes"]');
    const refused = await page.locator('[data-testid="flow-delete-error"]').textContent();
    if (!refused.startsWith('Not deleted: ')) throw new Error('the refusal reads: ' + refused);
    // A change of hash only: wait for the feedback flow itself, not the steps still shown.
    await page.goto(url + '/console/flows#flow/feedback');
    await page.waitForSelector('[data-testid="flow-steps"][data-flow="feedback"]');
    await page.click('[data-testid="flow-delete"]');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/flows/feedback') && r.request().method() === 'DELETE' && r.status() === 204),
      page.click('[data-testid="confirm-yes"]'),
    ]);
    await page.waitForSelector('[data-testid="flow-list"]');
    if (await page.locator('[data-testid="flow-list"] tr[data-name="feedback"]').count()) throw new Error('the deleted flow is still listed');
  });

  await stage('the agent view shows the bot\'s part of the conversation, customer text as text', async () => {
    await page.goto(url + '/console#session=' + args.session);
    const panel = page.locator('[data-testid="bot-panel"]');
    await panel.waitFor();
    const flow = await panel.locator('[data-testid="bot-flow"]').textContent();
    if (flow !== args.bot) throw new Error('the flow reads: ' + flow);
    const facts = await panel.locator('.facts').first().textContent();
    if (!facts.includes('Started bychannel bot')) throw new Error('the facts read: ' + facts);
    const status = await panel.locator('[data-testid="bot-status"]').textContent();
    const at = await panel.locator('[data-testid="bot-step"]').textContent();
    if (status !== 'Waiting for the customer' || at !== ' at step ask_order') throw new Error('the status reads: ' + status + at);
    const notice = await page.locator('#conv-notice').textContent();
    if (notice !== 'The bot “' + args.bot + '” is answering this conversation. You can read its history.') {
      throw new Error('the notice reads: ' + notice);
    }
    const rows = await panel.locator('[data-testid="bot-fields"] tr').allTextContents();
    if (!rows.includes('name<img src=x onerror=alert(1)> Ada')) throw new Error('the fields read: ' + rows.join(' | '));
    if (await panel.locator('img').count()) throw new Error('the customer\'s text was parsed as markup');
    await shot('4-agent-bot-section');
  });
}

await scenario.run(main);
