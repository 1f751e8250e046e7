import { DEFAULT_JOB_TIMEOUTS, deliveryTiming } from '../core/delivery';
import { randomUUID } from 'node:crypto';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { WorkerBrowser, type JobSession, type JobSessions, type SessionOptions, type WorkerBrowserOptions } from '../runtime/browser';
import type { EgressPolicy } from '../runtime/egress-route';
import { handleMessage, type MessageDeps } from '../runtime/handle-message';
import type { RobotCatalog } from '../core/jobs';
import { describeError, type LogFields, type Logger } from '../core/logger';
import { SHARED_SECRETS_FOLDER } from '../core/secrets';
import type { RobotResult } from '../core/workflow-contract';
import { MemoryItemStore } from '../test/support/memory-item-store';
import { MemoryJobStore, makeJob } from '../test/support/memory-job-store';
import { MemoryArtifactStore, MemoryPortalLeases, MemorySecrets } from '../test/support/robot-runtime-fakes';
import { assertPod } from './pod-check';

/**
 * Runs freight-pod-download jobs through the worker's own per-message path (handleMessage →
 * robot runtime → WorkerBrowser sessions behind the egress guard), with the AWS services
 * replaced by the in-memory fakes the tests use. Only the `sessions` differ between the modes.
 */
export interface PortalTarget {
  url: string;
  username: string;
  password: string;
}

export interface HarnessOptions {
  portal: PortalTarget;
  robots: RobotCatalog;
  sessions: JobSessions;
  /** Jobs that may run at once: also the portal's session cap, so no job waits for a slot. */
  concurrency: number;
}

const SECRETS_PREFIX = 'roboport/bench/robots/';
/** A platform-wide portal account, readable by every tenant's jobs. */
const SECRET_NAME = `${SECRETS_PREFIX}${SHARED_SECRETS_FOLDER}/freight-portal`;
const QUEUE_URL = 'https://sqs.bench.local/robot-tasks';

export class WorkerHarness {
  private readonly jobs = new MemoryJobStore();
  private readonly items = new MemoryItemStore();
  private readonly files = new MemoryArtifactStore();
  private readonly reports = new Map<string, { command: string; input: Record<string, unknown> }>();
  readonly log = new CollectingLogger();
  private readonly deps: MessageDeps;

  constructor(private readonly options: HarnessOptions) {
    this.deps = {
      s3: this.files.client,
      artifactsBucket: 'bench-artifacts',
      store: this.jobs,
      items: this.items,
      leases: new MemoryPortalLeases(),
      // Bound to the portal host, as PUT /secrets/{name} binds credentials.
      secrets: new MemorySecrets({ [SECRET_NAME]: { value: JSON.stringify({ username: options.portal.username, password: options.portal.password }), hosts: [new URL(options.portal.url).host] } }),
      secretsPrefix: SECRETS_PREFIX,
      portalSessions: { default: options.concurrency, byHost: {} },
      leaseTtlSeconds: 60,
      leaseWaitMs: undefined,
      robots: options.robots,
      sessions: options.sessions,
      egressAllowHosts: [new URL(options.portal.url).host],
      log: this.log,
      sqs: { send: async () => ({}) } as unknown as SQSClient,
      sfn: this.workflowFake(),
      queueUrl: QUEUE_URL,
      timing: deliveryTiming(20),
      defaultJobTimeoutSeconds: DEFAULT_JOB_TIMEOUTS.defaultSeconds,
    };
  }

  /** One job from the queue message to the task report; throws unless every invoice came back as its PDF. */
  async runJob(invoices: readonly string[]): Promise<void> {
    const jobId = randomUUID();
    const taskToken = `bench-token-${jobId}`;
    const input = { portalUrl: this.options.portal.url, credentialsSecret: SECRET_NAME, invoices };
    await this.jobs.create(makeJob({ jobId, robot: 'freight-pod-download', status: 'QUEUED', input }));
    await handleMessage(
      { MessageId: jobId, ReceiptHandle: `receipt-${jobId}`, Body: JSON.stringify({ jobId, taskToken }) },
      this.deps,
      { draining: new AbortController().signal, stopping: new AbortController().signal },
    );
    await this.verify(jobId, taskToken, invoices);
  }

  private async verify(jobId: string, taskToken: string, invoices: readonly string[]): Promise<void> {
    const report = this.reports.get(taskToken);
    if (report?.command !== 'SendTaskSuccessCommand') {
      throw new Error(`job ${jobId} did not succeed: ${JSON.stringify(report ?? 'no report')}; worker warnings: ${this.log.problems.slice(-5).join(' | ')}`);
    }
    const result = JSON.parse(String(report.input.output)) as RobotResult;
    if (result.status !== 'SUCCEEDED') throw new Error(`job ${jobId} ended ${result.status}`);
    const { items } = await this.items.list(jobId, { limit: invoices.length + 1 });
    if (items.length !== invoices.length) throw new Error(`job ${jobId} has ${items.length} items, expected ${invoices.length}`);
    for (const item of items) {
      const stored = item.artifact && this.files.objects.get(item.artifact.key);
      if (item.status !== 'SUCCEEDED' || !stored) throw new Error(`item ${item.key} of job ${jobId} is ${item.status} without its PDF`);
      assertPod(item.key, stored.body);
    }
    // The stored PDFs are not needed any more; keeps memory flat over long runs.
    for (const key of [...this.files.objects.keys()]) if (key.startsWith(`jobs/${jobId}/`)) this.files.objects.delete(key);
  }

  /** Step Functions as far as the worker talks to it: the task report of each token is kept. */
  private workflowFake(): SFNClient {
    const reports = this.reports;
    return {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        const taskToken = String(command.input.taskToken);
        if (command.constructor.name !== 'SendTaskHeartbeatCommand') reports.set(taskToken, { command: command.constructor.name, input: command.input });
        return {};
      },
    } as unknown as SFNClient;
  }
}

/**
 * The baseline of the Robot-Framework-style seeds: every job launches its own Chromium and
 * closes it afterwards. The same WorkerBrowser, egress guard and context options as the worker,
 * so the browser's lifetime is the only difference between the modes.
 */
export class BrowserPerJob implements JobSessions {
  constructor(private readonly options: WorkerBrowserOptions) {}

  async open(policy: EgressPolicy, options?: SessionOptions): Promise<JobSession> {
    const browser = new WorkerBrowser(this.options);
    try {
      const session = await browser.open(policy, options);
      return {
        ...session,
        close: async () => {
          try {
            await session.close();
          } finally {
            await browser.close();
          }
        },
      };
    } catch (error) {
      await browser.close();
      throw error;
    }
  }
}

/** Keeps the worker's info logs off the bench output; warnings and errors are kept for failure messages. */
export class CollectingLogger implements Logger {
  constructor(
    readonly problems: string[] = [],
    private readonly base: LogFields = {},
  ) {}

  info(): void {}
  warn(message: string, fields?: LogFields): void {
    const readable = Object.entries(fields ?? {}).map(([key, value]) => [key, value instanceof Error ? describeError(value) : value]);
    this.problems.push(`${message} ${JSON.stringify({ ...this.base, ...Object.fromEntries(readable) })}`);
  }
  error(message: string, fields?: LogFields): void {
    this.warn(message, fields);
  }
  child(fields: LogFields): Logger {
    return new CollectingLogger(this.problems, { ...this.base, ...fields });
  }
}
