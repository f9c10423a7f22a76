// What the language tests share: a browser that asks for German.
import { UserAgent, type Response } from '../support/user-agent.js';

/** A browser set to German: every request it sends says Accept-Language: de-DE. */
export class GermanBrowser extends UserAgent {
  override request(url: string, init: Parameters<UserAgent['request']>[1] = {}): Promise<Response> {
    return super.request(url, { ...init, headers: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5', ...init?.headers } });
  }
}
