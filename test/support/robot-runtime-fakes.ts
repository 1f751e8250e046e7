import { S3Client } from '@aws-sdk/client-s3';
import type { Page } from 'playwright-core';
import { z } from 'zod';
import { deliveryTiming } from '../../core/delivery';
import type { RobotCatalog } from '../../core/jobs';
import type { Logger, LogFields } from '../../core/logger';
import type { PortalLease, PortalLeaseStore } from '../../core/portal-lease';
import type { ItemRobot, RobotDefinition, SimpleRobot } from '../../core/robot';
import type { BoundSecret, SecretSource } from '../../core/secrets';
import type { JobSession, JobSessions } from '../../runtime/browser';
import type { AttemptDeps } from '../../runtime/handle-message';
import type { RuntimeDeps } from '../../runtime/robot-runtime';
import { MemoryItemStore } from './memory-item-store';
import { MemoryJobStore } from './memory-job-store';

/**
 * Small fakes for the robot runtime's ports: the artifact store, secrets and portal slots, with
 * the rules of the real adapters (slots taken when free, expired or already the holder's).
 */
export class MemoryArtifactStore {
  readonly objects = new Map<string, { contentType: string; body: Buffer }>();
  /** Puts of each key, to prove a file was never written twice. */
  readonly puts = new Map<string, number>();

  /** Just enough of an S3Client for PutObjectCommand. */
  readonly client = {
    send: async (command: { input: { Key?: string; Body?: unknown; ContentType?: string } }) => {
      const key = command.input.Key ?? '';
      this.objects.set(key, { contentType: command.input.ContentType ?? '', body: Buffer.from(command.input.Body as Uint8Array) });
      this.puts.set(key, (this.puts.get(key) ?? 0) + 1);
      return {};
    },
  } as unknown as S3Client;

  text(key: string): string {
    const object = this.objects.get(key);
    if (!object) throw new Error(`no object ${key}; have ${[...this.objects.keys()].join(', ')}`);
    return object.body.toString('utf8');
  }
}

/** Secrets by name: a plain value (bound to no host) or a value with its bound hosts. */
export class MemorySecrets implements SecretSource {
  readonly reads: string[] = [];
  constructor(private readonly values: Record<string, string | BoundSecret>) {}

  async read(name: string): Promise<BoundSecret | undefined> {
    this.reads.push(name);
    const secret = this.values[name];
    return typeof secret === 'string' ? { value: secret, hosts: [] } : secret;
  }
}

export class MemoryPortalLeases implements PortalLeaseStore {
  /** `host#slot` → holder and expiry (epoch seconds). */
  readonly slots = new Map<string, { holder: string; expiresAt: number }>();
  renewals = 0;

  async tryAcquire(host: string, holder: string, slots: number, ttlSeconds: number, nowSeconds: number): Promise<PortalLease | undefined> {
    for (let slot = 0; slot < slots; slot++) {
      const current = this.slots.get(`${host}#${slot}`);
      if (!current || current.expiresAt < nowSeconds || current.holder === holder) {
        this.slots.set(`${host}#${slot}`, { holder, expiresAt: nowSeconds + ttlSeconds });
        return { host, slot, holder };
      }
    }
    return undefined;
  }

  async renew(lease: PortalLease, ttlSeconds: number, nowSeconds: number): Promise<boolean> {
    const current = this.slots.get(`${lease.host}#${lease.slot}`);
    if (current?.holder !== lease.holder) return false;
    current.expiresAt = nowSeconds + ttlSeconds;
    this.renewals++;
    return true;
  }

  async release(lease: PortalLease): Promise<void> {
    if (this.slots.get(`${lease.host}#${lease.slot}`)?.holder === lease.holder) this.slots.delete(`${lease.host}#${lease.slot}`);
  }

  holders(host: string): string[] {
    return [...this.slots].filter(([key]) => key.startsWith(`${host}#`)).map(([, { holder }]) => holder);
  }
}

/** A simple robot named test-robot that takes any input and runs `run`. */
export const robotThat = (run: SimpleRobot['run']): RobotDefinition => ({
  name: 'test-robot',
  version: '1',
  description: 'test',
  input: z.record(z.string(), z.unknown()),
  run,
});

/** An item robot over `input.keys`, one item per key, doing nothing per item unless `overrides` say otherwise. */
export function keysRobot(overrides: Partial<ItemRobot<{ keys: string[] }>> = {}): ItemRobot<{ keys: string[] }> {
  return {
    name: 'items-robot',
    version: '1',
    description: 'test',
    input: z.object({ keys: z.array(z.string()) }),
    itemsField: 'keys',
    items: ({ keys }) => keys.map((key) => ({ key })),
    processItem: async () => ({}),
    ...overrides,
  };
}

export const catalogOf = (robot: RobotDefinition): RobotCatalog => ({ find: (name) => (name === robot.name ? robot : undefined), names: () => [robot.name] });

export interface LogLine {
  event: string;
  fields?: LogFields;
}

/** A logger that records each line (with its children's base fields) into `lines`. */
export function recordingLogger(lines: LogLine[], base: LogFields = {}): Logger {
  const record = (event: string, fields?: LogFields) => void lines.push({ event, fields: { ...base, ...fields } });
  return { info: record, warn: record, error: record, child: (fields) => recordingLogger(lines, { ...base, ...fields }) };
}

/** Sessions whose pages do nothing; `onClose` counts closed sessions where a test cares. */
export function idleSessions(onOpen: () => void = () => {}, onClose: () => void = () => {}): JobSessions {
  return new FakeSessions({ onOpen, onClose });
}

/** A fake page: a screenshot and HTML to capture, and its number (pages opened so far, from 1). */
export interface FakePage {
  id: number;
  closed: boolean;
  screenshot(): Promise<Uint8Array>;
  content(): Promise<string>;
  close(): Promise<void>;
}

/**
 * Sessions of fake pages that record what the runtime does with them: pages opened and replaced,
 * traces started (at most one at a time, as in a real context) and kept, sessions closed.
 */
export class FakeSessions implements JobSessions {
  opened = 0;
  closed = 0;
  pagesOpened = 0;
  pagesReplaced = 0;
  tracesStarted: string[] = [];
  tracesKept = 0;
  /** A trace was running when its session closed. */
  closedWhileTracing = 0;

  constructor(private readonly hooks: { onOpen?(): void; onClose?(): void; trace?(): Promise<Uint8Array> } = {}) {}

  private page(): Page {
    const page: FakePage = {
      id: ++this.pagesOpened,
      closed: false,
      screenshot: async () => Buffer.from('png'),
      content: async () => '<html>failed page</html>',
      close: async () => void (page.closed = true),
    };
    return page as unknown as Page;
  }

  async open(): Promise<JobSession> {
    this.opened++;
    this.hooks.onOpen?.();
    let tracing = false;
    return {
      page: this.page(),
      newPage: async () => this.page(),
      replacePage: async (old) => {
        await old.close();
        this.pagesReplaced++;
        return this.page();
      },
      startItemTrace: async (title) => {
        if (tracing) return false;
        tracing = true;
        this.tracesStarted.push(title);
        return true;
      },
      stopItemTrace: async (keep) => {
        if (!tracing) return undefined;
        tracing = false;
        if (!keep) return undefined;
        this.tracesKept++;
        return (await this.hooks.trace?.()) ?? new Uint8Array();
      },
      cookieValues: async () => [],
      close: async () => {
        if (tracing) this.closedWhileTracing++;
        this.closed++;
        this.hooks.onClose?.();
      },
    };
  }
}

/** Pauses that do not wait: each asked wait is recorded, and the attempt's abort still ends one. */
export function recordedPauses(): { waits: number[]; pause: NonNullable<RuntimeDeps['pause']> } {
  const waits: number[] = [];
  return {
    waits,
    pause: async (ms, signal) => {
      signal.throwIfAborted();
      waits.push(ms);
      await Promise.resolve();
    },
  };
}

/** What an attempt needs besides the runtime: the delivery windows of `beatSeconds` and the legacy job bound. */
export function attemptSettings(beatSeconds = 20): Pick<AttemptDeps, 'timing' | 'defaultJobTimeoutSeconds'> {
  return { timing: deliveryTiming(beatSeconds), defaultJobTimeoutSeconds: 900 };
}

/** The robot runtime's dependencies, all in memory with harmless defaults; tests override what they watch. */
export function fakeRuntimeDeps(robot: RobotDefinition, overrides: Partial<RuntimeDeps> = {}): RuntimeDeps {
  return {
    s3: new S3Client({}),
    artifactsBucket: 'artifacts',
    store: new MemoryJobStore(),
    items: new MemoryItemStore(),
    leases: new MemoryPortalLeases(),
    secrets: new MemorySecrets({}),
    secretsPrefix: undefined,
    portalSessions: { default: 2, byHost: {} },
    leaseTtlSeconds: 60,
    leaseWaitMs: 1_000,
    robots: catalogOf(robot),
    sessions: idleSessions(),
    egressAllowHosts: [],
    log: recordingLogger([]),
    pause: recordedPauses().pause,
    ...overrides,
  };
}
