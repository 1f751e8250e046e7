/**
 * EventBridge Scheduler's recurring expressions, parsed and evaluated exactly as the service
 * documents them, so the API refuses what AWS would refuse and the local scheduler fires when
 * AWS would. Pure: no I/O.
 *
 *   rate(value unit)   unit minute|minutes|hour|hours|day|days (singular only for 1); the first
 *                      run is at creation, then every interval.
 *   cron(minutes hours day-of-month month day-of-week year)
 *                      day-of-week 1-7 = SUN-SAT; exactly one of day-of-month and day-of-week is `?`;
 *                      day-of-month also takes L and nW, day-of-week L, nL and n#k.
 *
 * Cron runs in the schedule's time zone: a wall time skipped by a daylight-saving change does not
 * run, a repeated one runs once (the earlier).
 */
export type ScheduleExpression = RateExpression | CronExpression;

export interface RateExpression {
  kind: 'rate';
  intervalMinutes: number;
}

export interface CronExpression {
  kind: 'cron';
  minutes: readonly number[];
  hours: readonly number[];
  months: ReadonlySet<number>;
  years: ReadonlySet<number>;
  /** Whether a calendar day runs, from day-of-month or day-of-week (the one that is not `?`). */
  day: DayRule;
}

export type ParseResult = { ok: true; expression: ScheduleExpression } | { ok: false; message: string };

type DayRule = (date: CalendarDate) => boolean;

interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

const MINUTE_MS = 60_000;
const UNIT_MINUTES: Readonly<Record<string, number>> = { minute: 1, hour: 60, day: 1440 };
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const LAST_YEAR = 2199;

export function parseScheduleExpression(text: string): ParseResult {
  const rate = /^rate\((\d+) ([a-z]+)\)$/.exec(text);
  if (rate) return parseRate(Number(rate[1]), rate[2]!);
  const cron = /^cron\((.*)\)$/.exec(text);
  if (cron) return parseCron(cron[1]!.trim().split(/\s+/));
  return { ok: false, message: 'must be cron(minutes hours day-of-month month day-of-week year) or rate(value unit)' };
}

function parseRate(value: number, unit: string): ParseResult {
  const singular = unit.replace(/s$/, '');
  const unitMinutes = UNIT_MINUTES[singular];
  if (unitMinutes === undefined) return { ok: false, message: 'rate unit must be minutes, hours or days' };
  if (!Number.isSafeInteger(value) || value < 1) return { ok: false, message: 'rate value must be a positive integer' };
  if ((value === 1) !== (unit === singular)) {
    return { ok: false, message: `rate unit must be "${singular}" for 1 and "${singular}s" otherwise` };
  }
  return { ok: true, expression: { kind: 'rate', intervalMinutes: value * unitMinutes } };
}

function parseCron(fields: string[]): ParseResult {
  if (fields.length !== 6) return { ok: false, message: `cron needs 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}` };
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields as [string, string, string, string, string, string];
  try {
    if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
      throw new CronFieldError('exactly one of day-of-month and day-of-week must be ?');
    }
    return {
      ok: true,
      expression: {
        kind: 'cron',
        minutes: [...valuesOf(minutes, 'minutes', 0, 59)].sort((a, b) => a - b),
        hours: [...valuesOf(hours, 'hours', 0, 23)].sort((a, b) => a - b),
        months: valuesOf(month, 'month', 1, 12, MONTHS),
        years: valuesOf(year, 'year', 1970, LAST_YEAR),
        day: dayOfMonth === '?' ? dayOfWeekRule(dayOfWeek) : dayOfMonthRule(dayOfMonth),
      },
    };
  } catch (error) {
    if (error instanceof CronFieldError) return { ok: false, message: error.message };
    throw error;
  }
}

class CronFieldError extends Error {}

/** A field of `*`, values, ranges a-b and steps (`*`/n, a/n, a-b/n), comma-separated; names for months and weekdays. */
function valuesOf(field: string, name: string, min: number, max: number, names: readonly string[] = []): Set<number> {
  const values = new Set<number>();
  for (const item of field.split(',')) {
    const match = /^(\*|[A-Z0-9]+(?:-[A-Z0-9]+)?)(?:\/(\d+))?$/.exec(item);
    if (!match) throw new CronFieldError(`${name}: "${item}" is not a value, range or step`);
    const [from, to] = match[1] === '*' ? [min, max] : rangeOf(match[1]!, name, min, max, names);
    const step = match[2] === undefined ? 1 : Number(match[2]);
    if (step < 1) throw new CronFieldError(`${name}: step must be at least 1`);
    // "a/n" means from a to the end of the field in steps of n.
    const end = match[2] !== undefined && !match[1]!.includes('-') ? max : to;
    for (let value = from; value <= end; value += step) values.add(value);
  }
  return values;
}

function rangeOf(text: string, name: string, min: number, max: number, names: readonly string[]): [number, number] {
  const [from, to = from] = text.split('-').map((part) => valueOf(part, name, min, max, names)) as [number, number?];
  if (from > to) throw new CronFieldError(`${name}: range ${text} runs backwards`);
  return [from, to];
}

function valueOf(text: string, name: string, min: number, max: number, names: readonly string[]): number {
  const named = names.indexOf(text);
  const value = named >= 0 ? named + min : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new CronFieldError(`${name}: "${text}" must be ${min}-${max}${names.length ? ` or ${names[0]}-${names[names.length - 1]}` : ''}`);
  }
  return value;
}

/** Day-of-month items: values/ranges/steps, L (last day), nW (weekday nearest to day n). */
function dayOfMonthRule(field: string): DayRule {
  const rules = field.split(',').map((item): DayRule => {
    if (item === 'L') return (date) => date.day === daysInMonth(date);
    const weekday = /^(\d+)W$/.exec(item);
    if (weekday) {
      const target = valueOf(weekday[1]!, 'day-of-month', 1, 31, []);
      return (date) => nearestWeekday(date, target) === date.day;
    }
    const days = valuesOf(item, 'day-of-month', 1, 31);
    return (date) => days.has(date.day);
  });
  return (date) => rules.some((rule) => rule(date));
}

/** Day-of-week items (1-7 = SUN-SAT): values/ranges/steps, L (Saturday), nL (last weekday n of the month), n#k (k-th weekday n). */
function dayOfWeekRule(field: string): DayRule {
  const rules = field.split(',').map((item): DayRule => {
    const weekdayOf = (text: string) => valueOf(text, 'day-of-week', 1, 7, WEEKDAYS);
    if (item === 'L') return (date) => weekday(date) === 7;
    const last = /^([A-Z0-9]+)L$/.exec(item);
    if (last) {
      const target = weekdayOf(last[1]!);
      return (date) => weekday(date) === target && date.day + 7 > daysInMonth(date);
    }
    const nth = /^([A-Z0-9]+)#(\d)$/.exec(item);
    if (nth) {
      const target = weekdayOf(nth[1]!);
      const k = Number(nth[2]);
      if (k < 1 || k > 5) throw new CronFieldError(`day-of-week: "${item}" must name the 1st to 5th weekday of the month`);
      return (date) => weekday(date) === target && Math.ceil(date.day / 7) === k;
    }
    const days = valuesOf(item, 'day-of-week', 1, 7, WEEKDAYS);
    return (date) => days.has(weekday(date));
  });
  return (date) => rules.some((rule) => rule(date));
}

/** 1 = Sunday ... 7 = Saturday, as EventBridge counts. */
function weekday({ year, month, day }: CalendarDate): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;
}

function daysInMonth({ year, month }: CalendarDate): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The weekday nearest to day `target` without leaving the month; undefined when the month is shorter. */
function nearestWeekday(date: CalendarDate, target: number): number | undefined {
  const length = daysInMonth(date);
  if (target > length) return undefined;
  const day = weekday({ ...date, day: target });
  if (day === 7) return target === 1 ? 3 : target - 1;
  if (day === 1) return target === length ? target - 2 : target + 1;
  return target;
}

/**
 * The shortest time between two runs, in minutes. For cron this is decided by the minutes of an
 * hour, and across the hour when two adjacent hours (23 → 0 included) both run.
 */
export function shortestIntervalMinutes(expression: ScheduleExpression): number {
  if (expression.kind === 'rate') return expression.intervalMinutes;
  const { minutes, hours } = expression;
  const gaps = minutes.slice(1).map((minute, i) => minute - minutes[i]!);
  const adjacentHours = hours.some((hour) => hours.includes((hour + 1) % 24));
  if (adjacentHours) gaps.push(60 - minutes[minutes.length - 1]! + minutes[0]!);
  return gaps.length ? Math.min(...gaps) : 24 * 60;
}

/**
 * The first run at or after `from`, or undefined when the expression never runs again.
 * `anchor` is the schedule's start (its creation) for rate expressions.
 */
export function nextRunAt(expression: ScheduleExpression, timeZone: string, from: Date, anchor: Date): Date | undefined {
  if (expression.kind === 'rate') {
    const interval = expression.intervalMinutes * MINUTE_MS;
    const elapsed = from.getTime() - anchor.getTime();
    return new Date(anchor.getTime() + Math.max(0, Math.ceil(elapsed / interval)) * interval);
  }
  return nextCronRun(expression, timeZone, new Date(Math.ceil(from.getTime() / MINUTE_MS) * MINUTE_MS));
}

function nextCronRun(cron: CronExpression, timeZone: string, from: Date): Date | undefined {
  const start = wallClock(from, timeZone);
  let date: CalendarDate = { year: start.year, month: start.month, day: start.day };
  while (date.year <= LAST_YEAR) {
    if (!cron.years.has(date.year)) {
      date = { year: date.year + 1, month: 1, day: 1 };
      continue;
    }
    if (!cron.months.has(date.month)) {
      date = date.month === 12 ? { year: date.year + 1, month: 1, day: 1 } : { ...date, month: date.month + 1, day: 1 };
      continue;
    }
    if (cron.day(date)) {
      for (const hour of cron.hours) {
        for (const minute of cron.minutes) {
          const run = instantOf({ ...date, hour, minute }, timeZone);
          if (run && run >= from) return run;
        }
      }
    }
    date = nextDay(date);
  }
  return undefined;
}

function nextDay(date: CalendarDate): CalendarDate {
  const next = new Date(Date.UTC(date.year, date.month - 1, date.day + 1));
  return { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate() };
}

interface WallTime extends CalendarDate {
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClock(instant: Date, timeZone: string): WallTime {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(instant).map((part) => [part.type, Number(part.value)]));
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute! };
}

/**
 * The instant a wall time names in a time zone: undefined inside a daylight-saving gap, the earlier
 * instant inside an overlap. Offsets a day apart bracket any single transition.
 */
function instantOf(wall: WallTime, timeZone: string): Date | undefined {
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);
  const candidates = [asUtc - offsetAt(asUtc - 86_400_000, timeZone), asUtc - offsetAt(asUtc + 86_400_000, timeZone)]
    .filter((instant) => sameWallTime(wallClock(new Date(instant), timeZone), wall))
    .sort((a, b) => a - b);
  return candidates.length ? new Date(candidates[0]!) : undefined;
}

function offsetAt(instant: number, timeZone: string): number {
  const wall = wallClock(new Date(instant), timeZone);
  return Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute) - Math.floor(instant / MINUTE_MS) * MINUTE_MS;
}

function sameWallTime(a: WallTime, b: WallTime): boolean {
  return a.year === b.year && a.month === b.month && a.day === b.day && a.hour === b.hour && a.minute === b.minute;
}

/**
 * Time zones EventBridge Scheduler accepts: IANA names (links such as Asia/Kolkata included, which
 * Intl.supportedValuesOf leaves out in favour of ICU's canonical names) and UTC. Names are
 * case-sensitive there, while Intl is not: the shape check keeps e.g. "europe/lisbon" out.
 */
export function isSupportedTimeZone(name: string): boolean {
  if (!/^[A-Z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(name)) return false;
  try {
    wallClock(new Date(0), name);
    return true;
  } catch {
    return false;
  }
}
