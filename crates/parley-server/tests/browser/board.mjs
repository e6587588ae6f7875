// The supervisor's board and pick-from-queue (issue 15, parts 2 and 3), in a real browser
// (Debian's Chromium, driven by playwright-core): the supervisor sees a waiting session with its
// customer and first message (markup stays text), assigns it to an agent picked by name, and the
// agent's console shows it; the supervisor opens the agent's conversations and sees a new
// customer message arrive live, and whispers to the agent, who sees it in her console; an agent
// of a pick-from-queue queue sees its waiting session in the rail and takes it.
//
// Run by hand:
// `node board.mjs --url=http://127.0.0.1:8080 --supervisor=email:password --agent=email:password
//   --picker=email:password --channel=<name> --pick-channel=<name> [--busy=<name>] [--shots=/tmp/shots]`.
// --agent is a member of the channel's (push) queue, --picker of the pick channel's queue;
// --busy names an available agent of capacity 3 with one conversation, who is offered the two
// new sessions (the board then shows "1 conversation · 2 offers pending / capacity 3").
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, simulatorInbound, url } from './harness.mjs';

const supervisor = credentials(args.supervisor);
const agent = credentials(args.agent);
const picker = credentials(args.picker);
needs(url && supervisor && agent && picker && args.channel && args['pick-channel'], 'board.mjs',
  '--url, --supervisor, --agent, --picker (email:password), --channel and --pick-channel are required.');

const scenario = new Scenario('board');
const stage = (name, fn) => scenario.stage(name, fn);
const sel = (id) => `[data-testid="${id}"]`;

const CUSTOMER = '+447400555101';
const FIRST = 'Where is my parcel? <b>It was due Monday</b>';
const PICK_CUSTOMER = '+447400555202';
const PICK_FIRST = 'I would like to order a birthday cake';

async function main() {
  const sam = await scenario.page('supervisor');
  const ada = await scenario.page('agent');
  const bob = await scenario.page('picker');
  const shot = (name, page) => scenario.shot(name, page);

  await stage('two customers write; both are offered to the one available agent', async () => {
    await simulatorInbound(args.channel, CUSTOMER, FIRST);
    await simulatorInbound(args.channel, '+447400555103', 'Can I pay by invoice?');
  });

  await stage('the agent signs in and is busy: nothing is offered to her', async () => {
    await signIn(ada, agent);
    await ada.selectOption(sel('presence'), 'busy');
    await ada.waitForFunction(() => document.querySelector('[data-testid="presence"]').value === 'busy');
  });

  let sessionId = '';
  await stage('the supervisor sees the waiting session with its customer and first message', async () => {
    await signIn(sam, supervisor);
    await sam.goto(url + '/console/supervisor');
    const found = `${sel('supervisor-waiting')}:has(${sel('waiting-customer')}:text-is("${CUSTOMER}"))`;
    await sam.waitForSelector(found);
    sessionId = await sam.getAttribute(found, 'data-session-id');
    const card = `${sel('supervisor-waiting')}[data-session-id="${sessionId}"]`;
    const first = (await sam.textContent(`${card} ${sel('waiting-first-message')}`)).trim();
    if (first !== FIRST) throw new Error('first message shown as ' + JSON.stringify(first));
    if (await sam.$(`${card} b`)) throw new Error('the customer text was rendered as HTML');
    const channel = (await sam.textContent(`${card} .chip`)).trim();
    if (!channel.includes(args.channel)) throw new Error('channel shown as ' + JSON.stringify(channel));
    // The age ticks.
    const age = async () => (await sam.textContent(`${card} ${sel('waiting-age')}`)).trim();
    const before = await age();
    await sam.waitForFunction(([s, b]) => document.querySelector(s).textContent.trim() !== b,
      [`${card} ${sel('waiting-age')}`, before]);
    const open = await sam.getAttribute(`${card} ${sel('waiting-open')}`, 'href');
    if (open !== '/console#session=' + sessionId) throw new Error('Open links to ' + open);
    if (args.busy) {
      // The busy agent's load: one conversation, the two offers apart, against capacity.
      const row = `${sel('supervisor-agent')}:has(${sel('supervisor-agent-open')}:text-is("${args.busy}"))`;
      await sam.waitForFunction((s) => {
        const t = document.querySelector(s);
        return t && t.textContent.trim() === '1 conversation · 2 offers pending / capacity 3';
      }, `${sel('supervisor-agent')}[data-agent-id="${await sam.getAttribute(row, 'data-agent-id')}"] ${sel('supervisor-load')}`);
      await sam.waitForFunction(([s, name]) => {
        const el = document.querySelector(s);
        return el && el.textContent.startsWith('Offered to ' + name);
      },
        [`${card} ${sel('waiting-offered-to')}`, args.busy]);
    }
    await shot('supervisor-board', sam);
  });

  await stage('the supervisor assigns it to the agent picked by name', async () => {
    const card = `${sel('supervisor-waiting')}[data-session-id="${sessionId}"]`;
    await sam.click(`${card} ${sel('waiting-assign')}`);
    await sam.waitForSelector(`${sel('assign-dialog')}[open]`);
    await sam.fill(sel('assign-search'), 'ad');
    await sam.waitForFunction(() => {
      const names = [...document.querySelectorAll('[data-testid="assign-agent"] strong')].map((s) => s.textContent.trim());
      return names.length === 1 && names[0] === 'Ada';
    });
    await sam.click(sel('assign-agent'));
    await sam.waitForFunction(() => !document.querySelector('[data-testid="assign-dialog"]').open);
    await sam.waitForSelector(card, { state: 'detached' });
  });

  await stage("the agent's console shows the assigned conversation", async () => {
    const item = `${sel('session-item')}[data-session-id="${sessionId}"]`;
    await ada.waitForSelector(item);
    await ada.click(`${item} button`);
    await ada.waitForFunction((t) => [...document.querySelectorAll('[data-testid="message-text"]')]
      .some((m) => m.textContent.trim() === t), FIRST);
  });

  await stage("the supervisor opens the agent's conversations; a new message shows live", async () => {
    const row = `${sel('supervisor-agent')}:has(${sel('supervisor-agent-open')}:text-is("Ada"))`;
    await sam.click(`${row} ${sel('supervisor-agent-open')}`);
    const card = `${sel('agent-session')}[data-session-id="${sessionId}"]`;
    await sam.waitForSelector(card);
    const load = (await sam.textContent(`${row} ${sel('supervisor-load')}`)).trim();
    if (!load.startsWith('1 conversation')) throw new Error('load shown as ' + JSON.stringify(load));
    await simulatorInbound(args.channel, CUSTOMER, 'Order 42, please hurry');
    await sam.waitForFunction((s) => {
      const c = document.querySelector(s);
      return c && c.textContent.includes('Order 42, please hurry');
    }, card);
    await shot('supervisor-agent', sam);
  });

  await stage('the whisper form sends a note only the agent sees', async () => {
    const card = `${sel('agent-session')}[data-session-id="${sessionId}"]`;
    await sam.click(`${card} ${sel('agent-session-whisper')}`);
    await sam.waitForSelector(`${sel('whisper-dialog')}[open]`);
    await sam.fill(sel('whisper-body'), 'Offer the express refund, <i>politely</i>');
    const answered = sam.waitForResponse((r) => r.url().endsWith(`/api/v1/sessions/${sessionId}/notes`));
    await sam.click(sel('whisper-send'));
    const res = await answered;
    if (res.status() !== 201) throw new Error('the notes API answered ' + res.status());
    await sam.waitForFunction(() => !document.querySelector('[data-testid="whisper-dialog"]').open);
    // The agent sees it in the conversation she has open, live, as text.
    await ada.waitForFunction(() => [...document.querySelectorAll('[data-testid="whisper"] [data-testid="note-text"]')]
      .some((n) => n.textContent.trim() === 'Offer the express refund, <i>politely</i>'));
    if (await ada.$('[data-testid="whisper"] i')) throw new Error('the whisper was rendered as HTML');
  });

  await stage('an agent of a pick-from-queue queue sees its waiting session in the rail', async () => {
    await signIn(bob, picker);
    await bob.waitForSelector('[data-testid="connection"][data-state="live"]');
    await simulatorInbound(args['pick-channel'], PICK_CUSTOMER, PICK_FIRST);
    const item = `${sel('pick-item')}:has(${sel('pick-customer')}:text-is("${PICK_CUSTOMER}"))`;
    await bob.waitForSelector(item);
    const first = (await bob.textContent(`${item} ${sel('pick-first-message')}`)).trim();
    if (first !== PICK_FIRST) throw new Error('first message shown as ' + JSON.stringify(first));
    // Nothing is offered from a pick queue.
    if ((await bob.$$(sel('offer'))).length) throw new Error('a pick queue session was offered');
    await shot('console-pick-queue', bob);
  });

  await stage('the agent takes it: it opens and is theirs', async () => {
    const item = `${sel('pick-item')}:has(${sel('pick-customer')}:text-is("${PICK_CUSTOMER}"))`;
    const id = await bob.getAttribute(item, 'data-session-id');
    await bob.click(`${item} ${sel('pick-take')}`);
    await bob.waitForSelector(`${sel('session-item')}[data-session-id="${id}"]`);
    await bob.waitForFunction((t) => [...document.querySelectorAll('[data-testid="message-text"]')]
      .some((m) => m.textContent.trim() === t), PICK_FIRST);
    await bob.waitForSelector(item, { state: 'detached' });
    const status = (await bob.textContent(sel('session-status'))).trim();
    if (!status) throw new Error('no session status shown');
  });
}

scenario.run(main);
