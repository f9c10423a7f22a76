// A browser without a browser: real HTTP with a cookie jar and manual redirects, for driving the
// sign-in pages from tests that are about protocol, not rendering. Stops at any URL outside the
// server (the app's redirect URI), the way a browser would hand over to the app.

export interface Response {
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

export class UserAgent {
  /** name → value, for the one origin under test. */
  readonly cookies = new Map<string, string>();
  /** Every Set-Cookie header the server sent, for asserting attributes. */
  readonly setCookieHeaders: string[] = [];

  constructor(private readonly origin: string) {}

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  private remember(headers: Headers) {
    for (const line of headers.getSetCookie()) {
      this.setCookieHeaders.push(line);
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'text/html', ...init.headers };
    if (this.cookies.size) headers.cookie = this.cookieHeader();
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(url, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.remember(res.headers);
    return { url, status: res.status, headers: res.headers, body: await res.text() };
  }

  /** Follows redirects within the server; returns the last response, or the first redirect that leaves it. */
  async follow(url: string, init: { form?: Record<string, string> } = {}): Promise<Response & { leftTo?: string }> {
    let res = await this.request(url, init);
    for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops += 1) {
      const location = new URL(res.headers.get('location')!, res.url).href;
      if (!location.startsWith(this.origin)) return { ...res, leftTo: location };
      res = await this.request(location);
    }
    return res;
  }
}

/** The value of a named hidden input, and the form's action, from a rendered page. */
export function formOf(html: string, action?: RegExp): { action: string; csrf: string } {
  const forms = [...html.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
  const form = action ? forms.find((f) => action.test(f[1]!)) : forms[0];
  if (!form) throw new Error(`no form${action ? ` matching ${action}` : ''} in page:\n${html.slice(0, 500)}`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(form[2]!)?.[1];
  return { action: decodeEntities(form[1]!), csrf: decodeEntities(csrf ?? '') };
}

function decodeEntities(value: string): string {
  return value.replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}
