// A real browser for page tests: Debian's Chromium driven by playwright-core (downloading a
// browser is not possible here; .ci/run installs the packages).
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

// Debian's chromium-headless-shell is the same Chromium built as the old headless shell, which is
// what Playwright itself runs for headless tests. The full browser in headless mode also starts
// the browser UI's own WebUI renderers for every window: on the 2-core machines the suite runs on,
// Chromium was about 40% of the suite's CPU, and a browser test file took twice the time and CPU
// it takes in the shell. The full browser is the fallback for a machine without the shell.
const HEADLESS_SHELL = '/usr/bin/chromium-headless-shell';
const EXECUTABLE = existsSync(HEADLESS_SHELL) ? HEADLESS_SHELL : '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: EXECUTABLE,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * Pages each in a browser context of its own (own cookies, so its own Gatehouse session), with
 * every Content-Security-Policy violation they report collected: our pages need nothing the CSP
 * forbids, no script and no inline style.
 */
export class SeparateBrowsers {
  readonly #contexts: BrowserContext[] = [];
  readonly #cspViolations: string[] = [];

  constructor(private readonly browser: () => Browser) {}

  async newPage(): Promise<Page> {
    const context = await this.browser().newContext();
    this.#contexts.push(context);
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.text().includes('Content Security Policy')) this.#cspViolations.push(`${page.url()}: ${message.text()}`);
    });
    return page;
  }

  /** Closes every page's browser context; returns (and forgets) the CSP violations seen. */
  async closeAll(): Promise<string[]> {
    await Promise.all(this.#contexts.splice(0).map((context) => context.close()));
    return this.#cspViolations.splice(0);
  }
}

/**
 * Where the browser is sent under `prefix` (an app's redirect URI) while `act` runs, read off the
 * request rather than the page. Playwright's routes see only the first request of a redirect
 * chain, so the app page Gatehouse redirects to is never fulfilled by one: Chromium shows an error
 * page and reloads it a second later. The request itself already carries the code and state.
 */
export async function sentTo(page: Page, prefix: string, act: () => Promise<unknown>): Promise<URL> {
  const [request] = await Promise.all([page.waitForRequest((r) => r.url().startsWith(prefix)), act()]);
  // That navigation ends before the test's next one, which it would otherwise interrupt.
  await page.waitForURL((url) => url.href.startsWith(prefix) || url.protocol === 'chrome-error:', { waitUntil: 'commit' });
  return new URL(request.url());
}
