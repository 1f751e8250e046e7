import { afterEach, describe, expect, it, vi } from 'vitest';
import { ecsScaleInProtection } from '../../containers/robot/src/scale-in-protection';
import { createLogger } from '../../core/logger';

const AGENT = 'http://169.254.170.2/api/task-id';
const log = createLogger({ test: 'scale-in-protection' });

function fakeAgent(status = 200) {
  const requests: Array<{ url: string; body: unknown }> = [];
  const fetchImpl = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    requests.push({ url: String(url), body: JSON.parse(String(init?.body)) });
    return new Response('{}', { status });
  }) as unknown as typeof fetch;
  return { requests, fetchImpl };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

afterEach(() => vi.useRealTimers());

describe('ECS scale-in protection', () => {
  it('protects the task from its first job to its last, once each way', async () => {
    const agent = fakeAgent();
    const protection = ecsScaleInProtection(AGENT, log, agent.fetchImpl);

    protection.update(1);
    protection.update(2);
    protection.update(1);
    protection.update(0);
    await settle();

    expect(agent.requests).toEqual([
      { url: `${AGENT}/task-protection/v1/state`, body: { ProtectionEnabled: true, ExpiresInMinutes: 60 } },
      { url: `${AGENT}/task-protection/v1/state`, body: { ProtectionEnabled: false } },
    ]);
  });

  it('renews the protection while a long job runs', async () => {
    vi.useFakeTimers();
    const agent = fakeAgent();
    const protection = ecsScaleInProtection(AGENT, log, agent.fetchImpl);

    protection.update(1);
    await vi.advanceTimersByTimeAsync(2 * 50 * 60_000);

    expect(agent.requests.filter((request) => (request.body as { ProtectionEnabled: boolean }).ProtectionEnabled)).toHaveLength(3);
    protection.update(0);
    await vi.advanceTimersByTimeAsync(3 * 50 * 60_000);
    expect(agent.requests).toHaveLength(4);
  });

  it('does nothing outside ECS, and a refusing agent never breaks the worker', async () => {
    const agent = fakeAgent(400);
    ecsScaleInProtection(undefined, log, agent.fetchImpl).update(1);
    const refused = ecsScaleInProtection(AGENT, log, agent.fetchImpl);
    refused.update(1);
    await settle();

    expect(agent.requests).toHaveLength(1);
  });
});
