import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import { API_ROUTES, SCHEDULER_FUNCTIONS, WORKFLOW_FUNCTIONS } from '../../functions/api/routes';

/**
 * Every Lambda is bundled the way lib/roboport-function.ts bundles it (ESM, node22, require banner)
 * and loaded as a cold start would: a module that throws at import, or drags the browser into a
 * function that only needs robot schemas, fails here instead of in AWS.
 */
const repoRoot = path.resolve(import.meta.dirname, '../..');
const outDir = mkdtempSync(path.join(tmpdir(), 'roboport-bundles-'));
const entries = [...API_ROUTES.map((route) => route.entry), ...Object.values(WORKFLOW_FUNCTIONS), ...Object.values(SCHEDULER_FUNCTIONS)];

/** Plausible values for every variable infrastructure may set, by the kind of value it holds. */
function placeholderFor(name: string): string {
  if (name.endsWith('_ARN')) return 'arn:aws:states:eu-west-1:123456789012:stateMachine:placeholder';
  if (name.endsWith('_URL')) return 'https://sqs.eu-west-1.amazonaws.com/123456789012/placeholder';
  if (/SECONDS|DAYS|MINUTES|CONCURRENCY|SESSIONS/.test(name)) return '5';
  if (name === ENV.corsAllowedOrigin) return 'https://console.example.com';
  return 'placeholder';
}

beforeAll(() => {
  for (const name of Object.values(ENV)) process.env[name] ??= placeholderFor(name);
  process.env.AWS_REGION ??= 'eu-west-1';
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('Lambda bundles', () => {
  it.each(entries)('%s bundles without the browser and loads at cold start', async (entry) => {
    const outfile = path.join(outDir, `${entry.replace(/[/.]/g, '_')}.mjs`);
    const result = await build({
      entryPoints: [path.join(repoRoot, entry)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      mainFields: ['module', 'main'],
      metafile: true,
      logLevel: 'silent',
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    });

    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((input) => input.includes('node_modules/playwright-core'))).toEqual([]);
    const module = (await import(pathToFileURL(outfile).href)) as { handler?: unknown };
    expect(typeof module.handler).toBe('function');
  });
});
