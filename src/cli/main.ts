// `gatehouse <command>`: JSON on stdout for every success; on failure one line on stderr and a
// non-zero exit: 2 the command line is wrong, 1 the command failed, 78 the configuration is wrong.
// Reads the same configuration as the server (DATABASE_URL, DATA_DIR, …).
//
// Start-up time is the CLI's user experience: this module imports only the command table. The
// configuration, the database and each command's code are imported when a command needs them, so
// `--help` and usage errors load none of them.
import { parseArgs } from 'node:util';
import { COMMANDS, commandsUnder, UsageError, type Command, type CommandContext, type Options } from './commands.js';

const EXIT_USAGE = 2;
const EXIT_FAILED = 1;
const EXIT_CONFIG = 78;

/**
 * Where a run reads its settings and input and writes its output: the process's own, unless a test
 * runs the CLI in its own process (many commands, without starting node for each). `gatehouse demo`,
 * which serves until a signal, still writes its greeting to the process's own streams.
 */
export interface CliStreams {
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  for (const command of COMMANDS) {
    const words = command.name.split(' ');
    if (words.every((word, i) => argv[i] === word)) return { command, rest: argv.slice(words.length) };
  }
  return undefined;
}

function table(commands: Command[]): string[] {
  const width = Math.max(...commands.map((c) => c.name.length));
  return commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
}

function overview(): string {
  return [
    'Usage: gatehouse <command> [options]',
    '',
    ...table(COMMANDS),
    '',
    'Each command prints JSON on stdout. `gatehouse <command> --help` shows its options.',
    'Exit codes: 0 done, 1 the command failed, 2 the command line is wrong, 78 the configuration is wrong.',
  ].join('\n');
}

function groupHelp(word: string, commands: Command[]): string {
  return [`Usage: gatehouse ${word} <${commands.map((c) => c.name.split(' ')[1]).join('|')}> [options]`, '', ...table(commands)].join('\n');
}

function commandHelp(command: Command): string {
  const entries = Object.entries(command.options).map(([name, spec]) => [`--${name}${spec.value ? ` ${spec.value}` : ''}`, spec] as const);
  const width = Math.max(0, ...entries.map(([flag]) => flag.length));
  return [
    ...command.usage.map((line, i) => `${i === 0 ? 'Usage:' : '      '} ${line}`),
    '',
    command.summary,
    ...(entries.length ? ['', 'Options:'] : []),
    ...entries.map(([flag, spec]) => `  ${flag.padEnd(width)}  ${spec.description}${spec.required ? ' (required)' : ''}`),
    `  ${'--help'.padEnd(width)}  show this help`,
  ].join('\n');
}

const seeHelp = (command: Command) => `see \`gatehouse ${command.name} --help\``;

/** node's parseArgs, with its errors said in Gatehouse's words. */
function parseOptions(command: Command, args: string[]): Options {
  const options = Object.fromEntries(Object.entries(command.options).map(([name, { type, multiple }]) => [name, { type, multiple: multiple === true }]));
  let values: Options;
  let given: string[];
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: false, tokens: true });
    values = parsed.values as Options;
    given = parsed.tokens.flatMap((token) => (token.kind === 'option' ? [token.name] : []));
  } catch (error) {
    const code = (error as { code?: string }).code;
    const flag = /'(-[^'\s]*)/.exec((error as Error).message)?.[1] ?? '';
    const name = flag.replace(/^-+/, '');
    const message = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? `unknown option ${flag} for \`gatehouse ${command.name}\``
      : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && command.options[name]?.type === 'boolean' ? `--${name} takes no value`
      : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? `--${name} needs a value${command.options[name]?.value ? ` (${command.options[name].value})` : ''}`
      : code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ? `unexpected argument "${/'([^']*)'/.exec((error as Error).message)?.[1] ?? args.find((a) => !a.startsWith('-'))}" (options start with --)`
      : 'the options could not be read';
    throw new UsageError(`${message}; ${seeHelp(command)}`, command);
  }
  for (const [name, spec] of Object.entries(command.options)) {
    if (!spec.multiple && given.filter((g) => g === name).length > 1) throw new UsageError(`--${name} was given twice; ${seeHelp(command)}`, command);
    if (spec.required && (values[name] === undefined || values[name] === '')) throw new UsageError(`--${name} is required; ${seeHelp(command)}`, command);
  }
  command.check?.(values);
  return values;
}

function readStdin(stdin: CliStreams['stdin']): Promise<string> {
  return new Promise((resolve, reject) => {
    if (stdin.isTTY) {
      reject(new UsageError('expected the password on standard input (pipe it in), not a terminal'));
      return;
    }
    let data = '';
    stdin.setEncoding('utf8');
    stdin.on('data', (chunk: string) => {
      data += chunk;
      if (data.length > 4096) reject(new UsageError('standard input is too long for a password'));
    });
    stdin.on('end', () => resolve(data));
    stdin.on('error', reject);
  });
}

async function run(command: Command, options: Options, io: CliStreams): Promise<unknown> {
  const { loadConfig } = await import('../config.js');
  const config = loadConfig(io.env);
  const ctx: CommandContext = {
    config,
    readStdin: () => readStdin(io.stdin),
    warn: (message) => io.stderr.write(`gatehouse: ${message}\n`),
    async useDatabase(work) {
      const [{ openDatabase }, { migrateToLatest }] = await Promise.all([import('../db/open.js'), import('../db/migrate.js')]);
      // knex's own console warnings (with stacks) would repeat what the one error line says.
      const opened = openDatabase(config, { quiet: true });
      try {
        if (!command.migrates) await migrateToLatest(opened.db);
        return await work(opened.db);
      } finally {
        await opened.close();
      }
    },
  };
  return command.run(ctx, options);
}

/** What went wrong, in Gatehouse's words, and the exit code that says what kind of thing it was. */
async function explain(error: unknown): Promise<{ message: string; code: number }> {
  if (error instanceof UsageError) return { message: error.message, code: EXIT_USAGE };
  const { ConfigError } = await import('../config.js');
  if (error instanceof ConfigError) return { message: error.message, code: EXIT_CONFIG };
  const { describeDatabaseError } = await import('./database-errors.js');
  const database = describeDatabaseError(error);
  if (database) return { message: database, code: EXIT_FAILED };
  const { isGatehouseError } = await import('../errors.js');
  if (isGatehouseError(error)) return { message: error.message, code: EXIT_FAILED };
  return { message: `unexpected error: ${error instanceof Error ? error.message : String(error)}`, code: EXIT_FAILED };
}

export async function main(argv: string[], io: CliStreams = process): Promise<number> {
  const wantsHelp = argv.includes('--help') || argv.includes('-h') || argv[0] === 'help';
  const words = argv[0] === 'help' ? argv.slice(1) : argv.filter((arg) => arg !== '--help' && arg !== '-h');
  const found = findCommand(words);
  const group = words[0] && !found ? commandsUnder(words[0]) : [];

  if (wantsHelp || argv.length === 0) {
    const text = found ? commandHelp(found.command) : group.length ? groupHelp(words[0]!, group) : overview();
    // Bare `gatehouse` is a usage error that explains itself; asking for help is not an error.
    (wantsHelp ? io.stdout : io.stderr).write(`${text}\n`);
    return wantsHelp ? 0 : EXIT_USAGE;
  }
  if (!found) {
    const message = group.length
      ? `\`gatehouse ${words[0]}\` needs one of: ${group.map((c) => c.name.split(' ')[1]).join(', ')}; see \`gatehouse ${words[0]} --help\``
      : `unknown command "${words.join(' ')}"; see \`gatehouse --help\` for the commands`;
    io.stderr.write(`gatehouse: ${message}\n`);
    return EXIT_USAGE;
  }
  try {
    const options = parseOptions(found.command, found.rest);
    const output = await run(found.command, options, io);
    if (output !== undefined) io.stdout.write(`${JSON.stringify(output)}\n`);
    return 0;
  } catch (error) {
    const { message, code } = await explain(error);
    // A configuration error lists each setting on its own line, as the server does.
    io.stderr.write(code === EXIT_CONFIG ? `gatehouse: ${message}\n` : `gatehouse: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return code;
  }
}
