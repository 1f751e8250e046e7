import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import type { LocalOutputs } from '../../local/stack';
import { startStackProcess, type StackProcess } from '../support/stack-process';

declare module 'vitest' {
  export interface ProvidedContext {
    outputs: LocalOutputs;
    dataDir: string;
    /** Each file appends its OpenAPI response counts here (setup-contract.ts); the teardown prints their sum. */
    contractFiguresFile: string;
  }
}

let stack: StackProcess | undefined;
const contractFiguresFile = path.join(tmpdir(), `roboport-e2e-contract-${process.pid}.jsonl`);

/** One local stack, with its supervised robot worker, for every e2e file. */
export async function setup(project: TestProject): Promise<void> {
  stack = await startStackProcess({ env: { WORKER_HEARTBEAT_SECONDS: '2' } });
  project.provide('outputs', stack.outputs);
  project.provide('dataDir', stack.dataDir);
  rmSync(contractFiguresFile, { force: true });
  project.provide('contractFiguresFile', contractFiguresFile);
}

export async function teardown(): Promise<void> {
  if (existsSync(contractFiguresFile)) {
    const files = readFileSync(contractFiguresFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { checked: number; violations: number });
    const sum = (key: 'checked' | 'violations') => files.reduce((total, file) => total + file[key], 0);
    console.log(`openapi: ${sum('checked')} responses of ${files.length} e2e files checked against docs/openapi.json, ${sum('violations')} violations`);
    rmSync(contractFiguresFile, { force: true });
  }
  await stack?.stop();
}
