import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { API_ROUTES, SCHEDULER_FUNCTIONS, WORKFLOW_FUNCTIONS } from '../functions/api/routes';
import { lambdaBuildOptions } from '../lib/lambda-bundling';
import { placeholderLambdaEnvironment } from '../test/infra/support/lambda-env';

/**
 * Per Lambda: the minified bundle as lib/roboport-function.ts deploys it (lib/lambda-bundling.ts),
 * its gzip size, and its cold import time: a fresh node process imports the bundle and reports how
 * long the import took (module evaluation included: clients built, configuration read). Functions
 * take turns round by round, so machine noise hits all of them alike; the median per function is
 * printed. See bench/README.md.
 */

const USAGE = `Usage: npm run bench:bundles -- [options]
  --runs N        cold imports per function (default 7); the median is printed
  --filter TEXT   only functions whose entry contains TEXT
  --json          one JSON object per function instead of the table
  --with-sdk      also each function with the AWS SDK and its nodeModules bundled in (as deployed
                  before the SDK was left to the runtime), measured in the same interleaved run`;

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '..');

interface FunctionBundle {
  entry: string;
  /** The AWS SDK bundled in rather than left to the runtime (--with-sdk). */
  sdkBundled: boolean;
  /** Packages shipped beside the bundle, not in it. */
  nodeModules: readonly string[];
  outfile: string;
  bytes: number;
  gzipBytes: number;
  importMs: number[];
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    filter: { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
    'with-sdk': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 100) {
  console.error(`--runs must be an integer from 1 to 100, got "${values.runs}"\n\n${USAGE}`);
  process.exit(2);
}

const functions = [
  ...API_ROUTES.map((route) => ({ entry: route.entry, nodeModules: route.nodeModules ?? [] })),
  ...[...Object.values(WORKFLOW_FUNCTIONS), ...Object.values(SCHEDULER_FUNCTIONS)].map((entry) => ({ entry, nodeModules: [] })),
].filter(({ entry }) => entry.includes(values.filter));

// Under node_modules, so that packages left outside a bundle resolve as from the function's own node_modules.
mkdirSync(path.join(repoRoot, 'node_modules/.cache'), { recursive: true });
const outDir = mkdtempSync(path.join(repoRoot, 'node_modules/.cache/roboport-bench-bundles-'));
const environment = { ...process.env, ...placeholderLambdaEnvironment(), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

/** Milliseconds a fresh node process takes to import the bundle. */
async function coldImportMs(outfile: string): Promise<number> {
  const script = `const started = performance.now(); await import(${JSON.stringify(pathToFileURL(outfile).href)}); console.log(performance.now() - started);`;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '--eval', script], { env: environment, cwd: outDir });
  return Number(stdout.trim().split('\n').at(-1));
}

const median = (numbers: number[]) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const kib = (bytes: number) => (bytes / 1024).toFixed(0);

try {
  const bundles: FunctionBundle[] = [];
  for (const { entry, nodeModules } of functions) {
    for (const sdkBundled of values['with-sdk'] ? [false, true] : [false]) {
      const outfile = path.join(outDir, `${entry.replace(/[/.]/g, '_')}${sdkBundled ? '-sdk' : ''}.mjs`);
      const options = lambdaBuildOptions(path.join(repoRoot, entry), outfile, nodeModules);
      await build(sdkBundled ? { ...options, external: [] } : options);
      const bytes = readFileSync(outfile);
      bundles.push({ entry, sdkBundled, nodeModules: sdkBundled ? [] : nodeModules, outfile, bytes: bytes.length, gzipBytes: gzipSync(bytes).length, importMs: [] });
    }
  }
  for (let run = 0; run < runs; run++) {
    for (const bundle of bundles) bundle.importMs.push(await coldImportMs(bundle.outfile));
  }

  if (values.json) {
    for (const bundle of bundles) {
      console.log(JSON.stringify({ entry: bundle.entry, sdkBundled: bundle.sdkBundled, bytes: bundle.bytes, gzipBytes: bundle.gzipBytes, coldImportMs: Number(median(bundle.importMs).toFixed(1)), nodeModules: bundle.nodeModules }));
    }
  } else {
    console.log(`Node ${process.version}, ${availableParallelism()} CPUs; cold import: median of ${runs} fresh processes\n`);
    console.log('| function | AWS SDK | minified KiB | gzip KiB | cold import ms | beside the bundle |');
    console.log('|---|---|---|---|---|---|');
    for (const bundle of bundles) {
      console.log(`| ${bundle.entry} | ${bundle.sdkBundled ? 'bundled' : 'runtime'} | ${kib(bundle.bytes)} | ${kib(bundle.gzipBytes)} | ${median(bundle.importMs).toFixed(0)} | ${bundle.nodeModules.join(', ')} |`);
    }
  }
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
