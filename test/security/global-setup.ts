import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import type { LocalOutputs } from '../../local/stack';
import { startStackProcess, type StackProcess } from '../support/stack-process';
import { stackNodePid } from './support/process-memory';

declare module 'vitest' {
  export interface ProvidedContext {
    outputs: LocalOutputs;
    dataDir: string;
    /** The node process that runs the stack (the API handlers run in it). */
    stackPid: number;
    /** Each file appends its figures here (JSON lines); the teardown prints their sum. */
    figuresFile: string;
  }
}

let stack: StackProcess | undefined;
const figuresFile = path.join(tmpdir(), `roboport-security-figures-${process.pid}.jsonl`);

/** One local stack for the security suite, without a robot worker: its jobs stay QUEUED. */
export async function setup(project: TestProject): Promise<void> {
  rmSync(figuresFile, { force: true });
  stack = await startStackProcess({ args: ['--no-worker'] });
  project.provide('outputs', stack.outputs);
  project.provide('dataDir', stack.dataDir);
  project.provide('stackPid', stackNodePid(stack.pid));
  project.provide('figuresFile', figuresFile);
}

export async function teardown(): Promise<void> {
  if (existsSync(figuresFile)) {
    const totals: Record<string, number> = {};
    for (const line of readFileSync(figuresFile, 'utf8').split('\n').filter(Boolean)) {
      for (const [name, value] of Object.entries(JSON.parse(line) as Record<string, number>)) {
        totals[name] = name.startsWith('max') ? Math.max(totals[name] ?? 0, value) : (totals[name] ?? 0) + value;
      }
    }
    const first = ['requests', '5xx', 'shapeErrors', 'leaks'];
    const names = [...first.filter((name) => name in totals), ...Object.keys(totals).filter((name) => !first.includes(name))];
    console.log(`security: ${names.map((name) => `${name}=${totals[name]}`).join(' ')}`);
    rmSync(figuresFile, { force: true });
  }
  await stack?.stop();
}
