// A request the test holds open on the server, deterministically and without sleeping: it is
// sent with `Expect: 100-continue` and its body withheld. Node writes `100 Continue` in the same
// turn of the event loop in which it hands the request to Gatehouse's middleware, so once the
// client has read it, the request has been admitted (or shed, which answers at once) before the
// server reads anything else. It stays in progress until finish() sends the body.
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HeldRequest {
  /** Resolves when the server has taken the request in (100 Continue read). */
  taken: Promise<void>;
  /** Whether a response arrived before the body was sent (a shed request). */
  answeredEarly(): boolean;
  /** Sends the body; resolves with the whole response. */
  finish(): Promise<RawResponse>;
}

export function holdRequest(url: string, init: { method?: string; headers?: Record<string, string>; body: string }): HeldRequest {
  const body = Buffer.from(init.body);
  const req = http.request(url, {
    method: init.method ?? 'POST',
    agent: false,
    headers: { ...init.headers, expect: '100-continue', 'content-length': String(body.length) },
  });
  let early = false;
  const response = new Promise<RawResponse>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      early = !req.writableEnded;
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
      res.once('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.once('error', reject);
    });
  });
  const taken = new Promise<void>((resolve, reject) => {
    req.once('continue', () => resolve());
    req.once('error', reject);
  });
  req.flushHeaders();
  return {
    taken,
    answeredEarly: () => early,
    finish() {
      req.end(body);
      return response;
    },
  };
}

/** One request on a connection of its own, with node:http so connection errors keep their codes. */
export function rawRequest(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', agent: init.agent ?? false, headers: init.headers });
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
      res.once('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.once('error', reject);
    });
    req.end(init.body);
  });
}
