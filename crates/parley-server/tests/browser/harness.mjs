// What every browser scenario shares: its arguments, a fresh Chromium profile per browser (Debian's
// Chromium, driven by playwright-core), named steps that fail on any error in the page or any
// Content-Security-Policy violation, screenshots, signing in, the simulator's customer, and one
// exit protocol: 0 when the scenario passed, 1 with the failing step (and a screenshot of every
// page) otherwise, 2 when started wrongly.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
// How long one wait of a step may take: a bound for a loaded two-core CI machine, not a speed check.
const WAIT = Number(process.env.STEP_TIMEOUT_MS || 30000);

/** `--name=value` arguments as an object. */
export const args = Object.fromEntries(process.argv.slice(2)
  .map((a) => /^--([\w-]+)=(.*)$/s.exec(a)).filter(Boolean).map((m) => [m[1], m[2]]));

/** The server's base URL, from `--url` or `PARLEY_URL`, without a trailing slash. */
export const url = (args.url || process.env.PARLEY_URL || '').replace(/\/+$/, '');

/** `email:password` from an argument, else from two environment variables; null when missing. */
export function credentials(value, emailVar, passwordVar) {
  const at = (value || '').indexOf(':');
  if (at > 0) return { email: value.slice(0, at), password: value.slice(at + 1) };
  const email = emailVar ? process.env[emailVar] : '';
  const password = passwordVar ? process.env[passwordVar] : '';
  return email && password ? { email, password } : null;
}

/** Exits with 2 and `message` unless `ok`. */
export function needs(ok, script, message) {
  if (ok) return;
  console.error(`${script}: ${message}`);
  process.exit(2);
}

/** A timeline message of `direction` whose text is exactly `text`. */
export const message = (direction, text) => `[data-testid="message"][data-direction="${direction}"]:has([data-testid="message-text"]:text-is(${JSON.stringify(text)}))`;

/** Signs `who` in and waits for the console. */
export async function signIn(page, who) {
  await page.goto(url + '/console/login');
  await page.fill('input[name="email"]', who.email);
  await page.fill('input[name="password"]', who.password);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/console'),
    page.click('[data-testid="login-submit"]'),
  ]);
}

/** A customer's message through the simulator. */
export async function simulatorInbound(channel, from, text) {
  const res = await fetch(url + '/simulator/inbound', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, from, text }),
  });
  if (res.status !== 202) throw new Error(`simulator inbound answered ${res.status}: ${await res.text()}`);
}

/** One scenario run: its browsers, its current step, what went wrong in its pages. */
export class Scenario {
  constructor(name) {
    this.name = name;
    this.step = 'starting';
    this.pageErrors = [];
    this.contexts = [];
    this.dirs = [];
    this.shots = args.shots || '';
  }

  /** A browser of its own (a fresh profile, so nothing leaks between browsers or runs). */
  async browser(label = '', options = {}) {
    const dir = mkdtempSync(join(tmpdir(), `parley-${this.name}-`));
    this.dirs.push(dir);
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: !process.env.HEADFUL,
      args: process.env.HEADFUL ? FLAGS.filter((f) => f !== '--headless') : FLAGS,
      viewport: { width: 1400, height: 900 },
      ...options,
    });
    this.contexts.push(context);
    context.setDefaultTimeout(WAIT);
    context.on('page', (page) => this.watch(page, label));
    for (const page of context.pages()) this.watch(page, label);
    return context;
  }

  /** The first page of a new browser. */
  async page(label = '', options = {}) {
    const context = await this.browser(label, options);
    return context.pages()[0] || context.newPage();
  }

  watch(page, label) {
    const who = label ? `${label}: ` : '';
    page.on('pageerror', (err) => this.pageErrors.push(who + err.message));
    page.on('console', (msg) => {
      // A CSP violation is reported on the console: our pages must never cause one.
      if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) {
        this.pageErrors.push(who + msg.text());
      }
    });
  }

  /** Runs one named step; fails it when the page reported an error meanwhile. */
  async stage(name, fn) {
    this.step = name;
    const started = Date.now();
    const result = await fn();
    console.log(`ok  ${name} (${Date.now() - started} ms)`);
    if (this.pageErrors.length) throw new Error('errors in the page: ' + this.pageErrors.join(' | '));
    return result;
  }

  /** A screenshot of a page (whole) or a locator into `--shots`, when given. */
  async shot(name, target) {
    if (!this.shots) return;
    mkdirSync(this.shots, { recursive: true });
    const path = join(this.shots, name + '.png');
    const isPage = typeof target.goto === 'function';
    await target.screenshot(isPage ? { path, fullPage: true } : { path });
    console.log(`    screenshot ${path}`);
  }

  /** Runs `main`, reports, closes every browser and exits with the protocol's code. */
  async run(main) {
    let code = 0;
    try {
      await main();
      console.log(`${this.name} scenario passed`);
    } catch (err) {
      code = 1;
      console.error(`FAILED at step "${this.step}": ${err && err.message ? err.message : err}`);
      if (this.pageErrors.length) console.error('page errors: ' + this.pageErrors.join(' | '));
      await this.failureShots();
    } finally {
      for (const context of this.contexts) await context.close().catch(() => {});
      for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    }
    process.exit(code);
  }

  async failureShots() {
    try {
      const dir = this.shots || mkdtempSync(join(tmpdir(), `parley-${this.name}-failure-`));
      mkdirSync(dir, { recursive: true });
      let i = 0;
      for (const context of this.contexts) {
        for (const page of context.pages()) {
          const file = join(dir, `${this.name}-failure-${++i}.png`);
          await page.screenshot({ path: file, fullPage: true });
          console.error(`screenshot: ${file} (${page.url()})`);
          const text = await page.innerText('main').catch(() => '');
          if (text) console.error('the page showed:\n' + text.slice(0, 2000));
        }
      }
    } catch (_) {
      // Screenshots are a help, not the verdict.
    }
  }
}
