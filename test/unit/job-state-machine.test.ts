import { describe, expect, it } from 'vitest';
import { ALLOWED_SOURCES, JOB_STATUSES, TERMINAL_STATUSES, canTransition, isTerminal, type JobStatus } from '../../core/job';

const allowed: Array<[JobStatus, JobStatus]> = [
  ['QUEUED', 'RUNNING'],
  ['RUNNING', 'RUNNING'],
  ['RUNNING', 'SUCCEEDED'],
  ['RUNNING', 'PARTIAL'],
  ['QUEUED', 'FAILED'],
  ['RUNNING', 'FAILED'],
  ['QUEUED', 'CANCELLED'],
  ['RUNNING', 'CANCELLED'],
  ['QUEUED', 'TIMED_OUT'],
  ['RUNNING', 'TIMED_OUT'],
];

describe('job state machine', () => {
  it.each(allowed)('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  const refused = JOB_STATUSES.flatMap((from) => JOB_STATUSES.map((to) => [from, to] as [JobStatus, JobStatus])).filter(
    ([from, to]) => !allowed.some(([f, t]) => f === from && t === to),
  );

  it.each(refused)('refuses %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });

  it('never leaves a terminal state', () => {
    for (const terminal of TERMINAL_STATUSES) {
      expect(isTerminal(terminal)).toBe(true);
      for (const to of JOB_STATUSES) expect(canTransition(terminal, to)).toBe(false);
    }
    expect(isTerminal('QUEUED')).toBe(false);
    expect(isTerminal('RUNNING')).toBe(false);
  });

  it('lets no status become QUEUED again once created', () => {
    expect(ALLOWED_SOURCES.QUEUED).toEqual([]);
  });
});
