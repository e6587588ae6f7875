// The composer in a real browser (Debian's Chromium, driven by playwright-core): the SMS counter
// in septets, the emoji picker by keyboard, a file attached and sent, and the offer alerts setting.
//
// Run by hand (a server with the simulator on, an agent in the channel's queue, and a session of a
// channel that carries files owned by that agent):
//   node composer.mjs --url=http://127.0.0.1:8080 --agent=email:password --channel="Demo SMS" \
//     --mms-session=<uuid> [--customer=+14155550123] [--shots=/some/dir]
// Exits 0 when the scenario passed, 1 with the failing step (and screenshots) otherwise, 2 when
// started wrongly.

import { fileURLToPath } from 'node:url';
import { args, credentials, message, needs, Scenario, signIn, simulatorInbound, url } from './harness.mjs';

const agent = credentials(args.agent);
const mmsSession = args['mms-session'];
needs(url && agent && mmsSession, 'composer.mjs', '--url, --agent=email:password and --mms-session are required.');
const channel = args.channel || 'Demo SMS';
const customer = args.customer || '+1415555' + String(1000 + Math.floor(Math.random() * 8999));
const PNG = fileURLToPath(new URL('../../assets/parcel.png', import.meta.url));

const scenario = new Scenario('composer');
const stage = (name, fn) => scenario.stage(name, fn);
const counter = '[data-testid="segment-counter"]';

async function main() {
  const first = 'Hello, where is my parcel?';
  const page = await scenario.page('', { permissions: ['notifications'] });

  await stage('the agent signs in, goes available and accepts an SMS session', async () => {
    await signIn(page, agent);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/me/presence') && r.request().method() === 'PUT' && r.ok()),
      page.selectOption('[data-testid="presence"]', 'available'),
    ]);
    await simulatorInbound(channel, customer, first);
    await page.locator('[data-testid="offer"]', { hasText: first }).locator('[data-testid="offer-accept"]').click();
    await page.waitForSelector(message('inbound', first));
  });

  await stage('161 septets: 159 letters and a euro sign are two messages with 145 left', async () => {
    await page.fill('[data-testid="composer"]', 'a'.repeat(159) + '€');
    await page.waitForFunction((sel) => document.querySelector(sel).dataset.units === '161', counter);
    const text = await page.textContent(counter);
    if (text !== 'GSM-7 · 2 messages · 145 left') throw new Error('the counter says ' + JSON.stringify(text));
    const title = await page.getAttribute(counter, 'title');
    if (!/^161 septets, 160 of 840 characters/.test(title || '')) throw new Error('the title says ' + JSON.stringify(title));
    await page.fill('[data-testid="composer"]', 'a'.repeat(160));
    await page.waitForFunction((sel) => document.querySelector(sel).textContent === 'GSM-7 · 1 message · 0 left', counter);
  });

  await stage('the emoji picker by keyboard: arrows, Enter inserts at the caret, Escape closes', async () => {
    await page.fill('[data-testid="composer"]', 'Thanks !');
    // The caret between "Thanks " and "!".
    await page.evaluate(() => { const t = document.getElementById('body'); t.focus(); t.setSelectionRange(7, 7); });
    await page.click('[data-testid="emoji-open"]');
    await page.waitForSelector('[data-testid="emoji-picker"]:visible');
    const note = await page.isVisible('[data-testid="emoji-sms-note"]');
    if (!note) throw new Error('no note that emoji switch SMS to Unicode');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    const chosen = await page.evaluate(() => document.activeElement && document.activeElement.dataset.emoji);
    const expected = await page.evaluate(() => document.querySelectorAll('[data-testid="emoji"]')[10].dataset.emoji);
    if (!chosen || chosen !== expected) throw new Error(`the focus is on ${chosen}, not the 11th emoji ${expected}`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="emoji-picker"]', { state: 'hidden' });
    const value = await page.inputValue('[data-testid="composer"]');
    if (value !== 'Thanks ' + chosen + '!') throw new Error('the composer holds ' + JSON.stringify(value));
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
    if (focused !== 'body') throw new Error('the focus went to ' + focused);
    await page.waitForFunction((sel) => /^Unicode · 1 message · \d+ left$/.test(document.querySelector(sel).textContent), counter);
    // Open again for the picture, then Escape.
    await page.click('[data-testid="emoji-open"]');
    await page.waitForSelector('[data-testid="emoji-picker"]:visible');
    await scenario.shot('console-composer', page.locator('.conversation'));
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="emoji-picker"]', { state: 'hidden' });
  });

  await stage('no files on an SMS channel without MMS: the paperclip says why', async () => {
    await page.waitForFunction(() => document.querySelector('[data-testid="attach-open"]').disabled);
    const title = await page.getAttribute('[data-testid="attach-open"]', 'title');
    if (!/provider carries no files/.test(title || '')) throw new Error('the paperclip says ' + JSON.stringify(title));
  });

  await stage('the offer alerts setting toggles and stays', async () => {
    await page.check('[data-testid="offer-alerts"]');
    await page.waitForSelector('[data-testid="offer-alerts-state"][data-state="on"]');
    const note = await page.textContent('[data-testid="offer-alerts-state"]');
    if (!/^On:/.test(note || '')) throw new Error('the setting says ' + JSON.stringify(note));
    await page.reload();
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    if (!await page.isChecked('[data-testid="offer-alerts"]')) throw new Error('the setting was not kept');
    await page.uncheck('[data-testid="offer-alerts"]');
    await page.waitForSelector('[data-testid="offer-alerts-state"][data-state="off"]');
  });

  await stage('a file on an MMS session: refused by type before upload, then uploaded and sent', async () => {
    await page.click(`[data-testid="session-item"][data-session-id="${mmsSession}"]`);
    await page.waitForFunction(() => !document.querySelector('[data-testid="attach-open"]').disabled);
    await page.setInputFiles('[data-testid="attach-input"]', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await page.waitForSelector('.toast:has-text("does not send text/plain")');
    if (await page.isVisible('[data-testid="attachment"]')) throw new Error('a refused file was attached');
    await page.setInputFiles('[data-testid="attach-input"]', PNG);
    await page.waitForSelector('[data-testid="attachment"][data-state="ready"]');
    await page.fill('[data-testid="composer"]', 'Here is your label');
    await page.waitForFunction((sel) => document.querySelector(sel).dataset.characters === '18', counter);
    await page.locator('.toast .toast-close').evaluateAll((bs) => bs.forEach((b) => b.click()));
    await scenario.shot('console-upload', page.locator('.conversation'));
    await page.press('[data-testid="composer"]', 'Enter');
    const sent = message('outbound', 'Here is your label');
    await page.waitForSelector(`${sent} a.media`);
    await page.waitForSelector('[data-testid="attachment"]', { state: 'hidden' });
    const left = await page.inputValue('[data-testid="composer"]');
    if (left !== '') throw new Error('the composer was not cleared');
    await scenario.shot('console-upload-sent', page.locator('.conversation'));
  });
}

scenario.run(main);
