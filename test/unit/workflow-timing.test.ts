import { describe, expect, it } from 'vitest';
import { invisibleSeconds } from '../../containers/robot/src/handle-message';
import { workerHeartbeatSeconds } from '../../core/workflow-contract';

describe('worker timing against the workflow heartbeat', () => {
  it.each([10, 60, 300, 3600])('a crashed worker’s message returns well before a %i s heartbeat window closes', (workflowHeartbeat) => {
    const beat = workerHeartbeatSeconds(workflowHeartbeat);
    // After a crash the token waits at most: the message's remaining invisibility + the next worker's first (immediate) beat.
    expect(invisibleSeconds(beat)).toBeLessThanOrEqual(workflowHeartbeat / 2);
    expect(beat).toBeGreaterThanOrEqual(1);
  });
});
