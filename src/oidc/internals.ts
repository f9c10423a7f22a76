// Everything Gatehouse relies on of oidc-provider that is not its documented API — its
// configuration, events, Provider's public methods, its `errors` classes and the documented
// `ctx.oidc` properties (route, params, client, session, account) — lives behind this module, one
// named export per reliance, each saying what of oidc-provider it leans on and what breaks if that
// changes. test/oidc/internals.contract.test.ts checks every one of them against the installed
// oidc-provider, through a real provider over real HTTP.
//
// Upgrading oidc-provider:
//   1. bump the exact pin in package.json and PINNED_OIDC_PROVIDER_VERSION below, then npm install;
//   2. run the contract file: npx vitest run test/oidc/internals.contract.test.ts
//   3. read each failure: its message names the reliance and the oidc-provider file it was read
//      from; re-read that file in node_modules/oidc-provider/lib, and change the export here (and
//      its callers) to what the new version does — or, where that is no longer possible, the
//      Gatehouse behaviour the export's comment says breaks. Then run the tests its callers name.
// Anything new leaned on goes here, with its contract test, never into the calling module.
// One reliance has no code to move here: oidc-provider builds the URLs it emits from ctx.href
// (lib/helpers/oidc_context.js, urlFor), which src/http/issuer-origin.ts pins to ISSUER; the
// contract file checks it too. Nor does another: a registration update destroys the presented
// registration access token before it saves the next one (lib/actions/registration.js), which
// src/oidc/models/registration-access-token.ts relies on to stop a rotation from forking; the
// concurrent-update test in test/registration/registration.test.ts fails if that order changes.

/** The oidc-provider release these reliances were read from and checked against. */
export const PINNED_OIDC_PROVIDER_VERSION = '9.13.3';

export * from './internals/requests.js';
export * from './internals/wire.js';
export * from './internals/models.js';
export * from './internals/sender-constraints.js';
