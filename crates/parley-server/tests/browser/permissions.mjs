// Permissions in the console, in a real browser (Debian's Chromium, driven by playwright-core):
// the console hides what a person may not do, and the server refuses it anyway (issue 18).
//
// Run by hand like console.mjs: `node permissions.mjs --url=... --admin=email:password
// --agent=email:password --channel="Desk SMS" [--shots=dir]`. The agent has the role agent;
// both are members of the channel's queue. Exits 0 when the scenario passed, 1 with the failing
// step otherwise, 2 when started wrongly.
//
// The scenario: the admin opens Admin > Permissions, takes `end_sessions` out of the built-in
// agent set and creates a set "Messaging setup" with `configure_messaging`; the admin accepts a
// customer's session and closes the conversation with a typed reason, which shows in the
// transcript. The agent accepts another customer's session and sees no End, no Close
// conversation and no admin links; the same end and close through the API answer 403. The admin
// grants the agent "Messaging setup"; at the agent's next page load the Admin link is there.

import { args, credentials, message, needs, Scenario, signIn as enter, simulatorInbound, url } from './harness.mjs';

const admin = credentials(args.admin);
const agent = credentials(args.agent);
const channel = args.channel || 'Desk SMS';
needs(url && admin && agent, 'permissions.mjs', '--url, --admin=email:password and --agent=email:password are required.');

const scenario = new Scenario('permissions');
const stage = (name, fn) => scenario.stage(name, fn);
const suffix = String(100000 + Math.floor(Math.random() * 899999));
const customer1 = '+447401' + suffix;
const customer2 = '+447402' + suffix;

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

/** Waits for an offer of this customer's first message and accepts it; the session's id. */
async function acceptOffer(page, first) {
  const offer = page.locator('[data-testid="offer"]', { has: page.locator('[data-testid="offer-first-message"]', { hasText: first }) });
  await offer.waitFor();
  const id = await offer.getAttribute('data-session-id');
  await page.click(`[data-testid="offer"][data-session-id="${id}"] [data-testid="offer-accept"]`);
  await page.waitForSelector(`[data-testid="session-item"][data-session-id="${id}"]`);
  await page.waitForSelector(message('inbound', first));
  return id;
}

/** A call of the API from the page, as the signed-in person (cookie and CSRF token). */
function callFromPage(page, method, path, body) {
  return page.evaluate(async ([m, p, b]) => {
    const csrf = document.querySelector('meta[name="csrf-token"]').content;
    const r = await fetch(p, {
      method: m,
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: b === null ? undefined : JSON.stringify(b),
    });
    return { status: r.status, text: await r.text() };
  }, [method, path, body === undefined ? null : body]);
}

async function visible(page, selector) {
  return page.locator(selector).first().isVisible();
}

async function main() {
  const adminPage = await scenario.page('admin');
  const agentPage = await scenario.page('agent');

  await stage('the admin signs in and opens Admin > Permissions from the nav', async () => {
    await signIn(adminPage, admin);
    await adminPage.click('[data-testid="nav-permissions"]');
    await adminPage.waitForURL((u) => u.pathname === '/console/admin/permissions');
    await adminPage.waitForSelector('[data-testid="perm-table"] [data-testid="perm-check"]');
    await adminPage.waitForSelector('[data-testid="perm-agent"]');
  });

  const sets = await stage('the built-in role sets are columns', async () => {
    const r = await callFromPage(adminPage, 'GET', '/api/v1/permission-sets');
    if (r.status !== 200) throw new Error(`permission sets answered ${r.status}: ${r.text}`);
    const list = JSON.parse(r.text);
    const all = Array.isArray(list) ? list : list.items;
    const agentSet = all.find((s) => s.builtin_role === 'agent');
    if (!agentSet) throw new Error('no built-in agent set');
    return { agentSet };
  });

  await stage('the admin takes end_sessions out of the agent role set', async () => {
    const box = `[data-testid="perm-check"][data-set-id="${sets.agentSet.id}"][data-perm="end_sessions"]`;
    if (!(await adminPage.isChecked(box))) throw new Error('the agent set should hold end_sessions at first');
    await Promise.all([
      adminPage.waitForResponse((r) => r.url().endsWith('/api/v1/permission-sets/' + sets.agentSet.id) && r.request().method() === 'PUT' && r.ok()),
      adminPage.uncheck(box),
    ]);
  });

  const custom = await stage('the admin creates "Messaging setup" with configure_messaging', async () => {
    await adminPage.fill('[data-testid="perm-new-name"]', 'Messaging setup');
    const [created] = await Promise.all([
      adminPage.waitForResponse((r) => r.url().endsWith('/api/v1/permission-sets') && r.request().method() === 'POST' && r.status() === 201),
      adminPage.press('[data-testid="perm-new-name"]', 'Enter'),
    ]);
    const set = await created.json();
    const box = `[data-testid="perm-check"][data-set-id="${set.id}"][data-perm="configure_messaging"]`;
    await adminPage.waitForSelector(box);
    await Promise.all([
      adminPage.waitForResponse((r) => r.url().endsWith('/api/v1/permission-sets/' + set.id) && r.request().method() === 'PUT' && r.ok()),
      adminPage.check(box),
    ]);
    await scenario.shot('permissions-page', adminPage);
    return set;
  });

  const closed = 'Customer moved to email';
  await stage('the admin closes a customer conversation with a typed reason', async () => {
    await adminPage.goto(url + '/console');
    await adminPage.waitForSelector('[data-testid="connection"][data-state="live"]');
    await setPresence(adminPage, 'available');
    await simulatorInbound(channel, customer1, 'Hello from customer one');
    await acceptOffer(adminPage, 'Hello from customer one');
    await adminPage.click('[data-testid="close-conversation"]');
    await adminPage.waitForSelector('[data-testid="close-box"]');
    // Keyboard reachable: the reason list has the focus when the dialog opens.
    const focused = await adminPage.evaluate(() => document.activeElement && document.activeElement.id);
    if (focused !== 'close-reason') throw new Error('the reason list should have the focus, not ' + focused);
    await adminPage.selectOption('[data-testid="close-reason"]', 'other');
    await adminPage.fill('[data-testid="close-reason-other"]', closed);
    await scenario.shot('close-conversation', adminPage);
    await Promise.all([
      adminPage.waitForResponse((r) => r.url().endsWith('/close-conversation') && r.request().method() === 'POST' && r.ok()),
      adminPage.click('[data-testid="close-confirm"]'),
    ]);
    const note = adminPage.locator('[data-testid="message-event"]', { hasText: closed });
    await note.waitFor();
    await adminPage.waitForSelector('[data-testid="session-status"][data-status="ended"]');
    await scenario.shot('conversation-closed', adminPage);
    await setPresence(adminPage, 'offline');
  });

  const sessionId = await stage('the restricted agent accepts a session', async () => {
    await signIn(agentPage, agent);
    await setPresence(agentPage, 'available');
    await simulatorInbound(channel, customer2, 'Hello from customer two');
    return acceptOffer(agentPage, 'Hello from customer two');
  });

  await stage('the agent sees no End, no Close conversation, no admin links', async () => {
    // The reply box is there (send_receive): the page has loaded its controls.
    await agentPage.waitForSelector('[data-testid="composer"]', { state: 'visible' });
    for (const sel of ['[data-testid="end"]', '[data-testid="close-conversation"]', '[data-testid="nav-permissions"]', 'nav a[href="/console/admin"]']) {
      if (await visible(agentPage, sel)) throw new Error(`the agent should not see ${sel}`);
    }
    await scenario.shot('restricted-agent', agentPage);
  });

  await stage('the same actions through the API are refused (403)', async () => {
    const end = await callFromPage(agentPage, 'POST', `/api/v1/sessions/${sessionId}/end`);
    if (end.status !== 403) throw new Error(`end answered ${end.status}: ${end.text}`);
    const close = await callFromPage(agentPage, 'POST', `/api/v1/sessions/${sessionId}/close-conversation`, { reason: 'Resolved' });
    if (close.status !== 403) throw new Error(`close answered ${close.status}: ${close.text}`);
    if (!close.text.includes('end_sessions')) throw new Error('the refusal should name end_sessions: ' + close.text);
    const admin = await agentPage.goto(url + '/console/admin');
    if (admin.status() !== 403) throw new Error(`the admin page answered ${admin.status()}`);
  });

  await stage('the admin grants "Messaging setup" to the agent', async () => {
    await adminPage.goto(url + '/console/admin/permissions');
    const row = adminPage.locator('[data-testid="perm-agent"]', { hasText: agent.email });
    await row.waitFor();
    const box = row.locator(`[data-testid="perm-grant"][data-set-id="${custom.id}"]`);
    await Promise.all([
      adminPage.waitForResponse((r) => r.url().endsWith('/permission-sets') && r.request().method() === 'PUT' && r.ok()),
      box.check(),
    ]);
  });

  await stage('at the agent\'s next page load the Admin link is there', async () => {
    await agentPage.goto(url + '/console');
    await agentPage.waitForSelector('nav a[href="/console/admin"]');
    if (await visible(agentPage, '[data-testid="end"]')) throw new Error('End should still be hidden');
  });
}

await scenario.run(main);
