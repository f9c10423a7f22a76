// `node --import tsx bench/flow-cpu.ts`: where one sign-in flow's CPU goes, request by request —
// the flow scenario's flow (a fresh browser, argon2id, consent remembered, the code exchange), sent
// one request at a time to a compiled Gatehouse of its own, so each request's main-thread CPU can
// be told apart (request-cpu.ts), beside every thread's CPU from /proc. Unlike the flow scenario,
// nothing else competes for the event loop: the figures hold on a busy machine, and say where the
// sign-in target's milliseconds are, not whether it is met (`npm run bench` says that).
// FLOWS=200 (after 50 to warm up).
import { execFileSync, fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { authorizationCodeFlow } from './flow.js';
import { benchDatabase, freePort, gatehouseEnvironment, gatehouseTarget, seed } from './setup.js';
import type { RequestCpu } from './request-cpu.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const FLOWS = Number(process.env.FLOWS ?? 200);
const TICKS_PER_SECOND = 100;

/** CPU seconds of each kind of thread of a process: its main thread, libuv's pool, V8's helpers. */
function threadCpu(pid: number): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const kind = Number(tid) === pid ? 'main thread' : name === 'libuv-worker' ? 'libuv pool (argon2id, webcrypto)' : `other: ${name}`;
    kinds.set(kind, (kinds.get(kind) ?? 0) + (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND);
  }
  return kinds;
}

execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.bench.json')], { stdio: 'inherit' });
const database = await benchDatabase();
const seeded = await seed(database.url, 1);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = fork(path.join(ROOT, 'node_modules', '.cache', 'gatehouse-bench', 'bench', 'instance.js'), [], {
  env: { ...process.env, BENCH_REQUEST_CPU: '1', BENCH_GATEHOUSE_ENV: JSON.stringify({ ...gatehouseEnvironment(base, database.url), PORT: String(port) }) },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const ask = <T>(cmd: string) => new Promise<T>((resolve) => {
  const onMessage = (message: { cmd?: string }) => {
    if (message.cmd !== cmd) return;
    child.off('message', onMessage);
    resolve(message as T);
  };
  child.on('message', onMessage);
  if (cmd !== 'ready') child.send({ cmd });
});
try {
  await ask('ready');
  const target = gatehouseTarget(base, seeded);
  const run = async (flows: number) => {
    for (let i = 0; i < flows; i += 1) await authorizationCodeFlow(target, seeded.people[0]!, { scope: `openid profile email ${seeded.apiScope}` });
  };
  await run(50);
  await ask('request-cpu');
  const before = threadCpu(child.pid!);
  await run(FLOWS);
  const after = threadCpu(child.pid!);
  const { byKind } = await ask<RequestCpu>('request-cpu');

  const ms = (micros: number) => (micros / 1000 / FLOWS).toFixed(2).padStart(6);
  process.stdout.write(`\n${FLOWS} sign-in flows, one request at a time: the main thread's CPU per flow, by request\n\n`);
  for (const [kind, { count, cpuMicros }] of Object.entries(byKind).sort((a, b) => b[1].cpuMicros - a[1].cpuMicros)) {
    process.stdout.write(`${ms(cpuMicros)} ms  ${kind}${count ? ` (${(count / FLOWS).toFixed(0)} a flow)` : ''}\n`);
  }
  const total = Object.values(byKind).reduce((sum, { cpuMicros }) => sum + cpuMicros, 0);
  process.stdout.write(`${ms(total)} ms  the main thread in all\n\nEvery thread's CPU per flow (/proc):\n\n`);
  for (const [kind, seconds] of after) {
    process.stdout.write(`${((seconds - (before.get(kind) ?? 0)) * 1000 / FLOWS).toFixed(2).padStart(6)} ms  ${kind}\n`);
  }
} finally {
  child.send({ cmd: 'stop' });
  await new Promise((resolve) => child.once('exit', resolve));
  await database.drop();
}
