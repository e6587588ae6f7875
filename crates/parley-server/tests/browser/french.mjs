// The agent console in French in a real browser (Debian's Chromium, driven by playwright-core).
//
// By hand, like console.mjs: `node french.mjs --url=... --agent=email:password
// [--channel="Demo SMS"] [--customer=+15145550123] [--shots=/tmp/shots]`; the agent must be a
// member of the channel's queue and start in English.
//
// The scenario: the agent signs in, picks Français in the top bar (stored on the agent; the page
// comes back in French with <html lang="fr">), goes available, accepts a customer's SMS, replies,
// and ends the conversation. At each stage every visible text, every option, placeholder,
// aria-label and title of the console is checked against the catalogue: no English text that
// differs from its French one, no raw `area.key`.

import { args, credentials, message, needs, Scenario, signIn, simulatorInbound, url } from './harness.mjs';

const config = {
  agent: credentials(args.agent, 'AGENT_EMAIL', 'AGENT_PASSWORD'),
  // Optional: an admin (who holds `translate`) for the Translations page.
  admin: credentials(args.admin, 'ADMIN_EMAIL', 'ADMIN_PASSWORD'),
  channel: args.channel || process.env.SIM_CHANNEL || 'Demo SMS',
  customer: args.customer || '+1514555' + String(1000 + Math.floor(Math.random() * 8999)),
};
needs(url, 'french.mjs', 'the server\'s URL is missing (--url=... or PARLEY_URL).');
needs(config.agent, 'french.mjs', 'the agent\'s e-mail and password are missing (--agent=email:password).');

const scenario = new Scenario('french');
const at = (name, fn) => scenario.stage(name, fn);

/** The English catalogue, as the sign-in page carries it for a browser that asks for English. */
async function englishCatalogue() {
  const res = await fetch(url + '/console/login', { headers: { 'Accept-Language': 'en' } });
  const html = await res.text();
  const m = /<script id="i18n" type="application\/json">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('the sign-in page carries no catalogue');
  return JSON.parse(m[1]);
}

/**
 * Everything of the page a person reads: visible text nodes, options, placeholders, aria-labels,
 * titles, and the document title.
 */
function readable() {
  const out = [];
  const seen = (el) => el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const parent = n.parentElement;
    if (!parent || parent.closest('script, style')) continue;
    // Stored data (a case's subject, written once in its channel's language) is marked
    // translate="no", and text marked as another language (a translation's source) is meant to be
    // read as it is.
    if (parent.closest('[translate="no"]')) continue;
    const marked = parent.closest('[lang]');
    if (marked && marked !== document.documentElement && marked.lang !== document.documentElement.lang) continue;
    const text = n.textContent.trim();
    if (!text) continue;
    if (parent.closest('option') || seen(parent)) out.push({ where: parent.tagName.toLowerCase() + (parent.id ? '#' + parent.id : ''), text });
  }
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [title]')) {
    for (const attr of ['placeholder', 'aria-label', 'title']) {
      const v = el.getAttribute(attr);
      if (v && v.trim()) out.push({ where: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '@' + attr, text: v.trim() });
    }
  }
  out.push({ where: 'document.title', text: document.title });
  return out;
}

function pattern(value) {
  const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{\w+\\\}/g, '.+');
  return new RegExp('^' + escaped + '$');
}

/** Fails on any English text (one that differs from its French) or raw key on the page. */
async function checkFrench(page, en, stageName) {
  const fr = await page.evaluate(() => JSON.parse(document.getElementById('i18n').textContent));
  const lang = await page.evaluate(() => document.documentElement.lang);
  if (lang !== 'fr') throw new Error(`<html lang="${lang}"> on the French console`);
  const english = Object.keys(en)
    .filter((k) => fr[k] !== en[k] && /[A-Za-z]{2}/.test(en[k].replace(/\{\w+\}/g, '')))
    .map((k) => ({ key: k, re: pattern(en[k]), value: en[k] }));
  // A word that is a French text of some key ("Active" for a session) is French, whatever an
  // English text of another key happens to be.
  const french = new Set(Object.values(fr));
  const problems = [];
  for (const { where, text } of await page.evaluate(readable)) {
    for (const part of text.split(/\s*·\s*/)) {
      if (french.has(part)) continue;
      if (/^[a-z_]+\.[a-z0-9_.]+$/.test(part) && (part in en)) problems.push(`${where}: raw key "${part}"`);
      const hit = english.find((e) => e.re.test(part) || (!french.has(text) && e.re.test(text)));
      if (hit) problems.push(`${where}: "${text}" is English (${hit.key})`);
    }
  }
  if (problems.length) throw new Error(`${stageName}: English on the French console:\n` + [...new Set(problems)].join('\n'));
}

async function setPresence(page, presence) {
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/me/presence') && r.request().method() === 'PUT' && r.ok()),
    page.selectOption('[data-testid="presence"]', presence),
  ]);
}

async function main() {
  const en = await englishCatalogue();
  const first = 'Bonjour, mon colis n\'est pas arrivé. Pouvez-vous m\'aider?';
  const reply = 'Désolé! Je vérifie votre commande.';
  const p = await scenario.page('agent');

  await at('the agent signs in (in English)', async () => {
    await signIn(p, config.agent);
    await p.waitForSelector('[data-testid="connection"][data-state="live"]');
    const lang = await p.evaluate(() => document.documentElement.lang);
    if (lang !== 'en') throw new Error('the console started in ' + lang);
  });

  await at('the agent picks Français in the top bar', async () => {
    await Promise.all([
      p.waitForEvent('load'),
      p.selectOption('[data-testid="locale"]', 'fr'),
    ]);
    await p.waitForSelector('html[lang="fr"]');
    await p.waitForSelector('[data-testid="connection"][data-state="live"]');
    await p.waitForSelector('#sessions-h:text-is("Mes sessions")');
    await checkFrench(p, en, 'empty console');
    await scenario.shot('fr-console-empty', p);
  });

  await at('the agent goes available', async () => {
    await setPresence(p, 'available');
    await checkFrench(p, en, 'available');
  });

  const sessionId = await at('a customer writes; the offer is in French', async () => {
    await simulatorInbound(config.channel, config.customer, first);
    const offer = p.locator('[data-testid="offer"]', { has: p.locator('[data-testid="offer-first-message"]', { hasText: first }) });
    await offer.waitFor();
    await p.waitForSelector('[data-testid="offer-accept"]:text-is("Accepter")');
    await checkFrench(p, en, 'offer');
    await scenario.shot('fr-console-offer', p);
    return offer.getAttribute('data-session-id');
  });

  await at('the agent accepts', async () => {
    await p.click(`[data-testid="offer"][data-session-id="${sessionId}"] [data-testid="offer-accept"]`);
    await p.waitForSelector(`[data-testid="session-item"][data-session-id="${sessionId}"]`);
    await p.waitForSelector(message('inbound', first));
    await checkFrench(p, en, 'accepted');
  });

  await at('the agent replies', async () => {
    await p.click('[data-testid="composer"]');
    await p.keyboard.type(reply);
    await p.waitForFunction(() => /restants/.test((document.querySelector('[data-testid="segment-counter"]') || {}).textContent || ''));
    await p.keyboard.press('Enter');
    await p.waitForSelector(`${message('outbound', reply)}:is([data-status="sent"], [data-status="delivered"], [data-status="read"])`);
    await checkFrench(p, en, 'replied');
    await scenario.shot('fr-console-conversation', p);
  });

  await at('the quick text and options pickers are in French', async () => {
    await p.click('#opt-open');
    await p.waitForSelector('#opt-box:not([hidden])');
    await checkFrench(p, en, 'options picker');
    await scenario.shot('fr-console-options', p);
    await p.keyboard.press('Escape');
  });

  await at('the agent ends the conversation', async () => {
    await p.click('[data-testid="end"]');
    await p.waitForSelector('#end-confirm-box:not([hidden])');
    await checkFrench(p, en, 'end confirmation');
    await p.click('[data-testid="end-confirm"]');
    await p.waitForSelector(`[data-testid="session-item"][data-session-id="${sessionId}"]`, { state: 'detached' });
    await p.waitForSelector('[data-testid="session-status"][data-status="ended"]');
    await checkFrench(p, en, 'ended');
    await scenario.shot('fr-console-ended', p);
  });

  if (!config.admin) return;
  const a = await scenario.page('admin');
  await at('an admin opens Translations in French and translates a keyword response', async () => {
    await signIn(a, config.admin);
    await Promise.all([a.waitForEvent('load'), a.selectOption('[data-testid="locale"]', 'fr')]);
    await a.waitForSelector('html[lang="fr"]');
    await a.goto(url + '/console/translations');
    const row = a.locator('[data-testid="translation-row"][data-kind="keyword_response"][data-missing="true"]').first();
    await row.waitFor();
    await checkFrench(a, en, 'translations');
    await a.check('[data-testid="translations-missing"]');
    await row.locator('[data-testid="translation-text"]').fill('Merci! Vous recevrez nos messages.');
    await Promise.all([
      a.waitForResponse((r) => r.url().includes('/api/v1/translations/keyword_response/') && r.request().method() === 'PUT' && r.ok()),
      row.locator('[data-testid="translation-text"]').press('Enter'),
    ]);
    await a.uncheck('[data-testid="translations-missing"]');
    await a.waitForSelector('[data-testid="translation-row"][data-missing="false"]');
    await checkFrench(a, en, 'translated');
    await scenario.shot('fr-translations', a);
  });
}

await scenario.run(main);
