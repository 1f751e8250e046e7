import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import { DLQ_REPROCESSOR } from '../../functions/api/routes';

/**
 * The DLQ reprocessor bundled as lib/dlq-reprocessor.ts has NodejsFunction bundle it: the browser
 * packages stay outside the bundle (installed beside it), everything else is inside, and the
 * module loads at cold start. The bundle is written under node_modules/.cache so that those
 * packages resolve as they would from the function's own node_modules.
 */
const repoRoot = path.resolve(import.meta.dirname, '../..');
const NODE_MODULES = ['@sparticuz/chromium', 'playwright-core'];
let outDir: string;

beforeAll(() => {
  mkdirSync(path.join(repoRoot, 'node_modules/.cache'), { recursive: true });
  outDir = mkdtempSync(path.join(repoRoot, 'node_modules/.cache/roboport-dlq-bundle-'));
  process.env[ENV.jobsTable] ??= 'jobs';
  process.env[ENV.itemsTable] ??= 'items';
  process.env[ENV.leasesTable] ??= 'leases';
  process.env[ENV.artifactsBucket] ??= 'artifacts';
  process.env[ENV.robotDeadLetterQueueUrl] ??= 'https://sqs.eu-west-1.amazonaws.com/123456789012/robot-dlq';
  process.env.AWS_REGION ??= 'eu-west-1';
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('DLQ reprocessor bundle', () => {
  it('leaves the browser packages to node_modules and loads at cold start', async () => {
    const outfile = path.join(outDir, 'reprocess.mjs');
    const result = await build({
      entryPoints: [path.join(repoRoot, DLQ_REPROCESSOR.entry)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      mainFields: ['module', 'main'],
      external: NODE_MODULES,
      metafile: true,
      logLevel: 'silent',
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    });

    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((input) => NODE_MODULES.some((name) => input.includes(`node_modules/${name}/`)))).toEqual([]);
    expect(inputs.some((input) => input.includes('containers/robot/src/robot-runtime.ts'))).toBe(true);
    const module = (await import(pathToFileURL(outfile).href)) as { handler?: unknown };
    expect(typeof module.handler).toBe('function');
  });
});
