// The worker's side of WORKERS=N (primary.ts supervises): who this process is in the logs, and the
// one message it sends the primary. With WORKERS=1 there is no primary, and each of these leaves
// the process exactly as it was: no extra log fields, no message.
import cluster from 'node:cluster';
import pino, { type DestinationStream } from 'pino';
import type { Logger } from '../logger.js';

/**
 * Standard output for a process that shares it with others (the primary and every worker). A
 * write to a pipe of at most PIPE_BUF bytes (4096 on Linux) is never interleaved with another
 * process's; pino's stream writes whole lines, several to a write up to maxWrite, so with maxWrite
 * at PIPE_BUF no line is cut into by another worker's (one line longer than that still could be).
 */
export function sharedStdout(): DestinationStream {
  return pino.destination({ dest: 1, maxWrite: 4096 });
}

/** What a worker tells the primary once it serves: listening, checked, and announced as started. */
export const READY_MESSAGE = { gatehouse: 'worker-ready' } as const;

export function isReadyMessage(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { gatehouse?: unknown }).gatehouse === READY_MESSAGE.gatehouse;
}

/** In a worker, every log line says which one wrote it: its cluster id and its pid. */
export function workerLogger(logger: Logger): Logger {
  return cluster.isWorker ? logger.child({ role: 'worker', worker: cluster.worker!.id, pid: process.pid }) : logger;
}

/** In a worker, tells the primary it is serving, so a later death is a crash and not a failed start. */
export function reportReady(): void {
  if (cluster.isWorker) process.send!(READY_MESSAGE);
}

/**
 * The process that says hello for the server (the demo's greeting): the only one without a
 * primary, else the first worker forked. Replacement workers come later with higher ids.
 */
export function isFirstProcess(): boolean {
  return !cluster.isWorker || cluster.worker!.id === 1;
}

/**
 * In a worker that has stopped serving, lets go of the channel to the primary, which would
 * otherwise keep the event loop alive and hold the exit until the fallback timer.
 */
export function releasePrimary(): void {
  if (cluster.isWorker && cluster.worker!.isConnected()) cluster.worker!.disconnect();
}
