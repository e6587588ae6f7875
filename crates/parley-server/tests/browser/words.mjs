// Dates in the agent's language and time zone, in a real browser (Debian's Chromium, driven by
// playwright-core), with the page's clock fixed. The agent's stored zone is America/Toronto and
// their language French, while the browser itself runs in Asia/Tokyo with English: every time the
// console shows must follow the agent, not the browser.
//
// Run by hand: `node words.mjs --url=http://127.0.0.1:8080 --agent=email:password
//   --session=<id> --token=<token id> --now=<ms> [--shots=/tmp/shots]`, where the token was made
// three minutes before `now`. Exits 0 when the scenario passed.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const agent = credentials(args.agent);
needs(url && agent && args.session && args.token && args.now, 'words.mjs',
  '--url, --agent=email:password, --session, --token and --now are required.');

const scenario = new Scenario('words');
const stage = (name, fn) => scenario.stage(name, fn);
const ZONE = 'America/Toronto';
// What a refused message said before (issue 15): a time in words, UTC; the console localizes it.
const REFUSAL = 'not sent: the messaging window closed at 2026-12-04 11:50 UTC; outside the 24-hour customer care window only an approved template may be sent';

/** Formats `ms` the way an independent Intl formatter in the page does for fr / Toronto. */
function expectedExact(ms) {
  return new Intl.DateTimeFormat('fr', {
    timeZone: 'America/Toronto', year: 'numeric', month: 'long', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
  }).format(new Date(ms));
}

async function main() {
  const page = await scenario.page('agent', { timezoneId: 'Asia/Tokyo', locale: 'en-US' });
  await page.clock.setFixedTime(new Date(Number(args.now)));

  await stage('the agent signs in: French, Toronto, whatever the browser says', async () => {
    await signIn(page, agent);
    const seen = await page.evaluate(() => ({
      lang: document.documentElement.lang,
      zone: document.body.dataset.timeZone,
      used: window.Parley.timeZone,
      browser: Intl.DateTimeFormat().resolvedOptions().timeZone,
    }));
    if (seen.lang !== 'fr' || seen.zone !== ZONE || seen.used !== ZONE || seen.browser !== 'Asia/Tokyo') {
      throw new Error('page settings: ' + JSON.stringify(seen));
    }
    const picker = await page.inputValue('[data-testid="time-zone"]');
    if (picker !== ZONE) throw new Error('the time zone picker shows ' + picker);
    // Named by its city, its zone's name and its offset, in the agent's language; listed under
    // its region once opened.
    await page.focus('[data-testid="time-zone"]');
    const shown = await page.evaluate(() => {
      const s = document.querySelector('[data-testid="time-zone"]');
      const o = s.selectedOptions[0];
      return { label: o.textContent, group: o.parentElement.label || '', count: s.options.length };
    });
    if (!/^Toronto · .+ \((UTC|GMT)[−-]5\)$/.test(shown.label) || shown.group !== 'America' || shown.count < 100) {
      throw new Error('the time zone picker names it ' + JSON.stringify(shown));
    }
  });

  await stage('a record made three minutes ago reads "il y a 3 minutes", its title in Toronto time', async () => {
    await page.goto(url + '/console/api-tokens');
    const cell = page.locator(`[data-testid="tok-row"][data-id="${args.token}"] [data-testid="tok-created"]`);
    await cell.waitFor();
    const text = (await cell.textContent()).trim();
    if (text !== 'il y a 3 minutes') throw new Error('relative time: ' + JSON.stringify(text));
    const title = await cell.getAttribute('title');
    const created = await page.evaluate((id) => window.Parley.api('GET', '/api/v1/api-tokens')
      .then((d) => window.Parley.items(d).find((x) => x.id === id).created_at), args.token);
    const expected = await page.evaluate(expectedExact, Date.parse(created));
    if (title !== expected) throw new Error(`title ${JSON.stringify(title)}, expected ${JSON.stringify(expected)}`);
    if (!/HNE|UTC−5|UTC-5/.test(title)) throw new Error('the title does not name Toronto\'s offset: ' + title);
  });

  await stage('the conversation\'s times are Toronto\'s, with the exact time as a title', async () => {
    await page.goto(url + '/console#session=' + args.session);
    const time = page.locator('[data-testid="message"] time').first();
    await time.waitFor();
    const iso = await time.getAttribute('datetime');
    const title = await time.getAttribute('title');
    const expected = await page.evaluate(expectedExact, Date.parse(iso));
    if (title !== expected) throw new Error(`message title ${JSON.stringify(title)}, expected ${JSON.stringify(expected)}`);
    const shown = (await time.textContent()).trim();
    const clock = await page.evaluate((v) => new Intl.DateTimeFormat('fr', { timeZone: 'America/Toronto', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }).format(new Date(v)), iso);
    const today = await page.evaluate((v) => new Intl.DateTimeFormat('fr', { timeZone: 'America/Toronto', hour: '2-digit', minute: '2-digit' }).format(new Date(v)), iso);
    if (shown !== clock && shown !== today) throw new Error(`message time ${JSON.stringify(shown)}, expected ${clock} or ${today}`);
  });

  await stage('an error text\'s time is written in French, Toronto time', async () => {
    const text = await page.evaluate((m) => window.Parley.problemText(m), REFUSAL);
    const expected = await page.evaluate(expectedExact, Date.parse('2026-12-04T11:50:00Z'));
    if (!text.includes(expected) || text.includes('UTC;') || text.includes('11:50')) {
      throw new Error(`localized ${JSON.stringify(text)}, expected it to hold ${JSON.stringify(expected)}`);
    }
    // The same through the notice every page shows for a refused request.
    await page.evaluate((m) => window.Parley.showError('Message non envoyé',
      new window.Parley.ApiError(422, '0004', m, { window_closed_at: '2026-12-04T11:50:00.000Z' })), REFUSAL);
    const toast = page.locator('.toast.error').last();
    await toast.waitFor();
    const shown = await toast.textContent();
    if (!shown.includes(expected)) throw new Error('the notice says ' + shown);
    await scenario.shot('console-fr-toronto', page);
  });
}

scenario.run(main);
