import { describe, expect, it } from 'vitest';
import {
  isSupportedTimeZone,
  nextRunAt,
  parseScheduleExpression,
  shortestIntervalMinutes,
  type ScheduleExpression,
} from '../../core/schedule-expression';

function parsed(text: string): ScheduleExpression {
  const result = parseScheduleExpression(text);
  if (!result.ok) throw new Error(`${text}: ${result.message}`);
  return result.expression;
}

const errorOf = (text: string) => {
  const result = parseScheduleExpression(text);
  return result.ok ? undefined : result.message;
};

/** The next `count` runs from `from`, as ISO strings. */
function runs(text: string, timeZone: string, from: string, count = 3, anchor = from): string[] {
  const expression = parsed(text);
  const out: string[] = [];
  let cursor = new Date(from);
  for (let i = 0; i < count; i++) {
    const next = nextRunAt(expression, timeZone, cursor, new Date(anchor));
    if (!next) break;
    out.push(next.toISOString());
    cursor = new Date(next.getTime() + 1);
  }
  return out;
}

describe('parseScheduleExpression', () => {
  it.each([
    'cron(0 8 ? * MON-FRI *)',
    'cron(0/15 * * * ? *)',
    'cron(*/5 9-17 ? * 2-6 2026-2030)',
    'cron(0 12 L * ? *)',
    'cron(0 9 15W * ? *)',
    'cron(0 10 ? * 6L *)',
    'cron(0 10 ? * MON#1 *)',
    'cron(0 0 1 JAN,JUL ? *)',
    'rate(1 minute)',
    'rate(5 minutes)',
    'rate(1 hour)',
    'rate(2 days)',
  ])('accepts %s', (text) => {
    expect(errorOf(text)).toBeUndefined();
  });

  it.each([
    ['cron(0 8 * * MON-FRI *)', 'exactly one of day-of-month and day-of-week must be ?'],
    ['cron(0 8 ? * ? *)', 'exactly one of day-of-month and day-of-week must be ?'],
    ['cron(0 8 * * ?)', 'cron needs 6 fields'],
    ['cron(60 8 * * ? *)', 'minutes: "60" must be 0-59'],
    ['cron(0 24 * * ? *)', 'hours: "24" must be 0-23'],
    ['cron(0 8 ? * 0 *)', 'day-of-week: "0" must be 1-7 or SUN-SAT'],
    ['cron(0 8 ? * FRI-MON *)', 'day-of-week: range FRI-MON runs backwards'],
    ['cron(0 8 32 * ? *)', 'day-of-month: "32" must be 1-31'],
    ['cron(0 8 ? * MON#6 *)', 'day-of-week: "MON#6" must name the 1st to 5th weekday'],
    ['cron(0 8 * * ? 1969)', 'year: "1969" must be 1970-2199'],
    ['cron(H 8 * * ? *)', 'minutes: "H" must be 0-59'],
    ['rate(1 minutes)', 'rate unit must be "minute" for 1 and "minutes" otherwise'],
    ['rate(5 minute)', 'rate unit must be "minute" for 1 and "minutes" otherwise'],
    ['rate(0 minutes)', 'rate value must be a positive integer'],
    ['rate(5 seconds)', 'rate unit must be minutes, hours or days'],
    ['0 8 * * *', 'must be cron('],
    ['at(2026-01-01T00:00:00)', 'must be cron('],
  ])('refuses %s', (text, message) => {
    expect(errorOf(text)).toContain(message);
  });
});

describe('shortestIntervalMinutes', () => {
  it.each([
    ['rate(1 minute)', 1],
    ['rate(2 hours)', 120],
    ['cron(0/15 * * * ? *)', 15],
    ['cron(* * * * ? *)', 1],
    ['cron(0 8 ? * MON-FRI *)', 24 * 60],
    // Across the hour: 8:58 then 9:00.
    ['cron(0,58 8-9 * * ? *)', 2],
    // Across midnight: 23:59 then 0:00.
    ['cron(59,0 0,23 * * ? *)', 1],
    // 8:58 and 20:00 never follow each other closely.
    ['cron(0,58 8,20 * * ? *)', 58],
  ])('%s runs at most every %i minutes', (text, minutes) => {
    expect(shortestIntervalMinutes(parsed(text))).toBe(minutes);
  });
});

describe('nextRunAt', () => {
  it('evaluates cron in the schedule’s time zone (Lisbon summer time is UTC+1)', () => {
    // Friday 2026-07-03 08:30 in Lisbon: today's run has passed, the next is Monday.
    expect(runs('cron(0 8 ? * MON-FRI *)', 'Europe/Lisbon', '2026-07-03T07:30:00Z')).toEqual([
      '2026-07-06T07:00:00.000Z',
      '2026-07-07T07:00:00.000Z',
      '2026-07-08T07:00:00.000Z',
    ]);
  });

  it('counts day-of-week 1-7 from Sunday', () => {
    // 2026-07-05 is a Sunday.
    expect(runs('cron(30 6 ? * 1 *)', 'UTC', '2026-07-01T00:00:00Z', 2)).toEqual(['2026-07-05T06:30:00.000Z', '2026-07-12T06:30:00.000Z']);
  });

  it('runs in New York at 9:00 local across the March DST change', () => {
    expect(runs('cron(0 9 * * ? *)', 'America/New_York', '2026-03-07T00:00:00Z')).toEqual([
      '2026-03-07T14:00:00.000Z',
      '2026-03-08T13:00:00.000Z',
      '2026-03-09T13:00:00.000Z',
    ]);
  });

  it('skips a wall time that daylight saving skips, and runs a repeated one once', () => {
    // Lisbon: 2026-03-29 01:00 jumps to 02:00; 2026-10-25 02:00 falls back to 01:00.
    expect(runs('cron(30 1 * * ? *)', 'Europe/Lisbon', '2026-03-28T00:00:00Z')).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-30T00:30:00.000Z',
      '2026-03-31T00:30:00.000Z',
    ]);
    expect(runs('cron(30 1 * * ? *)', 'Europe/Lisbon', '2026-10-24T12:00:00Z')).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
      '2026-10-27T01:30:00.000Z',
    ]);
  });

  it('handles L, nW, nL and n#k', () => {
    expect(runs('cron(0 12 L * ? *)', 'UTC', '2026-02-01T00:00:00Z', 2)).toEqual(['2026-02-28T12:00:00.000Z', '2026-03-31T12:00:00.000Z']);
    // 2026-08-15 is a Saturday → Friday the 14th; 2026-11-01 is a Sunday → Monday the 2nd.
    expect(runs('cron(0 9 15W * ? *)', 'UTC', '2026-08-01T00:00:00Z', 1)).toEqual(['2026-08-14T09:00:00.000Z']);
    expect(runs('cron(0 9 1W * ? *)', 'UTC', '2026-11-01T00:00:00Z', 1)).toEqual(['2026-11-02T09:00:00.000Z']);
    // Last Friday (6L) of July 2026 is the 31st; first Monday (2#1) of June 2026 is the 1st.
    expect(runs('cron(0 10 ? * 6L *)', 'UTC', '2026-07-01T00:00:00Z', 1)).toEqual(['2026-07-31T10:00:00.000Z']);
    expect(runs('cron(0 10 ? * MON#1 *)', 'UTC', '2026-06-01T00:00:00Z', 1)).toEqual(['2026-06-01T10:00:00.000Z']);
  });

  it('honours the year field and ends after the last year', () => {
    expect(runs('cron(0 0 1 1 ? 2027-2028)', 'UTC', '2026-05-01T00:00:00Z')).toEqual(['2027-01-01T00:00:00.000Z', '2028-01-01T00:00:00.000Z']);
  });

  it('runs a rate first at its anchor (creation), then every interval', () => {
    expect(runs('rate(5 minutes)', 'UTC', '2026-01-01T10:00:30Z', 3)).toEqual([
      '2026-01-01T10:00:30.000Z',
      '2026-01-01T10:05:30.000Z',
      '2026-01-01T10:10:30.000Z',
    ]);
    expect(nextRunAt(parsed('rate(1 hour)'), 'UTC', new Date('2026-01-01T12:30:00Z'), new Date('2026-01-01T10:00:00Z'))?.toISOString()).toBe(
      '2026-01-01T13:00:00.000Z',
    );
  });
});

describe('isSupportedTimeZone', () => {
  it.each(['Europe/Lisbon', 'UTC', 'Asia/Kolkata', 'Europe/Kyiv', 'America/Argentina/Buenos_Aires', 'Etc/GMT+1'])('accepts %s', (name) => {
    expect(isSupportedTimeZone(name)).toBe(true);
  });

  it.each(['Mars/Olympus', '+01:00', 'europe/lisbon', '', 'Europe/Lisbon/../x'])('refuses %j', (name) => {
    expect(isSupportedTimeZone(name)).toBe(false);
  });
});
