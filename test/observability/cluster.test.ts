// With WORKERS>1 each worker process counts in a registry of its own, and Prometheus scrapes the
// primary, which answers with all of them: counters summed, the change listeners counted, and the
// outbox (one table every worker reads) reported once rather than once per worker.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scrape } from '../support/metrics.js';
import { cleanEnv } from '../support/process.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cluster-metrics.fixture.ts');

describe('metrics of a cluster', () => {
  it("serves the workers' registries from the primary, each metric aggregated as it says", async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('close', resolve));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          const match = /listening (\S+)\n/.exec(out);
          if (match) resolve(match[1]!);
        });
        child.once('close', (code) => reject(new Error(`the cluster exited (${code}) before listening`)));
      });
      const scraped = await scrape(`${address}/metrics`);
      // Worker ids 1 and 2 counted 1 and 2 sign-ins.
      expect(scraped.value('gatehouse_sign_ins_total', { outcome: 'succeeded', factor: 'password' })).toBe(3);
      expect(scraped.value('gatehouse_change_listener_connected')).toBe(2);
      expect(scraped.value('gatehouse_outbox_pending')).toBe(5);
      expect(scraped.value('gatehouse_outbox_oldest_pending_age_seconds')).toBe(7);
      expect(scraped.value('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
