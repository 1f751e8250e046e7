import './quiet-sdk-notices';
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LOCAL_USERS, startLocalStack } from './stack';
import { superviseWorker } from './worker-supervisor';

/**
 * `npm start`: the whole system on 127.0.0.1. Flags:
 *   --fresh            forget the data kept under the data directory
 *   --data-dir DIR     default .roboport
 *   --ports auto       any free ports instead of the fixed 4000-4008 and 9229 (tests)
 *   --no-worker        do not run a robot worker (tests that manage their own)
 */
const repoRoot = path.resolve(import.meta.dirname, '..');
const { values: flags } = parseArgs({
  options: {
    fresh: { type: 'boolean', default: false },
    'data-dir': { type: 'string', default: path.join(repoRoot, '.roboport') },
    ports: { type: 'string', default: 'fixed' },
    'no-worker': { type: 'boolean', default: false },
  },
});

const FIXED_PORTS = { api: 4000, console: 4001, sandbox: 4002, stepFunctions: 4003, sqs: 4004, dynamodb: 4005, cognito: 9229, portal: 4006, secretsManager: 4007, s3: 4008 };
const ANY_PORTS = { api: 0, console: 0, sandbox: 0, stepFunctions: 0, sqs: 0, dynamodb: 0, cognito: 0, portal: 0, secretsManager: 0, s3: 0 };

async function main(): Promise<void> {
  const startedAt = performance.now();
  const dataDir = path.resolve(flags['data-dir']);
  if (flags.fresh) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });

  const stack = await startLocalStack({ repoRoot, dataDir, ports: flags.ports === 'auto' ? ANY_PORTS : FIXED_PORTS });
  const worker = flags['no-worker']
    ? undefined
    : superviseWorker({
        repoRoot,
        env: stack.env,
        onStart: (pid) => writeFileSync(path.join(dataDir, 'worker.pid'), String(pid)),
      });
  writeFileSync(path.join(dataDir, 'outputs.json'), `${JSON.stringify(stack.outputs, null, 2)}\n`);

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
      `  Cognito         ${outputs.CognitoEndpoint}  pool ${outputs.UserPoolId}  client ${outputs.UserPoolClientId}`,
      `  Outputs         ${path.join(dataDir, 'outputs.json')}`,
      ...LOCAL_USERS.map((user) => `  User            ${user.username} / ${user.password} (${user.groups.join(', ')})`),
      `  Worker          ${worker ? 'supervised robot worker process' : 'not started (--no-worker)'}`,
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
    await worker?.stop();
    await stack.close();
    process.stdout.write('stopped\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`Roboport failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
