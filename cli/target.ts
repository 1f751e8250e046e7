import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import * as z from 'zod';
import { CliError, EXIT, usageError } from './exit-codes';

/**
 * Which stack the CLI talks to: the local one (its `.roboport/outputs.json`, or `--data-dir`) or a
 * deployed stage (`--outputs cdk-outputs.json`, the file `cdk deploy --outputs-file` writes, or the
 * flat file scripts/stage-outputs.ts makes of it). Both carry the same output keys.
 */
export interface TargetOptions {
  dataDir?: string;
  outputs?: string;
  stage?: string;
}

const outputsSchema = z.object({
  Region: z.string().min(1),
  ApiUrl: z.url(),
  UserPoolClientId: z.string().min(1),
  CognitoEndpoint: z.url(),
  /** Live job events (core/job-events.ts): ws:// locally, wss:// in AWS; absent in outputs of stacks from before them. */
  EventsUrl: z.url().optional(),
  /** Deployed stages only: the client-credentials flow for machines. */
  TokenUrl: z.url().optional(),
  MachineApiUrl: z.url().optional(),
  MachineClientId: z.string().optional(),
});
export type StackOutputs = z.infer<typeof outputsSchema>;

export interface Target {
  local: boolean;
  outputs: StackOutputs;
  /** Where the session (the token cache) and the last submitted job are kept. */
  stateDir: string;
  /** For messages: which stack this is. */
  name: string;
}

const repoRoot = path.resolve(import.meta.dirname, '..');

export function resolveTarget(options: TargetOptions, env: NodeJS.ProcessEnv = process.env): Target {
  const outputsFile = options.outputs ?? env.ROBOPORT_OUTPUTS;
  if (outputsFile) {
    const { name, outputs } = deployedOutputs(readJson(outputsFile, 'the outputs file'), outputsFile, options.stage);
    const home = env.ROBOPORT_HOME ?? path.join(homedir(), '.roboport');
    const key = `${name.replace(/[^A-Za-z0-9._-]/g, '_')}-${createHash('sha256').update(outputs.ApiUrl).digest('hex').slice(0, 8)}`;
    return { local: false, outputs, stateDir: path.join(home, key), name };
  }
  const dataDir = path.resolve(options.dataDir ?? env.ROBOPORT_DATA_DIR ?? path.join(repoRoot, '.roboport'));
  const file = path.join(dataDir, 'outputs.json');
  const raw = readJson(file, 'the local stack outputs', `is the local stack running? Start it with \`npm start${options.dataDir ? ` -- --data-dir ${options.dataDir}` : ''}\``);
  return { local: true, outputs: validOutputs(raw, file), stateDir: path.join(dataDir, 'cli'), name: `local stack (${dataDir})` };
}

function deployedOutputs(raw: unknown, file: string, stage: string | undefined): { name: string; outputs: StackOutputs } {
  if (isRecord(raw) && 'ApiUrl' in raw) return { name: stage ?? path.basename(file, '.json'), outputs: validOutputs(raw, file) };
  const stacks = isRecord(raw) ? Object.entries(raw).filter(([, value]) => isRecord(value) && 'ApiUrl' in value) : [];
  const wanted = stage ? stacks.filter(([name]) => name === `Roboport-${stage}` || name === stage) : stacks;
  const [only, ...more] = wanted;
  if (!only || more.length) {
    const names = stacks.map(([name]) => name).join(', ') || 'none';
    throw usageError(`${file}: ${only ? 'several stacks have an ApiUrl, pick one with --stage' : `no stack${stage ? ` Roboport-${stage}` : ''} with an ApiUrl`} (stacks: ${names})`);
  }
  return { name: only[0], outputs: validOutputs(only[1], file) };
}

function validOutputs(raw: unknown, file: string): StackOutputs {
  const parsed = outputsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'outputs'}: ${issue.message}`).join('; ');
    throw usageError(`${file} lacks stack outputs the CLI needs: ${problems}`);
  }
  return { ...parsed.data, ApiUrl: parsed.data.ApiUrl.replace(/\/+$/, '') };
}

function readJson(file: string, what: string, hint?: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CliError(`Cannot read ${what} ${file}${missing ? ' (no such file)' : ''}${hint ? `: ${hint}` : ''}`, missing && hint ? EXIT.unavailable : EXIT.usage);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw usageError(`${file} is not JSON`);
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
