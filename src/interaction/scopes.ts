// What each scope means, in the words shown to the person deciding whether to allow it.
export interface DescribedScope {
  name: string;
  text: string;
}

const OIDC_SCOPE_TEXT: Record<string, string> = {
  openid: 'Confirm who you are when you sign in',
  profile: 'See your name',
  email: 'See your email address and whether it is verified',
  offline_access: 'Keep access while you are not using it, until you revoke it',
};

export function describeOidcScopes(scopes: string[]): DescribedScope[] {
  return scopes
    .filter((name) => name in OIDC_SCOPE_TEXT)
    .map((name) => ({ name, text: OIDC_SCOPE_TEXT[name]! }));
}

export function describeApiScopes(scopes: string[], descriptions: Record<string, string>): DescribedScope[] {
  return scopes.map((name) => ({ name, text: descriptions[name] ?? `Use the “${name}” permission` }));
}
