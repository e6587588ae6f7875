// A message whose outcome is unknown, in a real browser (Debian's Chromium, driven by
// playwright-core): the supervisor sees it in words with Resend and Mark failed, marks it failed,
// and the timeline shows it failed with only Resend left; Resend queues it again.
//
// Run by hand like console.mjs:
// `node outcome.mjs --url=http://127.0.0.1:8080 --user=email:password --session=<id>`.
// Exits 0 when the scenario passed, 1 with the failing step otherwise, 2 when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const user = credentials(args.user);
needs(url && user && args.session, 'outcome.mjs', '--url, --user=email:password and --session=<id> are required.');

const scenario = new Scenario('outcome');
const stage = (name, fn) => scenario.stage(name, fn);

async function main() {
  const page = await scenario.page();
  const message = '[data-testid="message"][data-direction="outbound"]';

  await stage('supervisor signs in', async () => {
    await signIn(page, user);
  });

  await stage('the unknown outcome is shown in words, with what can be done', async () => {
    await page.goto(url + '/console#session=' + args.session);
    await page.waitForSelector(message + '[data-status="unknown"] [data-testid="message-unknown"]');
    const status = await page.textContent(message + ' [data-testid="message-status"]');
    if (status.trim() !== 'Outcome unknown') throw new Error('status shown as ' + JSON.stringify(status));
    await page.waitForSelector(message + ' [data-testid="message-resend"]');
  });

  await stage('marked failed: the timeline says failed, and only Resend is left', async () => {
    await page.click(message + ' [data-testid="message-mark-failed"]');
    await page.waitForSelector(message + '[data-status="failed"] [data-testid="message-error"]');
    if (await page.$(message + ' [data-testid="message-mark-failed"]')) {
      throw new Error('Mark failed is still offered on a failed message');
    }
  });

  await stage('resent: queued again', async () => {
    await page.click(message + ' [data-testid="message-resend"]');
    await page.waitForSelector(message + ':is([data-status="queued"], [data-status="delivered"], [data-status="sent"])');
  });
}

await scenario.run(main);
