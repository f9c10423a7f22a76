// `gatehouse demo`: the development demo app, for the database this command's configuration names.
// The demo app is registered for the callback on its port; another port is registered first (the
// embedded database can do that only while the server is stopped).
import { demoBackchannelLogoutUri, demoDatabaseKey, demoRedirectUri, DEMO_API_SCOPE, DEMO_PORT, hasUnclaimedDemoDetails, readDemoDetails, saveDemoDetails, type DemoDetails } from '../demo/seed.js';
import { GatehouseError, isGatehouseError } from '../errors.js';
import type { CommandContext, Options } from './commands.js';

/** Where to find the database in messages: never a password. */
function databaseName(ctx: CommandContext): string {
  return ctx.config.databaseUrl ? `the PostgreSQL database ${demoDatabaseKey(ctx.config)}` : `the embedded database in ${ctx.config.dataDir}`;
}

async function registerPort(ctx: CommandContext, details: DemoDetails, port: number): Promise<DemoDetails> {
  const redirectUri = demoRedirectUri(port);
  const postLogout = `http://localhost:${port}/`;
  try {
    await ctx.useDatabase(async (db) => {
      const { operationsFor } = await import('./actions.js');
      const operations = await operationsFor(ctx.config, db);
      const client = await operations.apps.getClient(details.clientId);
      await operations.apps.updateClient({ type: 'system', id: 'cli' }, details.clientId, {
        redirectUris: [...new Set([...client.redirectUris, redirectUri])],
        postLogoutRedirectUris: [...new Set([...client.postLogoutRedirectUris, postLogout])],
        // One URI per app: logout tokens go to the demo on the port registered last.
        backchannelLogoutUri: demoBackchannelLogoutUri(port),
      });
    });
  } catch (error) {
    if (isGatehouseError(error, 'embedded_database_busy')) {
      throw new GatehouseError(
        'embedded_database_busy',
        `the demo app is registered for port ${details.redirectUris.map((uri) => new URL(uri).port).join(', ')}; to use port ${port}, `
        + `stop Gatehouse, run \`gatehouse demo --port ${port}\` once to register it, then start Gatehouse again (or run the demo without --port)`,
      );
    }
    if (isGatehouseError(error, 'not_found')) throw new GatehouseError('not_found', `the demo app of ${databaseName(ctx)} no longer exists; start the server (npm start) to set the demo up again`);
    throw error;
  }
  const updated = { ...details, redirectUris: [...details.redirectUris, redirectUri] };
  saveDemoDetails(ctx.config, updated);
  return updated;
}

/** Says so, without failing, when nothing answers at the issuer: the demo may well start first. */
async function checkIssuer(ctx: CommandContext, issuer: string): Promise<void> {
  try {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2000) });
    const metadata = res.ok ? (await res.json()) as { issuer?: unknown } : undefined;
    if (metadata?.issuer !== issuer) ctx.warn(`${issuer} does not look like Gatehouse's issuer (no matching discovery document); pass --issuer with the URL Gatehouse runs at`);
  } catch {
    ctx.warn(`nothing answers at ${issuer} yet: start Gatehouse (npm start), or pass --issuer with the URL it runs at`);
  }
}

export async function runDemo(ctx: CommandContext, options: Options): Promise<undefined> {
  const { config } = ctx;
  if (config.env === 'production') throw new GatehouseError('invalid_input', 'the demo is for development only and is not available in production');
  let details = readDemoDetails(config);
  if (!details) {
    const hint = hasUnclaimedDemoDetails(config)
      ? 'start the server (npm start) on it once: it tells which database the demo details on record belong to'
      : 'start the server once in development (npm start) on it to create one';
    throw new GatehouseError('not_found', `no demo app is set up for ${databaseName(ctx)}; ${hint}`);
  }
  const port = typeof options.port === 'string' ? Number(options.port) : DEMO_PORT;
  const issuer = (typeof options.issuer === 'string' ? options.issuer : config.issuer).replace(/\/+$/, '');
  const redirectUri = demoRedirectUri(port);
  if (!details.redirectUris.includes(redirectUri)) details = await registerPort(ctx, details, port);

  const { startDemoApp } = await import('../demo/app.js');
  let demo;
  try {
    demo = await startDemoApp({
      issuer,
      clientId: details.clientId,
      redirectUri,
      postLogoutRedirectUri: `http://localhost:${port}/`,
      port,
      host: 'localhost',
      scope: `openid profile email offline_access ${DEMO_API_SCOPE}`,
      ...(typeof options.api === 'string' ? { api: options.api } : {}),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new GatehouseError('conflict', `port ${port} is in use; choose another with --port`);
    throw error;
  }
  // Listening for the signals before saying anything, so a stop right after the first line is clean.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write(`${JSON.stringify({ demo: demo.url, issuer, email: details.email, password: details.password })}\n`);
  process.stderr.write(`Open ${demo.url} and sign in as ${details.email} (password ${details.password}). Ctrl-C to stop.\n`);
  await checkIssuer(ctx, issuer);
  await stopped;
  await demo.close();
  return undefined;
}
