// Vitest's global setup: src/ and migrations/ compiled to JavaScript once per run, for the tests
// that start Gatehouse as a process of its own (test/support/process.ts).
//
// Why: under tsx, each such process spent about a second more CPU getting ready (2.8 s against
// 1.8 s here) than the same code compiled, and the suite starts some forty of them, workers of
// WORKERS=2 included. It is also closer to production, which runs compiled JavaScript
// (the Dockerfile's `node dist/src/main.js`).
//
// esbuild transpiles file by file, as tsx does, so what runs is what tsx would have run; types
// are `npm test`'s tsc step's business. Every run compiles afresh (well under a second), so the
// output never lags the sources. In watch mode the processes keep running the sources through
// tsx instead: an edit made while vitest watches would otherwise reach them only on the next run.
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { TestProject } from 'vitest/node';
import { processAlive } from '../../src/db/embedded-lock.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// Under node_modules, as the bench's compiled copy is: src/paths.ts finds the project's files by
// walking up to the nearest package.json, and packages resolve from the same node_modules.
// One directory per run, so two runs in one checkout never compile over each other.
const CACHE_DIR = path.join(ROOT, 'node_modules', '.cache', 'gatehouse-test');
const OUT_DIR = path.join(CACHE_DIR, String(process.pid));

/** What runs that were killed before their teardown left behind. */
function sweepAbandoned(): void {
  let names: string[];
  try {
    names = readdirSync(CACHE_DIR);
  } catch {
    return;
  }
  for (const name of names) {
    if (/^\d+$/.test(name) && !processAlive(Number(name))) rmSync(path.join(CACHE_DIR, name), { recursive: true, force: true });
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** src/main.js compiled, or '' to run src/main.ts through tsx. */
    compiledMain: string;
  }
}

export default async function compileServer(project: TestProject): Promise<(() => void) | undefined> {
  if (project.config.watch) {
    project.provide('compiledMain', '');
    return undefined;
  }
  sweepAbandoned();
  await build({
    entryPoints: ['src/**/*.ts', 'migrations/**/*.ts'],
    absWorkingDir: ROOT,
    outbase: ROOT,
    outdir: OUT_DIR,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    logLevel: 'warning',
  });
  project.provide('compiledMain', path.join(OUT_DIR, 'src', 'main.js'));
  return () => rmSync(OUT_DIR, { recursive: true, force: true });
}
