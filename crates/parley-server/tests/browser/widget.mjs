// The web chat widget on another origin than Parley, in a real browser (Debian's Chromium, driven
// by playwright-core). Run by `tests/it/widget_browser.rs`, which starts Parley, host pages on
// ports of their own, and a relay between them; by hand it needs the same arguments:
//   node widget.mjs --url=http://127.0.0.1:8080 --shop=http://127.0.0.1:8081 \
//     --refused=http://127.0.0.1:8090 --members=http://127.0.0.1:8091 --night=http://127.0.0.1:8092 \
//     --agent=email:password --token=<admin API token> --keyset=<keyset id> --issuer=<its iss> \
//     --relay=<the control address of a relay the pages reach Parley through> [--shots=/some/dir]
// Exits 0 when the scenario passed, 1 with the failing step (and screenshots) otherwise, 2 when
// started wrongly.
//
// The scenario: a visitor of the shop opens the widget (launcher, keyboard focus), fills pre-chat
// (client-side checks, then a server refusal shown by field), and sees the estimated wait; the
// agent goes Available, accepts, and sees the pre-chat's first message as text; they chat live
// both ways (the agent's typing shows in the widget; the visitor's typing and reads are reported);
// customer HTML stays text on both sides; the visitor sends a picture and receives one; the
// agent asks a question with buttons and the visitor's tap is the answer; the network drops
// ("Reconnecting…", then "Can't reach the server") and the stream resumes without losing or
// repeating anything; a reload keeps the conversation; the transcript downloads; End chat asks
// first. A page on an origin not on the allowlist cannot load the widget (403); a closed chat
// shows its after-hours message; a verified user continues their history in a second browser;
// expired, wrong-issuer, wrong-kid, alg none and HMAC-confused tokens are refused; logout revokes
// the token.

import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { args, credentials, message, needs, Scenario, signIn, url } from './harness.mjs';

const agent = credentials(args.agent);
const { shop, refused, members, night, french, token, keyset, issuer, relay } = args;
needs(url && shop && refused && members && night && french && agent && token && keyset && issuer && relay, 'widget.mjs',
  '--url, --shop, --refused, --members, --night, --french, --agent=email:password, --token, --keyset, --issuer and --relay are required.');

const scenario = new Scenario('widget');
const stage = (name, fn) => scenario.stage(name, fn);
const shot = (name, target) => scenario.shot(name, target);

// Selectors reach into the widget's open shadow root.
const W = {
  launcher: '[data-testid="parley-launcher"]',
  dialog: '[role="dialog"]#pw-win',
  prechat: '[data-testid="parley-prechat"]',
  start: '[data-testid="parley-start"]',
  input: '[data-testid="parley-input"]',
  wait: '[data-testid="parley-wait"]',
  notice: '[data-testid="parley-notice"]',
  status: '[data-testid="parley-status"]',
  file: '[data-testid="parley-composer"] input[type="file"]',
  conn: '[data-testid="parley-connection"]',
};
const said = (author, text) => `[data-testid="parley-message"][data-author="${author}"][data-id]:has([data-testid="parley-text"]:text-is(${JSON.stringify(text)}))`;
const activeTestId = (page) => page.evaluate(() => {
  const host = document.querySelector('[data-parley-deployment]');
  const el = host && host.shadowRoot.activeElement;
  return el ? el.getAttribute('data-testid') || el.name || el.id : null;
});
// Cuts or restores the relay between the host pages and Parley (see tests/it/widget_browser.rs).
async function relayControl(what) {
  const r = await fetch(`${relay}/${what}`, { method: 'POST' });
  if (!r.ok) throw new Error(`relay ${what} answered ${r.status}`);
}
const api = (path, init = {}) => fetch(url + path, {
  ...init,
  headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json', ...(init.headers || {}) },
});

// The shop's picture of a parcel: the visitor uploads it, the agent sends it back by its URL.
const PNG = readFileSync(new URL('../../assets/parcel.png', import.meta.url));

// ---- identity tokens: an RSA key of the host site, its JWK uploaded to the keyset ----
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = 'shop-key-1';
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function jwt(claims, { kid = KID, alg = 'RS256', hmacKey = null } = {}) {
  const data = b64({ alg, typ: 'JWT', kid }) + '.' + b64(claims);
  if (alg === 'none') return data + '.';
  const sig = hmacKey ? createHmac('sha256', hmacKey).update(data).digest() : sign('sha256', Buffer.from(data), privateKey);
  return data + '.' + sig.toString('base64url');
}
const now = () => Math.floor(Date.now() / 1000);
const claims = (sub, extra = {}) => ({ sub, iss: issuer, iat: now(), exp: now() + 600, ...extra });

async function main() {
  const first = 'Hello, where is my order <img src=x onerror="window.__xss=1">?';
  const reply = 'Hi Eve, I am looking into it now.';
  const answer = 'Thanks! It is order 123456.';

  const agentPage = await scenario.page('agent');
  const visitorContext = await scenario.browser('visitor', { viewport: { width: 1280, height: 820 } });
  const page = visitorContext.pages()[0] || await visitorContext.newPage();
  let sessionId = null;

  await stage('the agent signs in and stays Busy for now', async () => {
    await signIn(agentPage, agent);
    await agentPage.waitForSelector('[data-testid="connection"][data-state="live"]');
  });

  await stage('the shop page on its own origin shows the launcher (a button with a name)', async () => {
    await page.goto(shop + '/');
    const launcher = page.locator(W.launcher);
    await launcher.waitFor();
    // Its name comes from the deployment's labels and title, which the widget sets once its
    // configuration has arrived: the button is on the page before that, so wait (bounded) for it.
    await page
      .locator(W.launcher + '[aria-label*="Parley Demo Shop"]')
      .waitFor()
      .catch(async () => {
        throw new Error('launcher label ' + JSON.stringify(await launcher.getAttribute('aria-label')));
      });
    // The host page's loud CSS (uppercase, serif buttons) does not reach into the widget.
    const transform = await launcher.evaluate((el) => getComputedStyle(el).textTransform);
    if (transform !== 'none') throw new Error('host CSS leaked in: text-transform ' + transform);
    await shot('widget-shop', page);
    await shot('widget-launcher', launcher);
  });

  await stage('"Chat with us" opens the dialog with the focus in the first pre-chat field', async () => {
    await page.click('[data-testid="chat-with-us"]');
    await page.locator(W.dialog).waitFor();
    if (await page.getAttribute(W.dialog, 'aria-modal') !== 'false') throw new Error('aria-modal is not false');
    await page.locator(W.prechat).waitFor();
    const focused = await activeTestId(page);
    if (focused !== 'first_name') throw new Error('focus is on ' + focused);
  });

  await stage('pre-chat checks in the browser: required fields and an e-mail address', async () => {
    await page.click(W.start);
    await page.locator('#pw-f-first_name-err:text("This field is required.")').waitFor();
    await page.fill('#pw-f-first_name', 'Eve');
    await page.fill('#pw-f-email', 'eve-at-example');
    await page.fill('#pw-f-__message', first);
    await page.click(W.start);
    await page.locator('#pw-f-email-err:text("Enter a valid e-mail address.")').waitFor();
    if (await page.getAttribute('#pw-f-email', 'aria-invalid') !== 'true') throw new Error('the field is not marked invalid');
    await shot('widget-prechat', page.locator(W.dialog));
  });

  await stage("the server's refusal is shown under its field", async () => {
    // A plan longer than the server allows passes the browser's checks and is refused (422).
    await page.fill('#pw-f-email', 'eve@example.com');
    await page.fill('#pw-f-plan', 'g'.repeat(300));
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/widget/v1/messages')),
      page.click(W.start),
    ]);
    if (res.status() !== 422) throw new Error('the server answered ' + res.status());
    await page.locator('#pw-f-plan-err:not([hidden])').waitFor();
  });

  await stage('pre-chat sent: the first message shows and the estimated wait is given', async () => {
    await page.fill('#pw-f-plan', 'gold');
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/widget/v1/messages') && r.request().method() === 'POST'),
      page.click(W.start),
    ]);
    const sent = res.request().postDataJSON();
    if (sent.prechat.cart_total !== '42.00') throw new Error('the hidden field was not sent: ' + JSON.stringify(sent.prechat));
    if (res.status() !== 202) throw new Error('the server answered ' + res.status());
    await page.locator(said('customer', first)).waitFor();
    await page.locator(W.wait + ':text("Estimated wait: about 2 minutes")').waitFor();
    if (await activeTestId(page) !== 'parley-input') throw new Error('the focus is not in the message box');
  });

  await stage('the agent goes Available, accepts, and reads the first message as text', async () => {
    await Promise.all([
      agentPage.waitForResponse((r) => r.url().endsWith('/api/v1/me/presence') && r.ok()),
      agentPage.selectOption('[data-testid="presence"]', 'available'),
    ]);
    const offer = agentPage.locator('[data-testid="offer"]', { hasText: 'Hello, where is my order' });
    await offer.waitFor();
    sessionId = await offer.getAttribute('data-session-id');
    await offer.locator('[data-testid="offer-accept"]').click();
    await agentPage.waitForSelector(message('inbound', first));
  });

  await stage('they chat live both ways', async () => {
    await page.locator(W.status + ':text("Chatting with")').waitFor();
    await page.locator(W.wait).waitFor({ state: 'hidden' });
    const widgetCall = (path) => page.waitForRequest((r) => r.url().endsWith('/widget/v1/' + path) && r.method() === 'POST');
    // The open window reports what the visitor has read (receipts are on for this deployment).
    const read = widgetCall('read');
    await agentPage.click('[data-testid="composer"]');
    await agentPage.keyboard.type(reply);
    // The agent's typing shows in the widget, and goes when the message arrives.
    await page.locator('[data-testid="parley-typing"]:has-text("Ada")').waitFor();
    await agentPage.keyboard.press('Enter');
    await page.locator(said('agent', reply)).waitFor();
    await page.locator('[data-testid="parley-typing"]:text-is("")').waitFor({ state: 'attached' });
    const up = (await read).postDataJSON().up_to;
    const replyId = await page.locator(said('agent', reply)).getAttribute('data-id');
    if (up !== replyId) throw new Error(`read up to ${up}, not the reply ${replyId}`);
    // Typing is reported while the visitor writes, and its end when the message goes.
    const typing = widgetCall('typing');
    await page.fill(W.input, answer);
    if ((await typing).postDataJSON().typing !== true) throw new Error('typing was not reported');
    const stopped = widgetCall('typing');
    await page.press(W.input, 'Enter');
    if ((await stopped).postDataJSON().typing !== false) throw new Error('the end of typing was not reported');
    await page.locator(said('customer', answer)).waitFor();
    await agentPage.waitForSelector(message('inbound', answer));
  });

  await stage("customer HTML is text on both sides and never runs", async () => {
    for (const p of [page, agentPage]) {
      if (await p.evaluate(() => window.__xss) !== undefined) throw new Error('the customer\'s markup ran');
    }
    const imgs = await page.locator(said('customer', first) + ' img').count();
    if (imgs) throw new Error('an img element was made from customer text');
  });

  await stage('the visitor sends a picture; the agent sees it', async () => {
    await page.setInputFiles(W.file, { name: 'receipt.png', mimeType: 'image/png', buffer: PNG });
    await page.locator('[data-testid="parley-message"][data-author="customer"][data-id] [data-testid="parley-media"] img').waitFor();
    await agentPage.waitForSelector('[data-testid="message"][data-direction="inbound"] :text("Attachment")');
  });

  await stage('a file over 5 MB is refused before upload', async () => {
    await page.setInputFiles(W.file, { name: 'big.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(5 * 1024 * 1024 + 1) });
    await page.locator('[data-testid="parley-error"]:text("Files must be 5 MB or less.")').waitFor();
  });

  await stage('the agent sends a picture; the visitor sees it inline', async () => {
    const r = await api(`/api/v1/sessions/${sessionId}/messages`, {
      method: 'POST',
      body: JSON.stringify({ body: 'Here is your parcel', media: [{ url: shop + '/parcel.png', content_type: 'image/png' }] }),
    });
    if (r.status !== 201) throw new Error(`sending a file answered ${r.status}: ${await r.text()}`);
    await page.locator(said('agent', 'Here is your parcel') + ' [data-testid="parley-media"] img').waitFor();
  });

  await stage('the agent asks with buttons; the visitor taps one and it is the answer', async () => {
    const r = await api(`/api/v1/sessions/${sessionId}/messages`, {
      method: 'POST',
      body: JSON.stringify({ component: { type: 'question', text: 'Where should we leave it?', options: [
        { id: 'door', title: 'At the door' }, { id: 'neighbour', title: 'With a neighbour' }] } }),
    });
    if (r.status !== 201) throw new Error(`sending a question answered ${r.status}: ${await r.text()}`);
    const choice = page.locator('[data-testid="parley-choices"] button[data-choice="neighbour"]');
    await choice.click();
    await page.locator(said('customer', 'With a neighbour')).waitFor();
    if (!await choice.isDisabled()) throw new Error('the answered question still takes taps');
    await agentPage.waitForSelector(message('inbound', 'With a neighbour'));
  });

  await stage('the network drops: "Reconnecting…", then "Can’t reach the server" with Retry', async () => {
    await relayControl('cut');
    await page.locator(W.conn + ':has-text("Reconnecting")').waitFor();
    await agentPage.click('[data-testid="composer"]');
    await agentPage.keyboard.type('Sent while you were away');
    await agentPage.keyboard.press('Enter');
    await agentPage.waitForSelector(message('outbound', 'Sent while you were away'));
    // Three failed attempts (about 1 + 2 + 4 s apart) make it an outage.
    await page.locator(W.conn + ':has-text("Can’t reach the server")').waitFor({ timeout: 30000 });
  });

  await stage('back online: Retry resumes the stream, and what was said meanwhile arrives once', async () => {
    await relayControl('restore');
    await page.click(W.conn + ' button');
    await page.locator(said('agent', 'Sent while you were away')).waitFor();
    await page.locator(W.conn).waitFor({ state: 'hidden' });
    for (const text of [reply, 'Sent while you were away']) {
      const n = await page.locator(said('agent', text)).count();
      if (n !== 1) throw new Error(`${JSON.stringify(text)} shows ${n} times after resuming`);
    }
  });

  await stage('a reload keeps the conversation', async () => {
    await page.reload();
    await page.click(W.launcher);
    await page.locator(said('agent', reply)).waitFor();
    await page.locator(said('customer', 'With a neighbour')).waitFor();
    if (await page.locator(said('customer', answer)).count() !== 1) throw new Error('an entry shows twice');
    await shot('widget-conversation', page.locator(W.dialog));
  });

  await stage('Escape closes and gives the focus back to the launcher', async () => {
    await page.keyboard.press('Escape');
    await page.locator(W.dialog).waitFor({ state: 'hidden' });
    if (await activeTestId(page) !== 'parley-launcher') throw new Error('the focus went elsewhere');
    await page.keyboard.press('Enter');
    await page.locator(W.dialog).waitFor();
  });

  await stage('the transcript downloads as text', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="parley-transcript"]')]);
    const text = readFileSync(await download.path(), 'utf8');
    if (!text.includes(reply) || !text.includes(answer)) throw new Error('the transcript reads ' + JSON.stringify(text.slice(0, 300)));
  });

  await stage('on a phone the window takes the whole screen', async () => {
    const phone = await scenario.page('phone', { viewport: { width: 375, height: 740 } });
    await phone.goto(shop + '/');
    await phone.click(W.launcher);
    await phone.locator(W.prechat).waitFor();
    const box = await phone.locator(W.dialog).boundingBox();
    if (Math.round(box.width) !== 375 || Math.round(box.height) !== 740) throw new Error('window box ' + JSON.stringify(box));
    await shot('widget-mobile', phone.locator(W.dialog));
  });

  await stage('End chat asks first, then ends the session', async () => {
    await page.click('[data-testid="parley-end"]');
    await page.locator('[data-testid="parley-confirm"]').waitFor();
    await page.click('[data-testid="parley-confirm"] .yes');
    await page.locator('[data-testid="parley-new-chat"]').waitFor();
    await page.locator(W.status + ':text("This chat has ended.")').waitFor();
  });

  await stage('an origin not on the allowlist cannot load the widget (403)', async () => {
    const other = await scenario.page('refused');
    // The browser may hide the 403 behind CORS (the Rust test checks the status itself).
    const answered = new Promise((resolve) => {
      const mine = (r) => r.url().includes('/widget/v1/deployments/');
      other.on('response', (r) => mine(r) && resolve(r.status()));
      other.on('requestfailed', (r) => mine(r) && resolve('blocked'));
    });
    await other.goto(refused + '/');
    const status = await answered;
    if (status !== 403 && status !== 'blocked') throw new Error('the config answered ' + status);
    await other.locator(W.launcher + '[data-state="unavailable"]').waitFor();
    await other.click(W.launcher);
    await other.locator(W.notice + ':text("Chat is not available on this website.")').waitFor();
  });

  await stage('outside business hours the window says so, and a message can still be left', async () => {
    const late = await scenario.page('night');
    await late.goto(night + '/');
    await late.click(W.launcher);
    await late.locator(W.notice + ':text("We are closed; we answer from 9:00.")').waitFor();
    if (!await late.locator(W.input).isVisible()) throw new Error('no way to leave a message');
  });

  await stage("a French deployment's widget speaks French; its own texts stay as written", async () => {
    const fr = await scenario.page('french');
    await fr.goto(french + '/');
    // The launcher is named once the config (with the labels) has come.
    await fr.waitForFunction(() => {
      const host = document.querySelector('[data-parley-deployment]');
      const l = host && host.shadowRoot.querySelector('[data-testid="parley-launcher"]');
      return l && l.getAttribute('aria-label') === 'Ouvrir le chat: La Boutique';
    });
    await fr.click(W.launcher);
    await fr.locator(W.prechat + ' :text("Présentez-vous en quelques mots et nous arrivons.")').waitFor();
    await fr.locator(W.prechat + ' label:has-text("Prénom")').waitFor();
    const start = await fr.locator(W.start).textContent();
    if (start !== 'Démarrer le chat') throw new Error('the start button reads ' + JSON.stringify(start));
    const placeholder = await fr.locator(W.input).getAttribute('placeholder');
    if (placeholder !== 'Écrivez un message…') throw new Error('the composer reads ' + JSON.stringify(placeholder));
    await fr.click(W.start);
    await fr.locator('#pw-f-first_name-err:text("Ce champ est obligatoire.")').waitFor();
    await shot('widget-french', fr);
  });

  await stage("the keyset gets the shop's public key (one JWK per upload)", async () => {
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
    const r = await api(`/api/v1/keysets/${keyset}/keys`, { method: 'POST', body: JSON.stringify(jwk) });
    if (r.status !== 201) throw new Error(`uploading the key answered ${r.status}: ${await r.text()}`);
  });

  const laptop = await scenario.page('laptop');
  await stage('a verified user writes from one browser', async () => {
    await laptop.goto(members + '/');
    await laptop.locator(W.launcher).waitFor();
    await laptop.click(W.launcher);
    await laptop.locator(W.notice + ':text("Please sign in to chat with us.")').waitFor();
    const result = await laptop.evaluate((t) => window.Parley.setIdentityToken(t), jwt(claims('user-42')));
    if (!result.ok) throw new Error('the token was refused: ' + JSON.stringify(result));
    await laptop.fill(W.input, 'Written on my laptop');
    await laptop.press(W.input, 'Enter');
    await laptop.locator(said('customer', 'Written on my laptop')).waitFor();
  });

  await stage('the same user continues that history in a second browser', async () => {
    const phone = await scenario.page('second device');
    await phone.goto(members + '/');
    await phone.locator(W.launcher).waitFor();
    const result = await phone.evaluate((t) => window.Parley.setIdentityToken(t), jwt(claims('user-42')));
    if (!result.ok) throw new Error('the token was refused: ' + JSON.stringify(result));
    await phone.click(W.launcher);
    await phone.locator(said('customer', 'Written on my laptop')).waitFor();
  });

  await stage('expired, wrong-issuer, wrong-kid, alg none and HMAC-confused tokens are refused', async () => {
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    const bad = {
      expired: jwt(claims('user-42', { iat: now() - 7200, exp: now() - 3600 })),
      wrong_issuer: jwt(claims('user-42', { iss: 'https://someone-else.example' })),
      wrong_kid: jwt(claims('user-42'), { kid: 'not-a-key' }),
      alg_none: jwt(claims('user-42'), { alg: 'none' }),
      hmac_confused: jwt(claims('user-42'), { alg: 'HS256', hmacKey: pem }),
    };
    const fresh = await scenario.page('impostor');
    await fresh.goto(members + '/');
    await fresh.locator(W.launcher).waitFor();
    for (const [name, t] of Object.entries(bad)) {
      const result = await fresh.evaluate((x) => window.Parley.setIdentityToken(x), t);
      if (result.ok || !(result.status >= 400 && result.status < 500)) throw new Error(`${name} was not refused: ${JSON.stringify(result)}`);
    }
    await fresh.click(W.launcher);
    await fresh.locator(W.notice + ':text("We could not verify your sign-in.")').waitFor();
    if (await fresh.locator('[data-testid="parley-message"][data-id]').count()) throw new Error('a refused user sees history');
  });

  await stage('logout revokes the widget token and forgets it', async () => {
    const stored = await laptop.evaluate(() => JSON.parse(localStorage.getItem('parley.members.visitor')).token);
    await laptop.evaluate(() => window.Parley.logout());
    if (await laptop.evaluate(() => localStorage.getItem('parley.members.visitor')) !== null) throw new Error('the token is still stored');
    // Asked from the page, through the address its snippet loads Parley from.
    const status = await laptop.evaluate(async (t) => {
      const base = new URL('./', document.querySelector('script[data-deployment]').src).href;
      return (await fetch(base + 'widget/v1/conversation', { headers: { Authorization: 'Bearer ' + t } })).status;
    }, stored);
    if (status !== 401) throw new Error('the revoked token answered ' + status);
    await laptop.locator(W.notice + ':text("Please sign in to chat with us.")').waitFor();
  });
}

scenario.run(main);
