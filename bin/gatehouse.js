#!/usr/bin/env node
// The `gatehouse` command. In a checkout (src/ present, dev dependencies installed) it runs the
// TypeScript sources through tsx, so it never lags behind them; in the production image, which
// ships only compiled JavaScript, it runs dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('..', import.meta.url);
const source = new URL('src/cli/main.ts', root);
const compiled = new URL('dist/src/cli/main.js', root);

let entry = compiled;
if (existsSync(fileURLToPath(source))) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
    entry = source;
  } catch {
    // tsx is a dev dependency; without it, fall back to the compiled output.
  }
}
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('gatehouse: no compiled output found; run `npm run build` (or `npm install` for the dev tools).\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
