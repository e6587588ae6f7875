// Search across conversations and the agent's closed conversations (issue 15), in a real browser:
// `/` focuses the search box, typed words list matching conversations in place of the rail's
// lists with the words marked (customer text stays text), Enter opens the first result in the
// timeline scrolled to its message and highlighted (`#session=..&entry=..`); the Closed section
// lists the agent's ended conversation, which opens read-only.
//
// `node search.mjs --url=http://127.0.0.1:8080 --user=email:password --closed=<session id>
//   [--shots=/tmp/shots]`
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const user = credentials(args.user);
needs(url && user && args.closed, 'search.mjs', '--url, --user=email:password and --closed=<session id> are required.');

const scenario = new Scenario('search');
const stage = (name, fn) => scenario.stage(name, fn);
let page = null;
const shot = (name) => scenario.shot(name, page);
const sel = (id) => `[data-testid="${id}"]`;

async function main() {
  page = await scenario.page();

  await stage('the agent signs in; "/" focuses the search box', async () => {
    await signIn(page, user);
    await page.goto(url + '/console');
    await page.waitForSelector(sel('search-input'));
    // The console opens the agent's conversation once its work has loaded; wait for that, so the
    // keys below go where the agent puts them, whenever the page finishes loading.
    await page.waitForSelector('#sessions [aria-current="true"]')
      .catch(() => { throw new Error("the console did not open the agent's conversation"); });
    await page.click('h2#sessions-h');
    await page.keyboard.press('/');
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.dataset.testid);
    if (focused !== 'search-input') throw new Error('"/" focused ' + focused);
  });

  await stage('a word found nowhere says so in words', async () => {
    await page.keyboard.type('zebra');
    await page.waitForFunction(() => {
      const s = document.getElementById('search-status');
      return s && /zebra/.test(s.textContent) && !/…/.test(s.textContent);
    }).catch(async () => {
      throw new Error('the search status reads ' + JSON.stringify(await page.textContent('#search-status'))
        + ', the keys are in ' + await page.evaluate(() => document.activeElement && document.activeElement.id));
    });
    if (await page.isVisible(sel('session-list'))) throw new Error('the rail lists still show while searching');
  });

  await stage('two words find the one message that has both; they are marked', async () => {
    await page.fill(sel('search-input'), 'KETTLE refund');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="search-results"] .search-hit').length === 1);
    const marks = await page.$$eval(sel('search-results') + ' mark', (ms) => ms.map((m) => m.textContent));
    if (marks.join(',') !== 'kettle,refund') throw new Error('marked: ' + JSON.stringify(marks));
    const text = await page.textContent(sel('search-results'));
    if (!text.includes('Marguerite Dubois') || !text.includes('<b>now</b>')) throw new Error('result: ' + text);
    if (await page.$(sel('search-results') + ' b')) throw new Error('customer text was rendered as HTML');
    await shot('console-search');
  });

  await stage('Enter opens it in the timeline, scrolled to the message and highlighted', async () => {
    await page.press(sel('search-input'), 'Enter');
    await page.waitForFunction(() => /^#session=[0-9a-f-]{36}&entry=[0-9a-f-]{36}$/.test(window.location.hash));
    const entry = await page.evaluate(() => /entry=([0-9a-f-]{36})/.exec(window.location.hash)[1]);
    await page.waitForSelector(`#messages li[data-entry-id="${entry}"].search-target`);
    // In view once the timeline has settled (a live update may render it again meanwhile).
    await page.waitForFunction((id) => {
      const li = document.querySelector(`#messages li[data-entry-id="${id}"]`);
      const list = document.getElementById('messages');
      if (!li || !list) return false;
      const a = li.getBoundingClientRect();
      const b = list.getBoundingClientRect();
      return a.bottom > b.top && a.top < b.bottom;
    }, entry).catch(() => { throw new Error('the matching message is not scrolled into view'); });
    await shot('console-search-opened');
  });

  await stage('Escape clears the search and the rail lists come back', async () => {
    await page.click(sel('search-input'));
    await page.keyboard.press('Escape');
    await page.waitForSelector(sel('session-list'), { state: 'visible' });
  });

  await stage('a conversation the page opens leaves the keys where the agent is typing', async () => {
    // What happens when the console opens the agent's conversation while she types a search
    // (the work list arriving late): the reply box must not take the keys.
    const open = await page.getAttribute(`#sessions [data-testid="session-item"]:not([data-session-id="${args.closed}"])`, 'data-session-id');
    const opened = (id) => page.evaluate((id) => new Promise((resolve) => {
      window.Parley.console.on('select', (e) => { if (e.id === id) resolve(); });
      window.Parley.console.select(id);
    }), id);
    await opened(args.closed);
    await page.click(sel('search-input'));
    await opened(open);
    const focused = await page.evaluate(() => document.activeElement && (document.activeElement.dataset.testid || document.activeElement.id));
    if (focused !== 'search-input') throw new Error('the opened conversation took the keys into ' + focused);
  });

  await stage('the Closed section lists the ended conversation; it opens read-only', async () => {
    // From the agent's open conversation, so the click below changes what is shown.
    await page.click('#sessions [data-testid="session-item"]:not([data-session-id="' + args.closed + '"]) button.session-button');
    await page.waitForFunction((id) => /^#session=/.test(window.location.hash) && !window.location.hash.includes(id), args.closed);
    await page.waitForSelector('#composer', { state: 'visible' });
    await page.click(sel('closed-toggle'));
    await page.waitForSelector(`${sel('closed-list')} li[data-session-id="${args.closed}"]`);
    const text = await page.textContent(sel('closed-list'));
    if (!text.includes('Marguerite Dubois')) throw new Error('closed list: ' + text);
    await shot('console-closed');
    await page.click(`${sel('closed-list')} li[data-session-id="${args.closed}"] a`);
    await page.waitForFunction((id) => window.location.hash === '#session=' + id, args.closed);
    await page.waitForSelector('[data-testid="session-status"][data-status="ended"]');
    await page.waitForSelector('#conv-notice', { state: 'visible' });
    await page.waitForFunction((id) => {
      const shown = [...document.querySelectorAll('#messages li[data-entry-id]')];
      return shown.length > 0 && shown.some((li) => li.dataset.sessionId === id);
    }, args.closed);
    if (await page.isVisible('#composer')) throw new Error('a closed conversation can be written to');
  });
}

await scenario.run(main);
