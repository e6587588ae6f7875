// Templates and channel forms in a real browser (Debian's Chromium, driven by playwright-core).
// An admin writes a WhatsApp template in the editor: a variable inserted from the button, Meta's
// rules shown as they type, two named variables with examples, the preview filled in; saves,
// submits and approves it. An agent whose WhatsApp conversation is outside the care window picks
// it, sees "Order number" fields, watches the preview fill in, and sends it. The admin creates a
// Twilio SMS channel through the generated form (no JSON typed), and a wrong SMPP port is shown
// under the port field.
//
// `node templates.mjs --url=... --admin=email:password --agent=email:password --channel=<name>
//  --session=<id> [--shots=dir]`. Exits 0 when the scenario passed, 1 with the failing step, 2
// when started wrongly.

import { args, credentials, needs, Scenario, signIn, url } from './harness.mjs';

const admin = credentials(args.admin);
const agent = credentials(args.agent);
needs(url && admin && agent && args.channel && args.session, 'templates.mjs',
  '--url, --admin, --agent, --channel and --session are required.');

const scenario = new Scenario('templates');
const stage = (name, fn) => scenario.stage(name, fn);
const BODY = 'Hi {{1}}, your order {{2}} has shipped.';

/** Waits until the element's whole text (its children's included) is `text`. */
const textOf = (page, selector, text) => page.waitForFunction(([sel, want]) => {
  const el = document.querySelector(sel);
  return el && el.textContent.trim() === want;
}, [selector, text]);

async function main() {
  const page = await scenario.page('admin');
  await stage('admin signs in and opens the Templates tab', async () => {
    await signIn(page, admin);
    await page.goto(url + '/console/admin#templates');
    await page.waitForSelector('[data-testid="templates-panel"]:visible');
    await page.waitForSelector('[data-testid="template-row"]');
  });

  await stage('a variable goes in from the button, and the rules are checked as they type', async () => {
    await page.click('[data-testid="templates-new"]');
    await page.selectOption('[data-testid="tpl-channel"]', { label: `${args.channel} · whatsapp` });
    await page.fill('[data-testid="tpl-name"]', 'order_update');
    await page.fill('[data-testid="tpl-body"]', 'Hi');
    await page.click('[data-testid="tpl-add-variable"]');
    const body = await page.inputValue('[data-testid="tpl-body"]');
    if (body !== 'Hi {{1}}') throw new Error(`the button wrote ${JSON.stringify(body)}`);
    await page.waitForSelector('[data-testid="tpl-problem"][data-rule="ends_with_variable"]');
    await page.waitForSelector('[data-testid="tpl-problem"][data-rule="missing_example"]');
  });

  await stage('two named variables with examples fill the preview', async () => {
    await page.fill('[data-testid="tpl-body"]', BODY);
    const names = page.locator('[data-testid="tpl-var-name"]');
    const examples = page.locator('[data-testid="tpl-var-example"]');
    await names.nth(1).waitFor();
    await names.nth(0).fill('Customer name');
    await examples.nth(0).fill('Ann');
    await names.nth(1).fill('Order number');
    await examples.nth(1).fill('4521');
    await page.fill('[data-testid="tpl-footer"]', 'Reply STOP to opt out');
    await textOf(page, '[data-testid="tpl-preview-body"]', 'Hi Ann, your order 4521 has shipped.');
    await page.waitForSelector('#tpl-ok:visible');
    if (await page.locator('[data-testid="tpl-problem"]').count()) throw new Error('problems remain');
    await scenario.shot('admin-template-editor', page.locator('[data-testid="template-editor"]'));
  });

  const row = '[data-testid="template-row"][data-name="order_update"]';
  await stage('saved as a draft, submitted, approved', async () => {
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/templates') && r.request().method() === 'POST' && r.status() === 201),
      page.click('[data-testid="tpl-save"]'),
    ]);
    await page.waitForSelector(`${row} [data-testid="template-status"]:text-is("Draft")`);
    await page.click(`${row} [data-testid="template-submit"]`);
    await page.waitForSelector(`${row} [data-testid="template-status"]:text-is("Waiting for approval")`);
    await page.click(`${row} [data-testid="template-approve"]`);
    await page.waitForSelector(`${row} [data-testid="template-status"]:text-is("Approved")`);
    await page.waitForSelector('[data-testid="rejection-reason"]');
    await scenario.shot('admin-templates', page.locator('[data-testid="templates-panel"]'));
  });

  const agentPage = await scenario.page('agent');
  const picker = '[data-testid="template-picker"]';
  await stage('the agent outside the care window sees named fields', async () => {
    await signIn(agentPage, agent);
    await agentPage.click(`[data-testid="session-item"][data-session-id="${args.session}"] button`);
    await agentPage.waitForSelector(`${picker}:visible`);
    await agentPage.selectOption('[data-testid="template-select"]', { label: 'order_update (en_US)' });
    await agentPage.waitForSelector(`${picker} label:text-is("Order number")`);
    await agentPage.waitForSelector(`${picker} label:text-is("Customer name")`);
    const hint = await agentPage.getAttribute('[data-testid="template-param"][data-name="Order number"]', 'placeholder');
    if (!hint || !hint.includes('4521')) throw new Error(`the example is not the placeholder: ${hint}`);
    if (!(await agentPage.isDisabled('[data-testid="template-send"]'))) throw new Error('send is enabled with empty fields');
  });

  await stage('the preview fills in as the agent types, and it is sent', async () => {
    await agentPage.fill('[data-testid="template-param"][data-name="Customer name"]', 'Grace');
    await textOf(agentPage, '[data-testid="template-preview"]', 'Hi Grace, your order [Order number] has shipped.');
    if (!(await agentPage.isDisabled('[data-testid="template-send"]'))) throw new Error('send is enabled with one field empty');
    await agentPage.fill('[data-testid="template-param"][data-name="Order number"]', '88817');
    await textOf(agentPage, '[data-testid="template-preview"]', 'Hi Grace, your order 88817 has shipped.');
    await scenario.shot('console-template-picker', agentPage.locator(picker));
    await Promise.all([
      agentPage.waitForResponse((r) => r.url().endsWith('/messages') && r.request().method() === 'POST' && r.ok()),
      agentPage.click('[data-testid="template-send"]'),
    ]);
    await agentPage.waitForSelector('[data-testid="message"][data-direction="outbound"]:has-text("Hi Grace, your order 88817 has shipped.")');
  });

  const form = '#admin-form';
  await stage('a Twilio SMS channel is created through the generated form', async () => {
    await page.click('#admin-tabs [data-resource="channels"]');
    await page.click('[data-testid="admin-new"]');
    await page.selectOption(`${form} [data-field="kind"]`, 'sms');
    await page.selectOption(`${form} [data-field="provider"]`, 'twilio');
    await page.waitForSelector('#provider-fields [data-secret="auth_token"]');
    if (await page.locator(`${form} textarea[data-field="settings"], ${form} textarea[data-field="secrets"]`).count()) throw new Error('raw JSON for settings');
    await page.fill(`${form} [data-field="name"]`, 'Twilio US');
    await page.fill(`${form} [data-field="address"]`, '+14155550177');
    await page.selectOption(`${form} [data-field="number_type"]`, 'long_code');
    await page.fill('#provider-fields [data-setting="public_url"]', 'https://parley.example.com/webhooks/twilio/us');
    await page.fill('#provider-fields [data-secret="account_sid"]', 'AC0123456789abcdef0123456789abcdef');
    await page.fill('#provider-fields [data-secret="auth_token"]', 'secret-token');
    await scenario.shot('admin-channel-form', page.locator('#admin-editor'));
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/channels') && r.request().method() === 'POST'),
      page.click('[data-testid="admin-save"]'),
    ]);
    if (res.status() !== 201) throw new Error(`create answered ${res.status()}: ${await res.text()}`);
    const sent = JSON.parse(res.request().postData());
    if (sent.settings.public_url !== 'https://parley.example.com/webhooks/twilio/us' || sent.secrets.auth_token !== 'secret-token') {
      throw new Error('the form wrote ' + JSON.stringify(sent));
    }
    await page.waitForSelector('[data-testid="admin-table"] >> text=Twilio US');
  });

  await stage('a wrong SMPP port is shown under the port field', async () => {
    await page.click('[data-testid="admin-new"]');
    await page.selectOption(`${form} [data-field="kind"]`, 'sms');
    await page.selectOption(`${form} [data-field="provider"]`, 'smpp');
    await page.fill(`${form} [data-field="name"]`, 'SMSC');
    await page.fill(`${form} [data-field="address"]`, '+14155550178');
    await page.selectOption(`${form} [data-field="number_type"]`, 'long_code');
    await page.fill('#provider-fields [data-setting="host"]', 'smsc.example.com');
    await page.fill('#provider-fields [data-setting="port"]', '70000');
    await page.click('[data-testid="admin-save"]');
    const error = page.locator('[data-path="settings.port"] [data-testid="field-error"]');
    await error.waitFor();
    const text = await error.textContent();
    if (!text.includes('65535')) throw new Error(`the port error reads: ${text}`);
  });
}

await scenario.run(main);
