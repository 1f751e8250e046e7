import { beforeEach, describe, expect, it } from 'vitest';
import { EXECUTION_HISTORY_LIMIT, MAX_FAN_OUT_ITEMS, STATE_PAYLOAD_LIMIT_BYTES, planJob, planPayloadBytes, worstCaseHistoryEvents } from '../../core/fan-out';
import { buildJobWorkflowDefinition, DEFAULT_WEBHOOK_RETRY, WORKFLOW_STATES } from '../../core/workflow-definition';
import { RobotErrorName } from '../../core/workflow-contract';
import { TASK_BACKSTOP_SECONDS } from '../../core/delivery';
import { loadStageConfig, STAGE_NAMES } from '../../lib/config';
import cdkJson from '../../cdk.json';
import { MemoryItemStore } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';
import { catalogOf, keysRobot, robotThat } from '../support/robot-runtime-fakes';

const itemRobot = keysRobot();

const definition = buildJobWorkflowDefinition({
  queueUrl: 'q',
  planFunctionArn: 'plan',
  chunkConcurrency: 4,
  finalizeFunctionArn: 'finalize',
  failFunctionArn: 'fail',
  notifyWebhookFunctionArn: 'notify',
  taskBackstopSeconds: TASK_BACKSTOP_SECONDS,
  technicalRetry: { maxAttempts: 2, intervalSeconds: 10, backoffRate: 2 },
  webhookRetry: DEFAULT_WEBHOOK_RETRY,
});
const states = definition.States as Record<string, Record<string, any>>;

describe('planning a job', () => {
  let store: MemoryJobStore;
  let items: MemoryItemStore;

  beforeEach(() => {
    store = new MemoryJobStore();
    items = new MemoryItemStore();
  });

  it('writes every item PENDING and names the chunks by index only', async () => {
    const keys = Array.from({ length: 45 }, (_, i) => `k${i}`);
    const job = makeJob({ robot: 'items-robot', input: { keys } });
    await store.create(job);

    const plan = await planJob({ store, items, robots: catalogOf(itemRobot) }, job.jobId, 20);

    expect(plan).toEqual({ jobId: job.jobId, fanOut: true, chunks: [0, 1, 2], chunkSize: 20 });
    const written = (await items.list(job.jobId, { limit: 100 })).items;
    expect(written.map((item) => [item.key, item.position, item.status])).toEqual(keys.map((key, position) => [key, position, 'PENDING']));
  });

  it('keeps a robot without items, an input that no longer parses and repeated keys as one task', async () => {
    const simple = makeJob({ robot: 'simple', input: {} });
    const bad = makeJob({ jobId: '00000000-0000-4000-8000-000000000002', robot: 'items-robot', input: { keys: 'nope' } });
    const repeated = makeJob({ jobId: '00000000-0000-4000-8000-000000000003', robot: 'items-robot', input: { keys: ['a', 'a'] } });
    for (const job of [simple, bad, repeated]) await store.create(job);
    const robots = { find: (name: string) => (name === 'simple' ? robotThat(async () => ({ status: 'SUCCEEDED' })) : name === 'items-robot' ? itemRobot : undefined), names: () => [] };

    for (const job of [simple, bad, repeated]) {
      expect(await planJob({ store, items, robots }, job.jobId, 20), job.robot).toMatchObject({ fanOut: false, chunks: [] });
    }
    expect(items.items.size).toBe(0);
  });
});

describe('the fan-out in the workflow definition', () => {
  it('runs one Map iteration per chunk index, bounded by chunkConcurrency, each a robot task retried on its own', () => {
    const map = states[WORKFLOW_STATES.runChunks]!;
    expect(map).toMatchObject({ Type: 'Map', ItemsPath: '$.chunks', MaxConcurrency: 4, ResultPath: null });
    expect(map.ItemSelector).toEqual({ 'jobId.$': '$.jobId', 'chunk.$': '$$.Map.Item.Value', 'chunkSize.$': '$.chunkSize' });
    const chunk = map.ItemProcessor.States[WORKFLOW_STATES.runChunk];
    expect(chunk.Parameters.MessageBody).toEqual({ 'jobId.$': '$.jobId', chunk: { 'index.$': '$.chunk', 'size.$': '$.chunkSize' }, 'taskToken.$': '$$.Task.Token' });
    expect(chunk).toMatchObject({ TimeoutSeconds: TASK_BACKSTOP_SECONDS, ResultPath: null, Retry: [{ ErrorEquals: [RobotErrorName.technical], MaxAttempts: 2 }] });
    expect(chunk).not.toHaveProperty('HeartbeatSeconds');
    // Only a technical failure that outlives the retries lets the other chunks go on.
    expect(chunk.Catch).toEqual([{ ErrorEquals: [RobotErrorName.technical, RobotErrorName.lastAttemptFailed], ResultPath: null, Next: WORKFLOW_STATES.chunkGaveUp }]);
    expect(map.Next).toBe(WORKFLOW_STATES.finishJob);
    expect(states[WORKFLOW_STATES.finishJob]!.Parameters.MessageBody).toEqual({ 'jobId.$': '$.jobId', finish: true, 'taskToken.$': '$$.Task.Token' });
  });

  it('keeps per-chunk events within the model the history limit is checked with', () => {
    const processor = states[WORKFLOW_STATES.runChunks]!.ItemProcessor.States as Record<string, { Type: string }>;
    // The model counts one Task and one Pass per iteration: a state added here must be counted there.
    expect(Object.values(processor).map((state) => state.Type).sort()).toEqual(['Pass', 'Task']);
  });

  it.each(STAGE_NAMES)(`keeps a job of ${MAX_FAN_OUT_ITEMS} items within Step Functions' history and payload limits with %s settings`, (stage) => {
    const { robot } = loadStageConfig(stage, (cdkJson as { context: { stages: unknown } }).context.stages);
    const events = worstCaseHistoryEvents(MAX_FAN_OUT_ITEMS, robot.fanOut.chunkSize, robot.technicalRetry.maxAttempts, DEFAULT_WEBHOOK_RETRY.maxAttempts + 1);
    const payload = planPayloadBytes(MAX_FAN_OUT_ITEMS, robot.fanOut.chunkSize);
    console.log(`${stage}: ${MAX_FAN_OUT_ITEMS} items in chunks of ${robot.fanOut.chunkSize}: ≤ ${events} history events (limit ${EXECUTION_HISTORY_LIMIT}), plan ${payload} bytes`);
    expect(events).toBeLessThanOrEqual(EXECUTION_HISTORY_LIMIT);
    expect(payload).toBeLessThan(STATE_PAYLOAD_LIMIT_BYTES);
  });

  it('would exceed the history limit with chunks too small, which the stage config refuses', () => {
    expect(worstCaseHistoryEvents(MAX_FAN_OUT_ITEMS, 20, 2, DEFAULT_WEBHOOK_RETRY.maxAttempts + 1)).toBeGreaterThan(EXECUTION_HISTORY_LIMIT);
    const stages = structuredClone((cdkJson as { context: { stages: Record<string, any> } }).context.stages);
    stages.dev.robot.fanOut.chunkSize = 20;
    expect(() => loadStageConfig('dev', stages)).toThrow(/history events/);
  });
});
