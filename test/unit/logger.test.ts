import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../core/logger';

function captured(run: () => void): Array<Record<string, unknown>> {
  const lines: string[] = [];
  const capture = (line: unknown) => (lines.push(String(line)), true);
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  run();
  vi.restoreAllMocks();
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

afterEach(() => vi.restoreAllMocks());

describe('logger', () => {
  it('writes Powertools JSON lines with the base fields of every child', () => {
    const [line] = captured(() => createLogger({ component: 'worker' }).child({ jobId: 'job-1', robot: 'web-snapshot' }).info('job.started', { attempt: 2 }));

    expect(line).toMatchObject({ level: 'INFO', message: 'job.started', component: 'worker', jobId: 'job-1', robot: 'web-snapshot', attempt: 2 });
    expect(line).toHaveProperty('timestamp');
  });

  it('masks secret-looking keys and every registered secret value, wherever it appears', () => {
    const secrets = new Set<string>();
    const log = createLogger({}).child({ jobId: 'job-1' }, secrets);
    secrets.add('s3cr3t-value');

    const lines = captured(() => {
      log.warn('login with s3cr3t-value failed', { password: 'plain', detail: { nested: ['x s3cr3t-value y'] }, error: new Error('s3cr3t-value rejected') });
    });

    const text = JSON.stringify(lines);
    expect(text).not.toContain('s3cr3t-value');
    expect(text).not.toContain('plain');
    expect(lines[0]).toMatchObject({ message: 'login with *** failed', password: '***', detail: { nested: ['x *** y'] } });
  });
});
