// The bench's child processes (Gatehouse, the ceiling, the proxy), shared by run.ts and flow-cpu.ts.
// They run as compiled JavaScript, as production runs Gatehouse (the Dockerfile's
// `node dist/src/main.js`): under tsx, every function made at run time also goes through esbuild's
// name-keeping helper, which cost Gatehouse about 7% more CPU per token request than the same code
// compiled. tsc compiles incrementally, so only the first run waits.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COMPILED = path.join(ROOT, 'node_modules', '.cache', 'gatehouse-bench');

/** Compiles src/ and bench/ for the children (tsconfig.bench.json). */
export function compileForBench(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.bench.json')], { stdio: 'inherit' });
}

/** Forks bench/`file`, compiled, talking over IPC; BENCH_CHILD_EXEC_ARGV adds Node flags to every child. */
export function forkCompiled(file: string, env: Record<string, string>, execArgv: string[] = []): ChildProcess {
  return fork(path.join(COMPILED, 'bench', file.replace(/\.ts$/, '.js')), [], {
    execArgv: [...execArgv, ...(process.env.BENCH_CHILD_EXEC_ARGV?.split(' ').filter(Boolean) ?? [])],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** The child's next message named `cmd`; rejected if the child exits first. */
export function nextMessage<T>(child: ChildProcess, cmd: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { cmd?: string }) => {
      if (message.cmd !== cmd) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message as T);
    };
    const onExit = (code: number | null) => reject(new Error(`child exited (${code}) before '${cmd}'`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Asks the child to stop (SIGTERM without IPC, SIGKILL after 5 s) and waits for it to exit. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  if (child.connected) child.send({ cmd: 'stop' }); else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
