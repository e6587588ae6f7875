// The Campaigns area in a real browser (Debian's Chromium, driven by playwright-core): a
// broadcaster signs in, sees Campaigns in the navigation, writes a draft (senders, audience by
// name, a merge field, the HELP footer) and sees the live preview's encoding and segments and the
// audience count, saves it, starts it, watches the progress reach completed (the simulator
// delivers), and sees the funnel chart and the CSV link; then builds a segment (counted live as
// its conditions change) and imports a CSV
// into a list with its row report. A campaign name with markup is shown as text.
//
// Run by hand: `node campaigns.mjs --url=http://127.0.0.1:8080 --user=email:password
//   --sender="Desk SMS" --segment="Opted-in customers" [--shots=/tmp/shots]`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const user = credentials(args.user);
needs(url && user && args.sender && args.segment, 'campaigns.mjs', '--url, --user=email:password, --sender and --segment are required.');

const NAME = 'Spring <b>sale</b>';
const TEXT = 'Hi {{ contact.first_name }}, spring prices are in: 20% off everything until Sunday.';

const scenario = new Scenario('campaigns');
const stage = (name, fn) => scenario.stage(name, fn);
let page = null;
const shot = (name) => scenario.shot(name, page);

async function main() {
  page = await scenario.page();

  await stage('broadcaster signs in and finds Campaigns in the navigation', async () => {
    await signIn(page, user);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console/campaigns'),
      page.click('nav.nav a[href="/console/campaigns"]'),
    ]);
    await page.waitForSelector('[data-testid="cmp-new"]');
    await shot('1-campaign-list-empty');
  });

  await stage('writes a draft and sees the live preview with its encoding and segments', async () => {
    await page.click('[data-testid="cmp-new"]');
    await page.waitForSelector('[data-testid="cmp-form"]');
    await page.fill('[data-testid="cmp-name"]', NAME);
    await page.locator('label.check', { hasText: args.sender }).locator('input[type="checkbox"]').check();
    const option = page.locator('[data-testid="cmp-audience"] option', { hasText: args.segment });
    await page.selectOption('[data-testid="cmp-audience"]', await option.getAttribute('value'));
    await page.fill('[data-testid="cmp-text"]', TEXT);
    await page.check('[data-testid="cmp-help"]');
    const fit = page.locator('[data-testid="cmp-fit"]');
    // The preview redraws after each edit (debounced): wait for the one with the footer.
    await page.waitForFunction(() => {
      const body = document.querySelector('[data-testid="cmp-preview-body"]').textContent;
      return /GSM-7, \d+ segments?/.test(document.querySelector('[data-testid="cmp-fit"]').textContent)
        && body.includes('spring prices are in') && body.includes('Reply HELP for help, STOP to opt out.');
    }).catch(async () => {
      throw new Error('the preview shows: ' + await page.textContent('[data-testid="cmp-preview-body"]'));
    });
    const fitText = await fit.textContent();
    if (!/^\d+ characters, GSM-7, \d+ segments?$/.test(fitText)) throw new Error('the preview facts read: ' + fitText);
    const body = await page.locator('[data-testid="cmp-preview-body"]').textContent();
    if (body.includes('{{')) throw new Error('the preview left a merge field: ' + body);
    await page.waitForFunction(() => /will receive it/.test(document.querySelector('[data-testid="cmp-count"]').textContent));
    const count = await page.locator('[data-testid="cmp-count"]').textContent();
    if (count.trim() !== '4 people, 3 will receive it, 1 excluded: opted out 1') {
      throw new Error('the audience count reads: ' + count);
    }
    await shot('2-campaign-editor-preview');
  });

  await stage('saves the draft (Enter submits) and opens its page, the name shown as text', async () => {
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/campaigns') && r.request().method() === 'POST' && r.status() === 201),
      page.press('[data-testid="cmp-name"]', 'Enter'),
    ]);
    await page.waitForSelector('[data-testid="cmp-start"]');
    const title = await page.locator('#cmp-title').textContent();
    if (title !== NAME) throw new Error('the title reads: ' + title);
    if (await page.locator('#cmp-title b').count()) throw new Error('the name was parsed as markup');
    const state = await page.locator('#cmp-state-box [data-testid="cmp-state"]').textContent();
    if (state !== 'Draft') throw new Error('a new campaign is ' + state);
    await shot('3-campaign-draft');
  });

  await stage('starts it and watches the progress reach completed', async () => {
    await page.click('[data-testid="cmp-start"]');
    await page.waitForFunction(
      () => (document.querySelector('#cmp-state-box [data-testid="cmp-state"]') || {}).textContent === 'Completed',
      null, { timeout: 60000 },
    );
    const progress = await page.locator('[data-testid="cmp-progress"]').textContent();
    if (!/3 of 3/.test(progress)) throw new Error('the progress reads: ' + progress);
    if (await page.locator('[data-testid="cmp-pause"], [data-testid="cmp-cancel"]').count()) {
      throw new Error('a completed campaign still offers pause or cancel');
    }
  });

  await stage('sees the funnel chart, the exclusions and the CSV link', async () => {
    const img = page.locator('[data-testid="cmp-funnel"]');
    await page.waitForFunction(() => {
      const i = document.querySelector('[data-testid="cmp-funnel"]');
      return i && i.complete && i.naturalWidth > 0;
    });
    const alt = await img.getAttribute('alt');
    if (!/queued 3/.test(alt)) throw new Error('the funnel describes: ' + alt);
    const href = await page.locator('[data-testid="cmp-csv"]').getAttribute('href');
    const csv = await page.evaluate(async (h) => (await fetch(h)).text(), href);
    if (csv.trim().split('\n').length !== 4) throw new Error('the CSV has: ' + csv);
    await shot('4-campaign-completed-results');
  });

  await stage('the list shows the campaign by name with its senders and audience', async () => {
    await page.click('#cmp-tabs a[data-area="campaigns"]');
    const row = page.locator('[data-testid="cmp-list"] tbody tr').first();
    await row.waitFor();
    const text = await row.textContent();
    for (const part of [NAME, args.sender, args.segment, 'Completed']) {
      if (!text.includes(part)) throw new Error(`the row does not show "${part}": ${text}`);
    }
    // Created at the start of the scenario: "just now", or minutes ago on a slow machine.
    if (!/just now|\d+ minutes? ago/.test(text)) throw new Error('the row does not say when: ' + text);
    await shot('5-campaign-list');
  });

  await stage('builds a segment from the menu and sees its count', async () => {
    await page.click('#cmp-tabs a[data-area="segments"]');
    await page.click('[data-testid="seg-new"]');
    await page.fill('[data-testid="seg-name"]', 'Explicit opt-ins');
    await page.selectOption('[data-testid="seg-add"]', 'consent');
    await page.waitForSelector('[data-testid="seg-conditions"] .seg-condition');
    // Counted live, before the segment is saved: the opted-out customer does not match.
    const expected = '3 people match now: 2 explicitly opted in, 1 doubly opted in.';
    await page.waitForFunction((want) => (document.querySelector('[data-testid="seg-count"]') || {}).textContent === want, expected);
    // Unticking a status changes the count.
    await page.locator('[data-testid="seg-conditions"] label.check', { hasText: 'doubly opted in' }).locator('input').uncheck();
    await page.waitForFunction(() => /^2 people match now/.test((document.querySelector('[data-testid="seg-count"]') || {}).textContent || ''));
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/segments') && r.request().method() === 'POST' && r.status() === 201),
      page.click('[data-testid="seg-save"]'),
    ]);
    // The saved segment opens on its own page, counted again there.
    await page.waitForURL(/#segment\/[0-9a-f-]{36}$/);
    await page.waitForSelector('[data-testid="seg-count"]:not(:text("Counting"))');
    await page.waitForFunction(() => /^2 people match now/.test((document.querySelector('[data-testid="seg-count"]') || {}).textContent || ''));
    await shot('6-segment-builder');
  });

  await stage('imports a CSV into a new list and reads the row report', async () => {
    await page.click('#cmp-tabs a[data-area="lists"]');
    await page.fill('[data-testid="list-name"]', 'Fair visitors');
    await page.press('[data-testid="list-name"]', 'Enter');
    await page.waitForSelector('[data-testid="list-file"]');
    await page.setInputFiles('[data-testid="list-file"]', {
      name: 'visitors.csv', mimeType: 'text/csv',
      buffer: Buffer.from('phone\n+14155550301\n+14155550302\n+14155550301\nnot a number\n'),
    });
    await page.click('[data-testid="list-import"] button[type="submit"]');
    const summary = page.locator('[data-testid="list-report-summary"]');
    await summary.waitFor();
    const text = await summary.textContent();
    if (!/4 rows: 2 added, 1 already on the list, 1 bad row/.test(text)) throw new Error('the report reads: ' + text);
    const bad = await page.locator('[data-testid="list-report-errors"] tbody tr').first().textContent();
    if (!bad.startsWith('5')) throw new Error('the bad row is reported as: ' + bad);
    await page.waitForSelector('[data-testid="list-members"] tbody tr >> nth=1');
    await shot('7-list-import-report');
  });
}

await scenario.run(main);
