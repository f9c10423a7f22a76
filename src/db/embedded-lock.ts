// PGlite keeps its files in one folder and must be opened by one process at a time. This lock file
// turns a second opener (a CLI command while the server runs) into a clear message instead of a
// corrupted database.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { GatehouseError } from '../errors.js';

export interface EmbeddedLock {
  release(): void;
}

/** Whether a process with this id runs (one of another user's counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockEmbeddedDatabase(dir: string): EmbeddedLock {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'gatehouse.lock');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return {
        release() {
          if (existsSync(file) && readFileSync(file, 'utf8') === String(process.pid)) unlinkSync(file);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(holder) && holder !== process.pid && processAlive(holder)) {
        throw new GatehouseError(
          'embedded_database_busy',
          `The embedded database in ${path.dirname(dir)} is in use by another Gatehouse process (pid ${holder}). ` +
            'Stop the server to run this command, or run Gatehouse on PostgreSQL (DATABASE_URL) so several processes can share it.',
        );
      }
      unlinkSync(file); // left behind by a process that is gone
    }
  }
  throw new GatehouseError('embedded_database_busy', `Could not lock the embedded database in ${dir}.`);
}
