import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../local/emulators/poll';
import { ROBOT_QUEUE_MAX_RECEIVES } from '../../core/delivery';
import { LocalClient, isTerminal } from '../support/local-client';
import { startStackProcess, type StackProcess } from '../support/stack-process';

/**
 * A poison message, for real: a stack of its own without a worker, where this test plays a worker
 * that crashes on the job (receives its message and never deletes it). SQS parks the message in
 * the DLQ; the stack's DLQ consumer runs the reprocessor Lambda handler on it.
 */
let stack: StackProcess;
let client: LocalClient;
let sqs: SQSClient;
let alice: string;

beforeAll(async () => {
  stack = await startStackProcess({ args: ['--no-worker'], env: { WORKER_HEARTBEAT_SECONDS: '2' } });
  client = new LocalClient(stack.outputs);
  sqs = new SQSClient({
    region: stack.outputs.Region,
    endpoint: new URL(stack.outputs.RobotQueueUrl).origin,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  alice = await client.signInSeeded('clients');
});

afterAll(async () => {
  sqs?.destroy();
  await stack?.stop();
});

/**
 * Submits a job and crashes on each of its messages, in order, until SQS gives up on it; returns
 * the job id. A job with items sends a chunk's message, then (once the chunk is reported) its
 * finish step's: both land in the DLQ and get their last attempt there.
 */
async function submitPoisonJob(body: unknown, messages: object[] = [{}]): Promise<string> {
  const submitted = await client.api('POST', '/jobs', { token: alice, body });
  expect(submitted.status).toBe(202);
  const jobId: string = submitted.body.jobId;
  for (const shape of messages) await crashOnMessage(jobId, shape);
  return jobId;
}

async function crashOnMessage(jobId: string, shape: object): Promise<void> {
  // VisibilityTimeout 0: the message is visible again at once, as after a worker crash.
  const receive = async () =>
    (
      await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: stack.outputs.RobotQueueUrl, VisibilityTimeout: 0, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }),
      )
    ).Messages?.[0];
  for (let receives = 1; receives <= ROBOT_QUEUE_MAX_RECEIVES; receives++) {
    // The first receive of a later message waits for the last attempt of the one before.
    const message = await pollUntil(receive, { timeoutMs: 60_000, description: `receive ${receives} of the job's message` });
    expect(JSON.parse(message.Body ?? '{}')).toMatchObject({ jobId, ...shape });
    expect(message.Attributes?.ApproximateReceiveCount).toBe(String(receives));
  }
  // The next receive finds the message over its limit and moves it to the DLQ instead.
  expect(await receive()).toBeUndefined();
}

describe('DLQ reprocessor on the local stack', () => {
  it('completes a poison web-snapshot job in the Lambda runtime and settles it through its task token', async () => {
    const jobId = await submitPoisonJob({ robot: 'web-snapshot', input: { url: `${stack.outputs.SandboxUrl}/`, formats: ['pdf'] } });

    const job = await client.waitForJob(alice, jobId, isTerminal, 90_000);

    expect(job).toMatchObject({ status: 'SUCCEEDED', attempts: 1, lastAttemptRuntime: 'lambda' });
    expect(job.artifacts.map((artifact: { name: string }) => artifact.name)).toContain('snapshot.pdf');
    const pdf = await fetch(job.artifacts.find((artifact: { name: string }) => artifact.name === 'snapshot.pdf').url);
    expect(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString()).toBe('%PDF-');
    const reported = stack.output().split('\n').filter((line) => line.includes(jobId) && line.includes('last-attempt.'));
    expect(reported.map((line) => JSON.parse(line).message)).toEqual(['last-attempt.started', 'last-attempt.reported']);
  });

  it('fails a poison job whose robot fails in the Lambda runtime, with the evidence of the failed item', async () => {
    const jobId = await submitPoisonJob({
      robot: 'freight-pod-download',
      // The sandbox portal knows no invoice starting with 404.
      input: { portalUrl: stack.outputs.PortalUrl, credentialsSecret: stack.outputs.PortalSecretName, invoices: ['404000777'] },
    }, [{ chunk: { index: 0 } }, { finish: true }]);

    const job = await client.waitForJob(alice, jobId, isTerminal, 90_000);

    expect(job).toMatchObject({ status: 'FAILED', lastAttemptRuntime: 'lambda', error: { type: 'BUSINESS', code: 'ALL_ITEMS_FAILED' } });
    const { body } = await client.api('GET', `/jobs/${jobId}/items`, { token: alice });
    const [item] = body.items;
    expect(item).toMatchObject({ key: '404000777', status: 'FAILED', error: { type: 'BUSINESS' } });
    // A business error is not retried, so not traced: the page as it failed.
    expect(item.evidence.map((file: { name: string }) => file.name).sort()).toEqual(['page.html', 'screenshot.png']);
    const screenshot = await fetch(item.evidence.find((file: { name: string }) => file.name === 'screenshot.png').url);
    expect(Buffer.from(await screenshot.arrayBuffer()).subarray(1, 4).toString()).toBe('PNG');
  });
});
