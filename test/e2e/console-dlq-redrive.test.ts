import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import sparticuzChromium from '@sparticuz/chromium';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../local/emulators/poll';
import { LOCAL_USERS } from '../../local/local-users';
import { LocalClient, isTerminal } from '../support/local-client';
import { startStackProcess, type StackProcess } from '../support/stack-process';

/**
 * An operator repairs a poison message in the console: a stack of its own that leaves dead letters
 * in the DLQ (--no-dlq-consumer); its worker is paused (SIGSTOP) while this test plays a worker that
 * crashes on a job until SQS dead-letters it; the admin sees it under Operations, redrives it, and
 * the resumed worker finishes the job.
 */
const adminUser = LOCAL_USERS.find((user) => user.groups.includes('admins'))!;
let stack: StackProcess;
let client: LocalClient;
let sqs: SQSClient;
let browser: Browser;
let workerPid: number;

beforeAll(async () => {
  stack = await startStackProcess({ args: ['--no-dlq-consumer'], env: { WORKER_HEARTBEAT_SECONDS: '2' } });
  client = new LocalClient(stack.outputs);
  sqs = new SQSClient({ region: stack.outputs.Region, endpoint: new URL(stack.outputs.RobotQueueUrl).origin, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  workerPid = Number(readFileSync(path.join(stack.dataDir, 'worker.pid'), 'utf8').trim().split('\n')[0]);
  browser = await chromium.launch({ executablePath: await sparticuzChromium.executablePath(), args: sparticuzChromium.args, headless: true });
});

afterAll(async () => {
  if (workerPid) process.kill(workerPid, 'SIGCONT');
  await browser?.close();
  sqs?.destroy();
  await stack?.stop();
});

const depth = async (queueUrl: string) =>
  Number((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes?.ApproximateNumberOfMessages ?? 0);

describe('console operations: DLQ redrive', () => {
  it('shows a poisoned message in the DLQ with its job, redrives it after confirmation, and the job completes', async () => {
    process.kill(workerPid, 'SIGSTOP');
    const alice = await client.signInSeeded('clients');
    const submitted = await client.api('POST', '/jobs', { token: alice, body: { robot: 'web-snapshot', input: { url: `${stack.outputs.SandboxUrl}/article`, formats: ['pdf'] } } });
    const jobId: string = submitted.body.jobId;
    // Crash on the job's message (visible again at once) until SQS moves it to the DLQ.
    await pollUntil(
      async () => {
        await sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.outputs.RobotQueueUrl, VisibilityTimeout: 0, WaitTimeSeconds: 1 }));
        return (await depth(stack.outputs.RobotDeadLetterQueueUrl)) > 0 || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, description: 'the job’s message in the DLQ' },
    );

    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(`${stack.outputs.ConsoleUrl}/#/ops`);
    await page.getByLabel('Email or username').fill(adminUser.username);
    await page.getByLabel('Password').fill(adminUser.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Operations' }).click();
    const letter = page.locator(`#dead-letters li[data-job-id="${jobId}"]`);
    await letter.waitFor({ timeout: 20_000 });
    expect(await letter.textContent()).toMatch(/whole job.*Received \d+ times/s);
    const screenshotDir = process.env.CONSOLE_SCREENSHOT_DIR ?? path.join(process.cwd(), 'test-output', 'console');
    await mkdir(screenshotDir, { recursive: true });
    await page.screenshot({ path: path.join(screenshotDir, 'operations-dlq-phone.png'), fullPage: true });

    await letter.getByRole('button', { name: 'Redrive' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Redrive' }).click();
    await page.getByText('Redriven: 1 message.').waitFor();
    expect(await depth(stack.outputs.RobotDeadLetterQueueUrl)).toBe(0);
    expect(await depth(stack.outputs.RobotQueueUrl)).toBe(1);

    process.kill(workerPid, 'SIGCONT');
    const finished = await client.waitForJob(alice, jobId, isTerminal, 60_000);
    expect(finished.status).toBe('SUCCEEDED');
    await context.close();
  });
});
