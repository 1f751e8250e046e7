import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES, DLQ_REPROCESSOR, EVENTS_FUNCTIONS, SCHEDULER_FUNCTIONS, WORKFLOW_FUNCTIONS } from '../../functions/api/routes';
import { lambdaBuildOptions } from '../../lib/lambda-bundling';
import { placeholderLambdaEnvironment } from './support/lambda-env';

/**
 * Every Lambda is bundled the way lib/roboport-function.ts bundles it (lib/lambda-bundling.ts)
 * and loaded as a cold start would: a module that throws at import, or drags the browser into a
 * function that only needs robot schemas, fails here instead of in AWS.
 */
const repoRoot = path.resolve(import.meta.dirname, '../..');
// Under node_modules/.cache, so that packages left outside a bundle resolve as from the function's own node_modules.
mkdirSync(path.join(repoRoot, 'node_modules/.cache'), { recursive: true });
const outDir = mkdtempSync(path.join(repoRoot, 'node_modules/.cache/roboport-bundles-'));
/** The DLQ reprocessor ships the browser packages beside its bundle (lib/dlq-reprocessor.ts nodeModules). */
const BROWSER_PACKAGES = ['@sparticuz/chromium', 'playwright-core'];
const entries = [...API_ROUTES.map((route) => route.entry), ...Object.values(WORKFLOW_FUNCTIONS), ...Object.values(SCHEDULER_FUNCTIONS), ...Object.values(EVENTS_FUNCTIONS)];
/** Packages a function ships beside its bundle (lib/api.ts passes the route's nodeModules). */
const nodeModulesOf = (entry: string) => API_ROUTES.find((route) => route.entry === entry)?.nodeModules ?? [];

beforeAll(() => {
  Object.assign(process.env, placeholderLambdaEnvironment());
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/** Every API function's budget: small bundles load fast at a cold start. */
const MAX_API_BUNDLE_BYTES = 300 * 1024;

async function bundleLikeLambda(entry: string, nodeModules: readonly string[] = []) {
  const outfile = path.join(outDir, `${entry.replace(/[/.]/g, '_')}.mjs`);
  const result = await build(lambdaBuildOptions(path.join(repoRoot, entry), outfile, nodeModules));
  const module = (await import(pathToFileURL(outfile).href)) as { handler?: unknown };
  return { inputs: Object.keys(result.metafile!.inputs), bytes: statSync(outfile).size, handler: module.handler };
}

const bundled = (inputs: string[], packages: string[]) => inputs.filter((input) => packages.some((name) => input.includes(`node_modules/${name}/`)));

describe('Lambda bundles', () => {
  it.each(entries)('%s bundles without the browser and loads at cold start', async (entry) => {
    const { inputs, handler } = await bundleLikeLambda(entry, nodeModulesOf(entry));

    expect(bundled(inputs, ['playwright-core'])).toEqual([]);
    expect(typeof handler).toBe('function');
  });

  it.each(API_ROUTES.map((route) => route.entry))('%s is at most 300 KB minified, the AWS SDK and its nodeModules left beside it', async (entry) => {
    const nodeModules = nodeModulesOf(entry);
    const { inputs, bytes } = await bundleLikeLambda(entry, nodeModules);

    expect(bundled(inputs, ['@aws-sdk', ...nodeModules])).toEqual([]);
    expect(bytes).toBeLessThanOrEqual(MAX_API_BUNDLE_BYTES);
  });

  it('the DLQ reprocessor carries the robot runtime, leaves the browser packages beside it and loads', async () => {
    const { inputs, handler } = await bundleLikeLambda(DLQ_REPROCESSOR.entry, BROWSER_PACKAGES);

    expect(bundled(inputs, BROWSER_PACKAGES)).toEqual([]);
    expect(inputs.some((input) => input.startsWith('runtime/robot-runtime.ts'))).toBe(true);
    expect(typeof handler).toBe('function');
  });
});
