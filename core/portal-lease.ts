import { setTimeout as sleep } from 'node:timers/promises';
import { technicalError } from './robot';

/**
 * Per-portal concurrency cap: at most `slots` sessions against one host across every worker.
 * A slot is held by a job (the holder), renewed with the job's heartbeat and released at its end;
 * a worker that dies stops renewing, and its slot expires. The job id as holder lets a job that
 * comes back after its worker died take its own slot again at once.
 */
export interface PortalLease {
  host: string;
  slot: number;
  holder: string;
}

export interface PortalLeaseStore {
  /** Takes a slot that is free, expired or already the holder's; undefined when all are held. */
  tryAcquire(host: string, holder: string, slots: number, ttlSeconds: number, nowSeconds: number): Promise<PortalLease | undefined>;
  /** Extends the lease; false when it expired and someone else took the slot. */
  renew(lease: PortalLease, ttlSeconds: number, nowSeconds: number): Promise<boolean>;
  release(lease: PortalLease): Promise<void>;
}

export interface SlotRequest {
  host: string;
  holder: string;
  slots: number;
  ttlSeconds: number;
}

export interface SlotWait {
  /** Aborts the wait (job cancelled, worker stopping). */
  signal: AbortSignal;
  /** Give up after this long: a technical error, which the workflow retries later. Unset: no limit. */
  maxWaitMs?: number;
  pollMs: number;
  /** Called once when the first try finds every slot taken. */
  onWaiting?(): void;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** One try: a slot that is free, expired or already the holder's; undefined when all are held. */
export function tryPortalSlot(store: PortalLeaseStore, request: SlotRequest): Promise<PortalLease | undefined> {
  return store.tryAcquire(request.host, request.holder, request.slots, request.ttlSeconds, nowSeconds());
}

/** Waits for a free slot of the portal: jobs queue up instead of overloading it. */
export async function waitForPortalSlot(store: PortalLeaseStore, request: SlotRequest, wait: SlotWait): Promise<PortalLease> {
  const deadline = wait.maxWaitMs === undefined ? Infinity : Date.now() + wait.maxWaitMs;
  for (let tries = 0; ; tries++) {
    wait.signal.throwIfAborted();
    const lease = await tryPortalSlot(store, request);
    if (lease) return lease;
    if (tries === 0) wait.onWaiting?.();
    if (Date.now() >= deadline) {
      throw technicalError('PORTAL_BUSY', `All ${request.slots} session slots of ${request.host} stayed taken for ${Math.round((wait.maxWaitMs ?? 0) / 1000)} s`);
    }
    // Jitter, so that waiting workers do not retry in lockstep.
    await sleep(wait.pollMs * (0.5 + Math.random()), undefined, { signal: wait.signal });
  }
}

export function renewPortalLease(store: PortalLeaseStore, lease: PortalLease, ttlSeconds: number): Promise<boolean> {
  return store.renew(lease, ttlSeconds, nowSeconds());
}
