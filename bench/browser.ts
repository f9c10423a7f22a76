// The browser the load drives sign-ins with: fetch, a cookie jar for one origin, and redirects
// followed by hand, so that a flow runs at load-generator speed with no real browser. The first
// redirect that leaves the server (the app's callback) is handed back, as a browser hands over to
// the app. Every request can carry extra headers (the cross-instance walk pins each one to an
// instance) and every answer's headers can be watched (which instance served it).

export interface Page {
  url: string;
  status: number;
  headers: Headers;
  body: string;
  /** The first redirect that left the server: the app's callback. */
  leftTo?: string;
}

export interface BrowserOptions {
  /** Sent with every request, redirects included. */
  headers?: Record<string, string>;
  /** Called with every answer's headers. */
  onAnswer?: (headers: Headers) => void;
}

export class Browser {
  readonly #cookies = new Map<string, string>();

  constructor(private readonly origin: string, private readonly options: BrowserOptions = {}) {}

  /** GET `url`, or POST `form` to it, then follow redirects within the server. */
  async go(url: string, form?: Record<string, string>): Promise<Page> {
    let page = await this.#request(url, form);
    for (let hops = 0; hops < 10 && page.status >= 300 && page.status < 400; hops += 1) {
      const location = new URL(page.headers.get('location')!, page.url).href;
      if (!location.startsWith(this.origin)) return { ...page, leftTo: location };
      page = await this.#request(location);
    }
    return page;
  }

  /** Submits the page's form whose action matches, with its CSRF token and `fields`. */
  submit(page: Page, action: RegExp, fields: Record<string, string>): Promise<Page> {
    const form = [...page.body.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)].find((f) => action.test(f[1]!));
    if (!form) throw new Error(`no form matching ${action} on ${page.url}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(form[2]!)?.[1] ?? '';
    return this.go(new URL(unescapeHtml(form[1]!), page.url).href, { csrf: unescapeHtml(csrf), ...fields });
  }

  async #request(url: string, form?: Record<string, string>): Promise<Page> {
    const headers: Record<string, string> = { accept: 'text/html', ...this.options.headers };
    if (this.#cookies.size) headers.cookie = [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method: form ? 'POST' : 'GET', headers, body: form ? new URLSearchParams(form) : undefined, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';', 1)[0]!;
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
    this.options.onAnswer?.(res.headers);
    return { url, status: res.status, headers: res.headers, body: await res.text() };
  }
}

/** The entities the server's templates escape in attribute values. */
function unescapeHtml(value: string): string {
  return value.replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}
