// `gatehouse <command>`: JSON on stdout for every success; on failure one clear line on stderr and a
// non-zero exit (2: usage, 1: the command failed, 78: configuration). Reads the same configuration
// as the server (DATABASE_URL, DATA_DIR, …).
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { migrateToLatest } from '../db/migrate.js';
import { openDatabase } from '../db/open.js';
import { isGatehouseError } from '../errors.js';
import { COMMANDS, type Command } from './commands.js';

const EXIT_USAGE = 2;
const EXIT_FAILED = 1;
const EXIT_CONFIG = 78;

class UsageError extends Error {}

function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  for (const command of COMMANDS) {
    const words = command.name.split(' ');
    if (words.every((word, i) => argv[i] === word)) return { command, rest: argv.slice(words.length) };
  }
  return undefined;
}

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length), 'demo'.length);
  return [
    'Usage: gatehouse <command> [options]',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'demo'.padEnd(width)}  Development only: a demo app to try the sign-in flow in a browser`,
    '',
    'Each command prints JSON. `gatehouse <command> --help` shows its options.',
  ].join('\n');
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    if (process.stdin.isTTY) {
      reject(new UsageError('Expected the password on standard input (pipe it in), not a terminal.'));
      return;
    }
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      data += chunk;
      if (data.length > 4096) reject(new UsageError('Standard input is too long for a password.'));
    });
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}

async function runCommand(command: Command, rest: string[], config: Config): Promise<unknown> {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: rest, options: { ...command.options, help: { type: 'boolean' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\nUsage: ${command.usage}`);
  }
  if (values.help) {
    process.stdout.write(`Usage: ${command.usage}\n`);
    return undefined;
  }
  const opened = openDatabase(config);
  try {
    if (!command.migrates) await migrateToLatest(opened.db);
    return await command.run({ config, db: opened.db, readStdin }, values);
  } finally {
    await opened.close();
  }
}

async function runDemo(config: Config): Promise<void> {
  if (config.env === 'production') throw new UsageError('The demo is for development only and is not available in production.');
  const { readDemoDetails, DEMO_PORT, DEMO_API_SCOPE } = await import('../demo/seed.js');
  const details = readDemoDetails(config);
  if (!details) {
    throw new UsageError(`No demo app is set up in ${config.dataDir}. Start the server once in development (npm start) to create it.`);
  }
  const { startDemoApp } = await import('../demo/app.js');
  const demo = await startDemoApp({
    issuer: config.issuer,
    clientId: details.clientId,
    redirectUri: details.redirectUri,
    postLogoutRedirectUri: `http://localhost:${DEMO_PORT}/`,
    port: DEMO_PORT,
    host: 'localhost',
    scope: `openid profile email offline_access ${DEMO_API_SCOPE}`,
  });
  process.stdout.write(`${JSON.stringify({ demo: demo.url, issuer: config.issuer, email: details.email, password: details.password })}\n`);
  process.stderr.write(`Open ${demo.url} and sign in as ${details.email} (password ${details.password}). Ctrl-C to stop.\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await demo.close();
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(`${help()}\n`);
    return argv.length === 0 ? EXIT_USAGE : 0;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT_CONFIG;
    }
    throw error;
  }
  try {
    if (argv[0] === 'demo') {
      await runDemo(config);
      return 0;
    }
    const found = findCommand(argv);
    if (!found) throw new UsageError(`Unknown command "${argv.join(' ')}".\n\n${help()}`);
    const output = await runCommand(found.command, found.rest, config);
    if (output !== undefined) process.stdout.write(`${JSON.stringify(output)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`gatehouse: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (isGatehouseError(error)) {
      process.stderr.write(`gatehouse: ${error.message}\n`);
      return EXIT_FAILED;
    }
    process.stderr.write(`gatehouse: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILED;
  }
}
