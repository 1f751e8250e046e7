import type { Logger } from '../../../core/logger';

/**
 * ECS task scale-in protection while jobs run. The fleet scales in on backlog, and ECS picks the
 * task to stop: without protection it may pick a busy worker, whose jobs would then lose their
 * time to a redelivery. The worker asks for protection when it takes its first job and drops it
 * when its last job ends. The ECS agent endpoint ($ECS_AGENT_URI) exists only in ECS tasks;
 * elsewhere (the local stack) this does nothing.
 */
export interface ScaleInProtection {
  /** The number of running jobs changed. */
  update(runningJobs: number): void;
}

/** Renewed before it lapses, so a long job stays protected. */
const PROTECTION_MINUTES = 60;
const RENEW_MS = (PROTECTION_MINUTES - 10) * 60_000;

export function ecsScaleInProtection(agentUri: string | undefined, log: Logger, fetchImpl: typeof fetch = fetch): ScaleInProtection {
  if (!agentUri) return { update: () => undefined };
  let protectedNow = false;
  let renewTimer: NodeJS.Timeout | undefined;
  let pending = Promise.resolve();

  const put = (enabled: boolean) => {
    // One request at a time, in order: the last state asked for is the state the agent keeps.
    pending = pending.then(async () => {
      try {
        const response = await fetchImpl(`${agentUri}/task-protection/v1/state`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(enabled ? { ProtectionEnabled: true, ExpiresInMinutes: PROTECTION_MINUTES } : { ProtectionEnabled: false }),
        });
        if (!response.ok) log.warn('scale-in-protection.refused', { enabled, status: response.status });
      } catch (error) {
        log.warn('scale-in-protection.failed', { enabled, error });
      }
    });
  };

  return {
    update(runningJobs) {
      const busy = runningJobs > 0;
      if (busy === protectedNow) return;
      protectedNow = busy;
      clearInterval(renewTimer);
      put(busy);
      if (busy) renewTimer = setInterval(() => put(true), RENEW_MS).unref();
    },
  };
}
