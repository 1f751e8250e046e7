import type { BuildOptions } from 'esbuild';

/**
 * How every Roboport Lambda is bundled (lib/roboport-function.ts hands these to NodejsFunction),
 * in one place so that the bundle test and bench/bundles.ts build exactly what is deployed.
 */
export const LAMBDA_BUNDLING = {
  target: 'node22',
  mainFields: ['module', 'main'],
  /**
   * The AWS SDK v3 the nodejs22.x runtime carries. Bundled, the SDK alone would put every function
   * over its 300 KB budget (the DynamoDB client with its credential chain is ~330 KB minified), and
   * the runtime's copy is already on disk, so cold starts load less. Handlers use only long-standing
   * operations of the clients (no @smithy/* imports, which the runtime does not expose), so the
   * runtime's minor version serves them like the pinned one the tests run against.
   */
  externalModules: ['@aws-sdk/*'] as string[],
  // CommonJS dependencies bundled into ESM still call require().
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
} as const;

/**
 * esbuild options equivalent to NodejsFunction's with LAMBDA_BUNDLING (ESM, minified): `nodeModules`
 * are the packages a function ships beside its bundle instead of in it.
 */
export function lambdaBuildOptions(entryPoint: string, outfile: string, nodeModules: readonly string[] = []): BuildOptions {
  return {
    entryPoints: [entryPoint],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: LAMBDA_BUNDLING.target,
    mainFields: [...LAMBDA_BUNDLING.mainFields],
    minify: true,
    external: [...LAMBDA_BUNDLING.externalModules, ...nodeModules],
    banner: { js: LAMBDA_BUNDLING.banner },
    metafile: true,
    logLevel: 'silent',
  };
}
