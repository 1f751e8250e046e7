import { defineConfig } from 'vitest/config';

/**
 * One command runs every layer: `npm test`. Projects by folder:
 *   unit         domain, handlers, worker logic (mocked SDK clients, no servers)
 *   infra        assertions on the synthesized CloudFormation templates
 *   integration  the local AWS emulations and a real Chromium, one piece at a time
 *   e2e          the whole local stack, driven over HTTP like a client would
 *   chaos        a stack per scenario under worker kills, stops, a backlog and a whole-stack kill;
 *                a few minutes by default, far longer with CHAOS_SCALE=large (test/support/chaos.ts)
 *   security     a stack of its own (no worker) under attack: generated requests over every route,
 *                bad tokens, other tenants' ids and cursors, broken uploads, archive bombs
 */
const chaosLarge = process.env.CHAOS_SCALE === 'large';

export default defineConfig({
  test: {
    // As local/quiet-sdk-notices.ts does for the entry points: tests that start cognito-local (SDK v2) themselves.
    env: { POWERTOOLS_METRICS_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1' },
    projects: [
      // Unit tests wait on real conditions with bounds of up to 15 s (worker tests); under the load of the
      // other projects on 2 cores the default 5 s cut them short.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', testTimeout: 30_000 } },
      { extends: true, test: { name: 'infra', include: ['test/infra/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 180_000 } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000 } },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          // Every response the e2e client sees must match docs/openapi.json.
          setupFiles: ['test/e2e/setup-contract.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One local stack serves every e2e file; files run one after another against it.
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          testTimeout: chaosLarge ? 4 * 3_600_000 : 900_000,
          hookTimeout: 180_000,
          // One stack per scenario, one scenario at a time, after every other project: its time bounds
          // must not share the machine with other stacks.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'security',
          include: ['test/security/**/*.test.ts'],
          globalSetup: ['test/security/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One file at a time against one stack, alone on the machine (last): its time and memory figures are its own.
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
