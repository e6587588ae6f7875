// Internal notes, whispers and tags in the agent console (issue 15), in a real browser.
//
// Run by the server's test `notes_browser::notes_and_tags_in_a_real_browser`, or by hand against
// a server with the simulator on: `node notes.mjs --url=... --agent=email:password
// --other=email:password --supervisor=email:password --channel="Desk SMS" --customer=+44...`
// (the agent and the other agent in the channel's queue; the vocabulary holding the tags `vip`,
// `billing` and `wholesale`; a contact with the customer's number). Exit codes as harness.mjs.
//
// The scenario: the agent accepts a customer's SMS; switches the composer to Internal note with
// Alt+N (the composer turns note-coloured, the SMS counter goes), writes a note with Enter, sees it
// in the timeline as a note, switches back with Alt+N and replies; adds session and contact tags
// from suggestions with the keyboard only (type, ↓, Enter, Backspace); a supervisor whispers to
// the agent through the API, and the whisper shows live to the agent; the supervisor, reading the
// conversation without working it, adds a note from the note box that stands in for the composer;
// another agent reading the same conversation sees the notes but not the whisper.

import { args, credentials, needs, Scenario, signIn as enter, simulatorInbound, url } from './harness.mjs';

const config = {
  agent: credentials(args.agent, 'AGENT_EMAIL', 'AGENT_PASSWORD'),
  other: credentials(args.other, 'OTHER_EMAIL', 'OTHER_PASSWORD'),
  supervisor: credentials(args.supervisor, 'SUPERVISOR_EMAIL', 'SUPERVISOR_PASSWORD'),
  channel: args.channel || 'Desk SMS',
  customer: args.customer || '+447400' + String(100000 + Math.floor(Math.random() * 899999)),
};
needs(url, 'notes.mjs', 'the server\'s URL is missing (--url=...).');
for (const who of ['agent', 'other', 'supervisor']) {
  needs(config[who], 'notes.mjs', `--${who}=email:password is missing.`);
}

const scenario = new Scenario('notes');
const at = (name, fn) => scenario.stage(name, fn);

async function signIn(page, who) {
  await enter(page, who);
  await page.waitForSelector('[data-testid="connection"][data-state="live"]');
}

async function main() {
  const p1 = await scenario.page('agent');
  await at('the agent signs in and goes available', async () => {
    await signIn(p1, config.agent);
    await Promise.all([
      p1.waitForResponse((r) => r.url().endsWith('/api/v1/me/presence') && r.ok()),
      p1.selectOption('[data-testid="presence"]', 'available'),
    ]);
  });
  await at('a customer writes', () => simulatorInbound(config.channel, config.customer, 'I was charged twice for order 4411.'));
  const sessionId = await at('the agent accepts', async () => {
    const offer = p1.locator('[data-testid="offer"]').first();
    await offer.waitFor();
    const id = await offer.getAttribute('data-session-id');
    await offer.locator('[data-testid="offer-accept"]').click();
    await p1.waitForSelector('[data-testid="message"][data-direction="inbound"]');
    return id;
  });

  const note = 'Double charge confirmed in the billing tool; refund pending.';
  await at('Alt+N switches the composer to an internal note', async () => {
    await p1.click('[data-testid="composer"]');
    await p1.keyboard.press('Alt+n');
    await p1.waitForSelector('#composer.note-mode [data-testid="note-body"]:visible');
    if (await p1.isVisible('[data-testid="segment-counter"]')) throw new Error('the SMS counter shows in note mode');
    if (await p1.isVisible('[data-testid="composer"]')) throw new Error('the reply box shows in note mode');
    const focused = await p1.evaluate(() => document.activeElement && document.activeElement.id);
    if (focused !== 'note-body') throw new Error('the note box is not focused: ' + focused);
  });
  await at('Enter adds the note, shown as a note in the timeline', async () => {
    await p1.keyboard.type(note);
    await p1.keyboard.press('Enter');
    const item = p1.locator('[data-testid="note"]', { has: p1.locator('[data-testid="note-text"]', { hasText: note }) });
    await item.waitFor();
    const head = await item.locator('[data-testid="note-head"]').innerText();
    if (!/Internal note/.test(head)) throw new Error('the note head says: ' + head);
    await scenario.shot('console-notes', p1);
  });
  await at('Alt+N switches back and a reply goes to the customer', async () => {
    await p1.keyboard.press('Alt+n');
    await p1.waitForSelector('[data-testid="composer"]:visible');
    if (await p1.isVisible('[data-testid="note-body"]')) throw new Error('the note box still shows');
    await p1.keyboard.type('We are refunding the second charge now.');
    await p1.keyboard.press('Enter');
    await p1.waitForSelector('[data-testid="message"][data-direction="outbound"]');
  });

  await at('session tags from suggestions with the keyboard', async () => {
    const input = '[data-testid="session-tag-input"]';
    await p1.click(input);
    await p1.keyboard.type('vi');
    await p1.waitForSelector('[data-testid="session-tag-option"][data-tag="vip"]');
    await Promise.all([
      p1.waitForResponse((r) => r.url().includes(`/api/v1/sessions/${sessionId}/tags`) && r.ok()),
      p1.keyboard.press('Enter'),
    ]);
    await p1.keyboard.type('bil');
    await p1.waitForSelector('[data-testid="session-tag-option"][data-tag="billing"]');
    await p1.keyboard.press('ArrowDown');
    await p1.keyboard.press('ArrowUp');
    await Promise.all([
      p1.waitForResponse((r) => r.url().includes(`/api/v1/sessions/${sessionId}/tags`) && r.ok()),
      p1.keyboard.press('Enter'),
    ]);
    await p1.waitForSelector('[data-testid="session-tag"][data-tag="billing"]');
    // Tags show as stored (alphabetical): billing, vip. Backspace in the empty box removes the
    // last one; picking it again brings it back.
    await p1.waitForFunction(() => [...document.querySelectorAll('[data-testid="session-tag"]')]
      .map((e) => e.dataset.tag).join(',') === 'billing,vip')
      .catch(() => { throw new Error('the saved tags never read billing, vip'); });
    await Promise.all([
      p1.waitForResponse((r) => r.url().includes(`/api/v1/sessions/${sessionId}/tags`) && r.ok()),
      p1.keyboard.press('Backspace'),
    ]);
    await p1.waitForSelector('[data-testid="session-tag"][data-tag="vip"]', { state: 'detached' });
    await p1.keyboard.type('v');
    await p1.waitForSelector('[data-testid="session-tag-option"][data-tag="vip"]');
    await Promise.all([
      p1.waitForResponse((r) => r.url().includes(`/api/v1/sessions/${sessionId}/tags`) && r.ok()),
      p1.keyboard.press('Enter'),
    ]);
    await p1.waitForSelector('[data-testid="session-tag"][data-tag="vip"]');
    const tags = await p1.locator('[data-testid="session-tag"]').evaluateAll((els) => els.map((e) => e.dataset.tag));
    if (tags.join(',') !== 'billing,vip') throw new Error('session tags: ' + tags.join(','));
  });
  await at('a contact tag from suggestions', async () => {
    await p1.waitForSelector('[data-testid="contact-tag-input"]:visible');
    await p1.click('[data-testid="contact-tag-input"]');
    await p1.keyboard.type('who');
    await p1.waitForSelector('[data-testid="contact-tag-option"][data-tag="wholesale"]');
    await Promise.all([
      p1.waitForResponse((r) => /\/api\/v1\/contacts\/[^/]+\/tags$/.test(r.url()) && r.ok()),
      p1.keyboard.press('Enter'),
    ]);
    await p1.waitForSelector('[data-testid="contact-tag"][data-tag="wholesale"]');
    await p1.click('[data-testid="message-list"]');
    await scenario.shot('console-tags', p1.locator('#side'));
  });

  const whisper = 'Offer the 10% voucher before the refund.';
  const ps = await scenario.page('supervisor');
  await at('a supervisor whispers through the API; it shows live to the agent', async () => {
    const agentId = await p1.evaluate(() => document.body.dataset.agentId);
    await signIn(ps, config.supervisor);
    const status = await ps.evaluate(async ({ id, to, body }) => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch(`/api/v1/sessions/${id}/notes`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ body, whisper_to: to }),
      });
      return r.status;
    }, { id: sessionId, to: agentId, body: whisper });
    if (status !== 201) throw new Error('the whisper was answered ' + status);
    const item = p1.locator('[data-testid="whisper"]', { has: p1.locator('[data-testid="note-text"]', { hasText: whisper }) });
    await item.waitFor();
    const head = await item.locator('[data-testid="note-head"]').innerText();
    if (!/only you can see this/.test(head)) throw new Error('the whisper head says: ' + head);
    await scenario.shot('console-whisper', p1);
  });
  const aside = 'Customer is on the priority list this month.';
  await at('the supervisor, reading the conversation, adds a note; the agent sees it live', async () => {
    await ps.goto(url + '/console#session=' + sessionId);
    await ps.waitForSelector('[data-testid="note-standalone"]:visible');
    if (await ps.isVisible('[data-testid="composer"]')) throw new Error('the reply box shows to a reader');
    await ps.fill('[data-testid="note-body"]', aside);
    await ps.click('[data-testid="note-send"]');
    await ps.locator('[data-testid="note-text"]', { hasText: aside }).waitFor();
    await p1.locator('[data-testid="note-text"]', { hasText: aside }).waitFor();
  });
  await at('another agent reading the conversation sees the note, not the whisper', async () => {
    const p2 = await scenario.page('other agent');
    await signIn(p2, config.other);
    await p2.goto(url + '/console#session=' + sessionId);
    await p2.locator('[data-testid="note-text"]', { hasText: note }).waitFor();
    if (await p2.locator('[data-testid="whisper"]').count()) throw new Error('the other agent sees the whisper');
    const text = await p2.innerText('[data-testid="message-list"]');
    if (text.includes(whisper)) throw new Error('the whisper text shows to the other agent');
  });
}

scenario.run(main);
