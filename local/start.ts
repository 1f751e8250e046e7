import './quiet-sdk-notices';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ENV } from '../core/env-names';
import { LOCAL_USERS } from './local-users';
import { startLocalStack, type LocalStack, type LocalStackOptions } from './stack';
import { buildWorkerImage, type WorkerImage } from './worker-image';
import { readableTerminal } from './readable-logs';
import { superviseWorker } from './worker-supervisor';

const USAGE = `Usage: npm start -- [options]
  Starts the whole system on 127.0.0.1 (API, console, emulators, sandbox sites, robot worker).

  --fresh                       forget the data kept under the data directory
  --data-dir DIR                where data, outputs.json and ports.json live (default .roboport)
  --ports auto                  any free ports instead of the fixed 4000-4009 and 9229 (tests)
  --ports last                  the ports of the last run on this data directory (any free ones at first):
                                URLs stored in jobs (a portal's, the sandbox's) still work after a restart
  --no-worker                   do not run a robot worker (tests that manage their own)
  --workers N                   run N supervised robot worker processes (default 1, at most 8), as N
                                Fargate tasks would; worker.pid holds their pids, one line each
  --worker-image                run the worker as containers/robot/Dockerfile builds it (local/worker-image.ts)
                                instead of its TypeScript source
  --no-dlq-consumer             leave dead letters in the robot DLQ for a redrive (GET /ops/dlq) instead of
                                reprocessing them
  --worker-restart-max-ms N     longest pause before the supervisor restarts a dead worker (default 10000)
  -h, --help                    print this help`;

const repoRoot = path.resolve(import.meta.dirname, '..');
const flags = parseFlags(process.argv.slice(2));

/** `npm start` flags; an unknown or malformed one is named, followed by the help (exit code 2). */
function parseFlags(args: string[]) {
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        fresh: { type: 'boolean', default: false },
        'data-dir': { type: 'string', default: path.join(repoRoot, '.roboport') },
        ports: { type: 'string', default: 'fixed' },
        'no-worker': { type: 'boolean', default: false },
        workers: { type: 'string', default: '1' },
        'worker-image': { type: 'boolean', default: false },
        'worker-restart-max-ms': { type: 'string' },
        'no-dlq-consumer': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (!['fixed', 'auto', 'last'].includes(values.ports)) throw new Error(`--ports must be auto or last, got "${values.ports}"`);
    return values;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    process.exit(2);
  }
}

const FIXED_PORTS = { api: 4000, console: 4001, sandbox: 4002, stepFunctions: 4003, sqs: 4004, dynamodb: 4005, cognito: 9229, portal: 4006, secretsManager: 4007, s3: 4008, events: 4009 };
const ANY_PORTS = { api: 0, console: 0, sandbox: 0, stepFunctions: 0, sqs: 0, dynamodb: 0, cognito: 0, portal: 0, secretsManager: 0, s3: 0, events: 0 };

const MAX_LOCAL_WORKERS = 8;

/** Worker processes: a positive integer, bounded (each runs its own Chromium). */
function workerCount(raw: string): number {
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1 || count > MAX_LOCAL_WORKERS) throw new Error(`--workers must be an integer from 1 to ${MAX_LOCAL_WORKERS}, got "${raw}"`);
  return count;
}

async function main(): Promise<void> {
  const workers = workerCount(flags.workers);
  // A person at a terminal reads lines, not JSON; pipes (tests, log shippers) keep the JSON.
  const terminal = process.stdout.isTTY ? process.stdout : undefined;
  if (terminal) readableTerminal(terminal);
  const startedAt = performance.now();
  const dataDir = path.resolve(flags['data-dir']);
  if (flags.fresh) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });

  const portsFile = path.join(dataDir, 'ports.json');
  const ports = flags.ports === 'auto' ? ANY_PORTS : flags.ports === 'last' ? lastPorts(portsFile) : FIXED_PORTS;
  // The bundle builds while the emulators start.
  const imageBuild = flags['worker-image'] && !flags['no-worker'] ? buildWorkerImage({ repoRoot, outDir: path.join(dataDir, 'worker-image') }) : undefined;
  const chromium = flags['no-worker'] ? undefined : unpackChromium();
  const [stack, image] = await Promise.all([startLocalStack({ repoRoot, dataDir, ports, dlqConsumer: !flags['no-dlq-consumer'] }), imageBuild, chromium]);
  const pids: number[] = [];
  const fleet = Array.from({ length: flags['no-worker'] ? 0 : workers }, (_, index) =>
    superviseWorker({
      repoRoot,
      env: stack.env,
      ...(image ? { command: image } : {}),
      ...(flags['worker-restart-max-ms'] ? { maxRestartDelayMs: Number(flags['worker-restart-max-ms']) } : {}),
      ...(terminal ? { output: terminal } : {}),
      onStart: (pid) => {
        pids[index] = pid;
        writeFileSync(path.join(dataDir, 'worker.pid'), pids.join('\n'));
      },
    }),
  );
  writeFileSync(path.join(dataDir, 'outputs.json'), `${JSON.stringify(stack.outputs, null, 2)}\n`);
  writeFileSync(portsFile, `${JSON.stringify(boundPorts(stack))}\n`);

  const { outputs } = stack;
  process.stdout.write(
    [
      '',
      `Roboport is running locally (ready in ${Math.round(performance.now() - startedAt)} ms).`,
      `  API             ${outputs.ApiUrl}`,
      `  Console         ${outputs.ConsoleUrl}`,
      `  Sandbox site    ${outputs.SandboxUrl}`,
      `  Freight portal  ${outputs.PortalUrl}  credentials in secret ${outputs.PortalSecretName}`,
      `  Secrets Manager ${outputs.SecretsManagerEndpoint}`,
      `  Job events      ${outputs.EventsUrl}`,
      `  Cognito         ${outputs.CognitoEndpoint}  pool ${outputs.UserPoolId}  client ${outputs.UserPoolClientId}`,
      `  Outputs         ${path.join(dataDir, 'outputs.json')}`,
      ...LOCAL_USERS.map((user) => `  User            ${user.username} / ${user.password} (${user.groups.join(', ')})`),
      `  Worker          ${fleet.length ? `${fleet.length} supervised robot worker process${fleet.length > 1 ? 'es' : ''}${image ? `, ${describeImage(image)}` : ''}` : 'not started (--no-worker)'}`,
      ...(stack.redrivenJobs ? [`  Re-queued ${stack.redrivenJobs} unfinished job(s) from the last run`] : []),
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping Roboport...\n`);
    await Promise.all(fleet.map((worker) => worker.stop()));
    await stack.close();
    process.stdout.write('stopped\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

/**
 * The worker's browser: @sparticuz/chromium unpacks ~210 MB into the temp directory the first
 * time (seconds on a slow disk). Done here, while the emulators start, with a word on the
 * terminal, so that the first job does not wait silently; the worker then finds it unpacked.
 */
async function unpackChromium(): Promise<void> {
  if (process.env[ENV.chromiumPath] || existsSync(path.join(tmpdir(), 'chromium'))) return;
  process.stdout.write('Unpacking Chromium for the robot worker (first start only, ~210 MB into the temp directory)...\n');
  const started = performance.now();
  const { default: chromium } = await import('@sparticuz/chromium');
  await chromium.executablePath();
  process.stdout.write(`Chromium unpacked in ${((performance.now() - started) / 1000).toFixed(1)} s.\n`);
}

type Ports = LocalStackOptions['ports'];

function lastPorts(file: string): Ports {
  return existsSync(file) ? { ...ANY_PORTS, ...(JSON.parse(readFileSync(file, 'utf8')) as Partial<Ports>) } : ANY_PORTS;
}

function boundPorts({ outputs, env }: LocalStack): Ports {
  const port = (url: string | undefined) => Number(new URL(url ?? '').port);
  return {
    api: port(outputs.ApiUrl),
    console: port(outputs.ConsoleUrl),
    sandbox: port(outputs.SandboxUrl),
    stepFunctions: port(outputs.StepFunctionsEndpoint),
    sqs: port(outputs.RobotQueueUrl),
    dynamodb: port(env.AWS_ENDPOINT_URL_DYNAMODB),
    cognito: port(outputs.CognitoEndpoint),
    portal: port(outputs.PortalUrl),
    secretsManager: port(outputs.SecretsManagerEndpoint),
    s3: port(env.AWS_ENDPOINT_URL_S3),
    events: port(outputs.EventsUrl),
  };
}

function describeImage({ cwd, args, timings }: WorkerImage): string {
  const deps = timings.depsCached ? 'externals cached' : `externals installed in ${timings.depsMs} ms`;
  return `image build: node ${args.join(' ')} in ${cwd} (bundled in ${timings.bundleMs} ms, ${deps})`;
}

/** What a failed start says: a port already taken is named with its service, and how to avoid it. */
function startFailure(error: unknown): string {
  const { code, port } = (error ?? {}) as { code?: unknown; port?: unknown };
  if (code === 'EADDRINUSE' && typeof port === 'number') {
    const service = Object.entries(FIXED_PORTS).find(([, fixed]) => fixed === port)?.[0];
    return [
      `Roboport failed to start: port ${port}${service ? ` (${service})` : ''} on 127.0.0.1 is already in use.`,
      'Another Roboport may be running (Ctrl-C it), or another program holds the port.',
      'Run `npm start -- --ports auto` to use any free ports; the addresses are printed and written to outputs.json.',
    ].join('\n');
  }
  return `Roboport failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
}

main().catch((error: unknown) => {
  process.stderr.write(`${startFailure(error)}\n`);
  process.exit(1);
});
