import { describe, expect, it } from 'vitest';
import { readableLogLine } from '../../local/readable-logs';

describe('readable log lines of the local stack', () => {
  it('turns a Powertools JSON line into time, level, message and its own fields', () => {
    const line = JSON.stringify({
      level: 'INFO',
      message: 'item.succeeded',
      timestamp: '2026-12-08T01:02:03.456Z',
      service: 'roboport',
      sampling_rate: 0,
      item: '123456',
      attempt: 1,
      error: { code: 'X' },
    });
    expect(readableLogLine(line)).toBe('01:02:03 INFO  item.succeeded item=123456 attempt=1 error={"code":"X"}');
  });

  it('leaves other lines as they are: plain text, broken JSON, JSON that is not a log line', () => {
    for (const line of ['Roboport is running locally', '{"level": "INFO", "message"', '{"jobId":"x"}', '']) expect(readableLogLine(line)).toBe(line);
  });
});
