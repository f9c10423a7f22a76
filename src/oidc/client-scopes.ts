// The API scopes an app was registered for, as its client metadata carries them (the clients
// table's scope, split by src/oidc/models/client.ts). Every token for an API is held to them, at
// the moment it is issued: the code flow, refresh, client_credentials and token exchange alike.
import { API_SCOPE_METADATA } from '../vocabulary.js';

const scopesByClient = new WeakMap<object, ReadonlySet<string>>();

/**
 * The API scopes `client` (oidc-provider's Client) was registered for. A Client object stands for
 * one version of its metadata (rememberClientsByMetadata), so its scopes are read once.
 */
export function apiScopesOf(client: unknown): ReadonlySet<string> {
  if (typeof client !== 'object' || client === null) return new Set();
  let scopes = scopesByClient.get(client);
  if (!scopes) {
    const value = (client as Record<string, unknown>)[API_SCOPE_METADATA];
    scopes = new Set(typeof value === 'string' ? value.split(' ').filter(Boolean) : []);
    scopesByClient.set(client, scopes);
  }
  return scopes;
}
