import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import { API_ROUTES, DLQ_REPROCESSOR, EVENTS_FUNCTIONS, SCHEDULER_FUNCTIONS, WORKFLOW_FUNCTIONS } from '../../functions/api/routes';

/**
 * Every Lambda is bundled the way lib/roboport-function.ts bundles it (ESM, node22, require banner)
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

/** Plausible values for every variable infrastructure may set, by the kind of value it holds. */
function placeholderFor(name: string): string {
  if (name.endsWith('_KMS_KEY_ARN')) return 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  if (name.endsWith('_ARN')) return 'arn:aws:states:eu-west-1:123456789012:stateMachine:placeholder';
  if (name.endsWith('_URL')) return 'https://sqs.eu-west-1.amazonaws.com/123456789012/placeholder';
  if (name.endsWith('_BY_HOST')) return 'portal.example.com=3';
  if (/SECONDS|DAYS|MINUTES|CONCURRENCY|SESSIONS|SIZE/.test(name)) return '5';
  if (name === ENV.corsAllowedOrigin) return 'https://console.example.com';
  if (name === ENV.userPoolId) return 'eu-west-1_Placehold';
  if (name === ENV.eventsManagementEndpoint) return 'https://placeholder.execute-api.eu-west-1.amazonaws.com/live';
  return 'placeholder';
}

beforeAll(() => {
  for (const name of Object.values(ENV)) process.env[name] ??= placeholderFor(name);
  process.env.AWS_REGION ??= 'eu-west-1';
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

async function bundleLikeLambda(entry: string, external: string[] = []) {
  const outfile = path.join(outDir, `${entry.replace(/[/.]/g, '_')}.mjs`);
  const result = await build({
    entryPoints: [path.join(repoRoot, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    external,
    metafile: true,
    logLevel: 'silent',
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  const module = (await import(pathToFileURL(outfile).href)) as { handler?: unknown };
  return { inputs: Object.keys(result.metafile.inputs), handler: module.handler };
}

const bundled = (inputs: string[], packages: string[]) => inputs.filter((input) => packages.some((name) => input.includes(`node_modules/${name}/`)));

describe('Lambda bundles', () => {
  it.each(entries)('%s bundles without the browser and loads at cold start', async (entry) => {
    const { inputs, handler } = await bundleLikeLambda(entry);

    expect(bundled(inputs, ['playwright-core'])).toEqual([]);
    expect(typeof handler).toBe('function');
  });

  it('the DLQ reprocessor carries the robot runtime, leaves the browser packages beside it and loads', async () => {
    const { inputs, handler } = await bundleLikeLambda(DLQ_REPROCESSOR.entry, BROWSER_PACKAGES);

    expect(bundled(inputs, BROWSER_PACKAGES)).toEqual([]);
    expect(inputs.some((input) => input.startsWith('runtime/robot-runtime.ts'))).toBe(true);
    expect(typeof handler).toBe('function');
  });
});
