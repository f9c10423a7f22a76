// The token endpoints' form, read in front of oidc-provider as the provider reads it. A body that
// cannot be read any more must be answered at once: a request left waiting on a stream that will
// say nothing keeps its load-shedding slot for good.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTokenEndpointForm } from '../../src/http/provider-form.js';

let server: http.Server;
let url: string;

beforeAll(async () => {
  const app = new Koa();
  app.use(async (ctx) => {
    // Something before us read the stream to its end without handing on what it read.
    if (ctx.get('x-read-first')) for await (const chunk of ctx.req) void chunk;
    const form = await readTokenEndpointForm(ctx);
    if (form) ctx.body = { form };
  });
  server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});
afterAll(async () => { await new Promise((resolve) => server.close(resolve)); });

const post = (body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });

describe('the token endpoints\' form', () => {
  it('is read as oidc-provider reads it: names are taken as they are, repeats become lists', async () => {
    const res = await post('grant_type=client_credentials&a.b=1&c[d]=2&scope=x&scope=y');
    expect(((await res.json()) as { form: unknown }).form).toEqual({ grant_type: 'client_credentials', 'a.b': '1', 'c[d]': '2', scope: ['x', 'y'] });
  });

  it('answers a body that was read already with invalid_request, without waiting for it', async () => {
    const res = await post('grant_type=client_credentials', { 'x-read-first': '1' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'the request body could not be parsed' });
  });

  it('refuses a body over oidc-provider\'s 56 KiB with 413', async () => {
    const res = await post(`grant_type=client_credentials&padding=${'x'.repeat(56 * 1024)}`);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });
});
