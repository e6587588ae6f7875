// The side panel's contact and case (issue 13, item 4), in a real browser (Debian's Chromium,
// driven by playwright-core): a supervisor adds the customer's contact from a typed name (MU-07)
// and edits the name in place, finds a case by subject as they type (arrows, Escape, Enter) and
// links it, changes its status and closes it, finds another by number, and creates a new case
// from typed text. Customer text with markup is shown as text.
//
// Run by hand like console.mjs:
// `node crm.mjs --url=http://127.0.0.1:8080 --user=email:password --session=<id> --number=<n>
//   [--shots=/tmp/shots]`. --number is the number of a second case to find by number.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const user = credentials(args.user);
needs(url && user && args.session && args.number, 'crm.mjs',
  '--url, --user=email:password, --session=<id> and --number=<n> are required.');

const scenario = new Scenario('crm');
const stage = (name, fn) => scenario.stage(name, fn);
let page = null;
const shot = (name) => scenario.shot(name, page);

const sel = (id) => `[data-testid="${id}"]`;

async function text(id) {
  return (await page.textContent(sel(id))).trim();
}

async function expectText(id, want) {
  await page.waitForFunction(([s, w]) => {
    const n = document.querySelector(s);
    return n && n.textContent.trim() === w;
  }, [sel(id), want]);
}

/** Types into the picker and waits for its list to answer with at least `n` options. */
async function search(q, n) {
  await page.fill(sel('case-search'), '');
  await page.type(sel('case-search'), q);
  // The list answers the query it was drawn for (`data-query`): a pause while typing may have
  // drawn one for the first letters.
  await page.waitForFunction(([q, n]) => {
    const list = document.querySelector('[data-testid="case-results"]');
    const input = document.querySelector('[data-testid="case-search"]');
    return list && !list.hidden && input.value.trim() === q && list.dataset.query === q
      && list.querySelectorAll('[role="option"]:not([aria-disabled])').length >= n;
  }, [q, n]).catch(() => { throw new Error(`the case picker never listed ${n} option(s) for "${q}"`); });
}

async function activeOption() {
  return page.evaluate(() => {
    const id = document.querySelector('[data-testid="case-search"]').getAttribute('aria-activedescendant');
    const li = id && document.getElementById(id);
    return li ? li.textContent.trim() : '';
  });
}

async function main() {
  page = await scenario.page();

  await stage('supervisor signs in and opens the session', async () => {
    await signIn(page, user);
    await page.goto(url + '/console#session=' + args.session);
    await page.waitForSelector(sel('contact-name-form') + ':not([hidden])');
  });

  await stage('a customer without a contact gets one from the name the agent types', async () => {
    await expectText('contact-name-save', 'Add contact');
    if (!(await page.isDisabled(sel('contact-name-save')))) throw new Error('Add contact is enabled without a name');
    await page.fill(sel('contact-first'), 'Ada');
    await shot('h6-no-contact');
    await page.click(sel('contact-name-save'));
    await expectText('contact-name-save', 'Save name');
    await page.waitForFunction(() => {
      const dl = document.querySelector('[data-testid="contact"]');
      return dl && dl.textContent.includes('Ada') && dl.textContent.includes('+14155550177');
    });
    const first = await page.inputValue(sel('contact-first'));
    if (first !== 'Ada') throw new Error('first name shown as ' + JSON.stringify(first));
  });

  await stage("the contact's name is edited in place, and markup in it stays text", async () => {
    if (!(await page.isDisabled(sel('contact-name-save')))) throw new Error('Save is enabled before any change');
    await page.fill(sel('contact-last'), 'Lovelace <b>x</b>');
    await page.click(sel('contact-name-save'));
    await page.waitForFunction(() => {
      const dl = document.querySelector('[data-testid="contact"]');
      return dl && dl.textContent.includes('Ada Lovelace <b>x</b>');
    });
    if (await page.$('[data-testid="contact"] b')) throw new Error('the name was rendered as HTML');
  });

  let firstNumber = '';
  await stage('typing a subject lists matching cases; arrows move, Escape closes then clears', async () => {
    await search('parcel', 2);
    const options = await page.$$eval(sel('case-option'), (ls) => ls.map((l) => l.textContent.trim()));
    if (!options.some((o) => o.includes('Parcel late <i>again</i>'))) throw new Error('options: ' + JSON.stringify(options));
    if (await page.$(sel('case-results') + ' i')) throw new Error('a subject was rendered as HTML');
    const top = await activeOption();
    await page.keyboard.press('ArrowDown');
    const second = await activeOption();
    if (!second || second === top) throw new Error('ArrowDown did not move: ' + top + ' / ' + second);
    await page.keyboard.press('ArrowUp');
    if ((await activeOption()) !== top) throw new Error('ArrowUp did not come back');
    await shot('h6-case-picker');
    await page.keyboard.press('Escape');
    await page.waitForSelector(sel('case-results'), { state: 'hidden' });
    if ((await page.inputValue(sel('case-search'))) !== 'parcel') throw new Error('the first Escape cleared the text');
    await page.keyboard.press('Escape');
    if ((await page.inputValue(sel('case-search'))) !== '') throw new Error('the second Escape kept the text');
  });

  await stage('Enter links the highlighted case; its number, subject and status are shown', async () => {
    await search('parcel late', 1);
    const top = await activeOption();
    await page.keyboard.press('Enter');
    await page.waitForSelector(sel('case-current') + ':not([hidden])');
    await page.waitForFunction((t) => {
      const s = document.querySelector('[data-testid="case-subject"]');
      return s && t.includes(s.textContent.trim());
    }, top);
    firstNumber = await text('case-number');
    if (!/^Case \d+$/.test(firstNumber)) throw new Error('number shown as ' + firstNumber);
    if ((await page.inputValue(sel('case-status'))) !== 'new') throw new Error('status is not new');
  });

  await stage('the status select changes the status; Close closes; Reopen reopens', async () => {
    await page.selectOption(sel('case-status'), 'working');
    await page.waitForSelector(sel('case-status') + '[data-status="working"]');
    await page.click(sel('case-close'));
    await page.waitForSelector(sel('case-status') + '[data-status="closed"]');
    await page.waitForSelector(sel('case-reopen') + ':not([hidden])');
    if (!(await page.isDisabled(sel('case-status')))) throw new Error('the status of a closed case can still be picked');
    await shot('h6-case-closed');
    await page.click(sel('case-reopen'));
    await page.waitForSelector(sel('case-status') + '[data-status="working"]');
  });

  await stage('a number finds its case exactly, and Enter links it', async () => {
    await search('#' + args.number, 1);
    const options = await page.$$eval('[data-testid="case-results"] [role="option"]', (ls) => ls.map((l) => l.textContent.trim()));
    if (options.length !== 1 || !options[0].startsWith('Case ' + args.number)) {
      throw new Error('options for a number: ' + JSON.stringify(options));
    }
    await page.keyboard.press('Enter');
    await expectText('case-number', 'Case ' + args.number);
  });

  await stage('typed text that matches nothing becomes a new case', async () => {
    await search('Refund for broken <mug>', 1);
    const options = await page.$$eval('[data-testid="case-results"] [role="option"]', (ls) => ls.map((l) => l.dataset.testid));
    if (options.join() !== 'case-option-new') throw new Error('options: ' + JSON.stringify(options));
    await page.keyboard.press('Enter');
    await expectText('case-subject', 'Refund for broken <mug>');
    const number = await text('case-number');
    if (number === firstNumber || number === 'Case ' + args.number) throw new Error('no new case: ' + number);
    if ((await page.inputValue(sel('case-status'))) !== 'new') throw new Error('the new case is not new');
    await shot('h6-case-created');
  });
}

await scenario.run(main);
