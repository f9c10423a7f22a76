// HTTP with the headers fetch will not send: a Host of the caller's choosing, and an absolute-form
// request line (`GET http://evil.example/path`), as an attacker or a confused proxy sends them.
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
}

export interface RawRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** The request target as sent, e.g. an absolute URL; by default the URL's path and query. */
  target?: string;
}

/** Sends one request to the server at `url`'s address, with exactly the headers given (Host included). */
export function rawRequest(url: string, init: RawRequest = {}): Promise<RawResponse> {
  const address = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: address.hostname,
      port: address.port,
      method: init.method ?? 'GET',
      path: init.target ?? `${address.pathname}${address.search}`,
      headers: init.headers,
      agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const one of Array.isArray(value) ? value : [value]) if (one !== undefined) headers.append(name, one);
        }
        resolve({ status: res.statusCode!, headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * A browser whose every request claims another host: a cookie jar, forms, and redirects followed
 * by path on the real server, so that wherever Gatehouse points, the test sees what it pointed to.
 */
export class ForgedHostAgent {
  readonly cookies = new Map<string, string>();

  constructor(private readonly server: string, private readonly forged: Record<string, string>) {}

  async request(url: string, init: { form?: Record<string, string> } = {}): Promise<RawResponse & { url: string }> {
    const target = new URL(url, this.server);
    const headers: Record<string, string> = { accept: 'text/html', ...this.forged };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await rawRequest(`${this.server}${target.pathname}${target.search}`, { method: init.form ? 'POST' : 'GET', headers, body });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { ...res, url: target.href };
  }
}
