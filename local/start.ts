import './quiet-sdk-notices';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LOCAL_USERS } from './local-users';
import { startLocalStack, type LocalStack, type LocalStackOptions } from './stack';
import { buildWorkerImage, type WorkerImage } from './worker-image';
import { superviseWorker } from './worker-supervisor';

/**
 * `npm start`: the whole system on 127.0.0.1. Flags:
 *   --fresh            forget the data kept under the data directory
 *   --data-dir DIR     default .roboport
 *   --ports auto       any free ports instead of the fixed 4000-4009 and 9229 (tests)
 *   --ports last       the ports of the last run on this data directory (any free ones at first):
 *                      URLs stored in jobs (a portal's, the sandbox's) still work after a restart
 *   --no-worker        do not run a robot worker (tests that manage their own)
 *   --workers N        run N supervised robot worker processes (default 1), as N Fargate tasks would;
 *                      worker.pid holds their pids, one line each
 *   --worker-image     run the worker as containers/robot/Dockerfile builds it (local/worker-image.ts)
 *                      instead of its TypeScript source
 *   --no-dlq-consumer  leave dead letters in the robot DLQ for a redrive (GET /ops/dlq) instead of reprocessing them
 *   --worker-restart-max-ms N   longest pause before the supervisor restarts a dead worker (default 10000)
 */
const repoRoot = path.resolve(import.meta.dirname, '..');
const { values: flags } = parseArgs({
  options: {
    fresh: { type: 'boolean', default: false },
    'data-dir': { type: 'string', default: path.join(repoRoot, '.roboport') },
    ports: { type: 'string', default: 'fixed' },
    'no-worker': { type: 'boolean', default: false },
    workers: { type: 'string', default: '1' },
    'worker-image': { type: 'boolean', default: false },
    'worker-restart-max-ms': { type: 'string' },
    'no-dlq-consumer': { type: 'boolean', default: false },
  },
});

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
  const startedAt = performance.now();
  const dataDir = path.resolve(flags['data-dir']);
  if (flags.fresh) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });

  const portsFile = path.join(dataDir, 'ports.json');
  const ports = flags.ports === 'auto' ? ANY_PORTS : flags.ports === 'last' ? lastPorts(portsFile) : FIXED_PORTS;
  // The bundle builds while the emulators start.
  const imageBuild = flags['worker-image'] && !flags['no-worker'] ? buildWorkerImage({ repoRoot, outDir: path.join(dataDir, 'worker-image') }) : undefined;
  const [stack, image] = await Promise.all([startLocalStack({ repoRoot, dataDir, ports, dlqConsumer: !flags['no-dlq-consumer'] }), imageBuild]);
  const pids: number[] = [];
  const fleet = Array.from({ length: flags['no-worker'] ? 0 : workers }, (_, index) =>
    superviseWorker({
      repoRoot,
      env: stack.env,
      ...(image ? { command: image } : {}),
      ...(flags['worker-restart-max-ms'] ? { maxRestartDelayMs: Number(flags['worker-restart-max-ms']) } : {}),
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

main().catch((error: unknown) => {
  process.stderr.write(`Roboport failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
