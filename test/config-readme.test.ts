// README's configuration table is the operator's list of settings: it names every environment
// variable Gatehouse reads, and nothing it does not.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_VARIABLES } from '../src/config.js';
import { PROJECT_ROOT } from '../src/paths.js';

/** The variables named in the first column of README's configuration table. */
function documentedVariables(): string[] {
  const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## Configuration$/m)[1]?.split(/^#{2,3} /m)[0] ?? '';
  const firstCells = section.split('\n').filter((line) => line.startsWith('| `')).map((line) => line.split('|')[1]!);
  return firstCells.flatMap((cell) => [...cell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((match) => match[1]!));
}

describe("README's configuration table", () => {
  it('names every environment variable the configuration reads, and only those', () => {
    const documented = documentedVariables();
    expect(documented.length).toBeGreaterThan(0);
    expect([...new Set(documented)].sort()).toEqual([...new Set(ENVIRONMENT_VARIABLES)].sort());
  });
});
