// `node --import tsx bench/flow-cpu.ts`: where one sign-in flow's CPU goes, request by request —
// the flow scenario's flow (a fresh browser, argon2id, consent remembered, the code exchange), sent
// one request at a time to a compiled Gatehouse of its own, so each request's main-thread CPU can
// be told apart (request-cpu.ts), beside every thread's CPU from /proc. Unlike the flow scenario,
// nothing else competes for the event loop: the figures hold on a busy machine, and say where the
// sign-in target's milliseconds are, not whether it is met (`npm run bench` says that).
// FLOWS=200 (after 50 to warm up).
import { authorizationCodeFlow } from './flow.js';
import { compileForBench, forkCompiled, nextMessage, stop } from './children.js';
import { threadCpuSeconds } from './cpu.js';
import { benchDatabase, freePort, gatehouseEnvironment, gatehouseTarget, seed } from './setup.js';
import type { RequestCpu } from './request-cpu.js';

const FLOWS = Number(process.env.FLOWS ?? 200);

/** CPU seconds of each kind of thread of a process: its main thread, libuv's pool, V8's helpers. */
function threadCpu(pid: number): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const { tid, name, seconds } of threadCpuSeconds(pid)) {
    const kind = tid === pid ? 'main thread' : name === 'libuv-worker' ? 'libuv pool (argon2id, webcrypto)' : `other: ${name}`;
    kinds.set(kind, (kinds.get(kind) ?? 0) + seconds);
  }
  return kinds;
}

compileForBench();
const database = await benchDatabase();
const seeded = await seed(database.url, 1);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = forkCompiled('instance.ts', { BENCH_REQUEST_CPU: '1', BENCH_GATEHOUSE_ENV: JSON.stringify({ ...gatehouseEnvironment(base, database.url), PORT: String(port) }) });
const ask = <T>(cmd: string) => {
  const answer = nextMessage<T>(child, cmd);
  child.send({ cmd });
  return answer;
};
try {
  await nextMessage(child, 'ready');
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
  await stop(child);
  await database.drop();
}
