// The Grafana dashboard in docs/ and README's list of metrics name only metrics Gatehouse exports,
// and every one of its own: a renamed metric would otherwise leave an operator's panel silently
// empty, and a new one unseen.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectRuntimeMetrics, registry } from '../../src/observability/metrics.js';
import { PROJECT_ROOT } from '../../src/paths.js';

collectRuntimeMetrics();
const exported = new Set((await registry.getMetricsAsJSON()).map((metric) => metric.name));

/** A histogram's series are its name plus _bucket, _sum and _count. */
function metricOf(series: string): string {
  const base = series.replace(/_(bucket|sum|count)$/, '');
  return exported.has(base) ? base : series;
}

interface Panel { targets?: Array<{ expr: string }> }

describe('docs/grafana-dashboard.json', () => {
  it('queries only metrics Gatehouse exports, and graphs every one of its own', () => {
    const dashboard = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as { panels: Panel[] };
    const queries = dashboard.panels.flatMap((panel) => panel.targets ?? []).map((target) => target.expr);
    const named = new Set(queries.flatMap((query) => [...query.matchAll(/\b((?:gatehouse|nodejs|process)_[a-z0-9_]+)/g)].map((match) => metricOf(match[1]!))));
    expect([...named].filter((name) => !exported.has(name))).toEqual([]);
    expect([...exported].filter((name) => name.startsWith('gatehouse_') && !named.has(name))).toEqual([]);
  });
});

describe("README's list of metrics", () => {
  it('names only exported metrics, and every gatehouse_ one', () => {
    const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const section = readme.split(/^## Observability$/m)[1]?.split(/^## /m)[0] ?? '';
    const firstCells = section.split('\n').filter((line) => line.startsWith('| `')).map((line) => line.split('|')[1]!);
    const named = new Set(firstCells.flatMap((cell) => [...cell.matchAll(/`([a-z][a-z0-9_]*)`/g)].map((match) => match[1]!)));
    expect(named.size).toBeGreaterThan(0);
    expect([...named].filter((name) => !exported.has(name))).toEqual([]);
    expect([...exported].filter((name) => name.startsWith('gatehouse_') && !named.has(name))).toEqual([]);
  });
});
