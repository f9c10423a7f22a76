// Where the project's files are, whether running from src/ (tsx) or from the compiled dist/src/.
// Found by walking up to the nearest package.json rather than by matching "dist" in the path.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const PROJECT_ROOT = findProjectRoot(path.dirname(fileURLToPath(import.meta.url)));

export const CONFIG_DIR = path.join(PROJECT_ROOT, 'config');
export const VIEWS_DIR = path.join(PROJECT_ROOT, 'views');
/** One message catalog per language, <tag>.json: adding a language is adding a file. */
export const LOCALES_DIR = path.join(PROJECT_ROOT, 'locales');
/** Compiled next to the sources: migrations/*.ts in a checkout, dist/migrations/*.js in the image. */
export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');

/** Hosts that name this machine: http is acceptable there (RFC 8252 §7.3, development issuers). */
export const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
