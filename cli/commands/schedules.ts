import type { Command } from 'commander';
import { contextOf } from '../context';
import { collect, positiveInteger, robotInputOf } from '../input';
import { table } from '../output';

interface ScheduleView {
  scheduleId: string;
  name: string;
  robot: string;
  input: Record<string, unknown>;
  cron: string;
  timezone: string;
  enabled: boolean;
  nextRunAt: string | null;
  createdAt: string;
}

export function addScheduleCommands(program: Command): void {
  const schedules = program.command('schedules').description('recurring jobs: list (default), show, create, delete');

  schedules
    .command('list', { isDefault: true })
    .description('your schedules (admins: everyone\'s)')
    .option('--limit <n>', 'schedules per page (1-100)', positiveInteger('--limit', 100))
    .option('--next-token <token>', 'the page after the one that printed it')
    .action(async (options: { limit?: number; nextToken?: string }, command: Command) => {
      const { api, out } = contextOf(command);
      const listed = await api.get<{ schedules: ScheduleView[]; nextToken?: string }>('/schedules', { limit: options.limit, nextToken: options.nextToken });
      out.result(listed, () => [
        ...(listed.schedules.length
          ? table(['SCHEDULE', 'NAME', 'ROBOT', 'CRON', 'TIME ZONE', 'NEXT RUN'], listed.schedules.map((s) => [s.scheduleId, s.name, s.robot, s.cron, s.timezone, s.enabled ? (s.nextRunAt ?? '') : 'disabled']))
          : ['No schedules.']),
        ...(listed.nextToken ? [`More: roboport schedules --next-token ${listed.nextToken}`] : []),
      ]);
    });

  schedules
    .command('show')
    .argument('<scheduleId>')
    .action(async (scheduleId: string, _options: unknown, command: Command) => {
      const { api, out } = contextOf(command);
      const schedule = await api.get<ScheduleView>(`/schedules/${encodeURIComponent(scheduleId)}`);
      out.result(schedule, () => describe(schedule));
    });

  schedules
    .command('create')
    .description('a job submitted on an EventBridge schedule expression, e.g. "cron(0 6 ? * MON-FRI *)" or "rate(1 hour)"')
    .requiredOption('--name <name>', 'what the schedule is for')
    .requiredOption('-r, --robot <name>', 'the robot')
    .requiredOption('--cron <expression>', 'cron(...) or rate(...)')
    .option('--timezone <iana>', 'the time zone the expression runs in', 'UTC')
    .option('-i, --input <json|@file>', 'robot input as a JSON object, or @file.json')
    .option('-s, --set <name=value>', 'one string input field (repeatable)', collect)
    .option('--callback-url <url>', 'webhook called when each job ends')
    .option('--disabled', 'create it paused')
    .action(async (options: { name: string; robot: string; cron: string; timezone: string; input?: string; set?: string[]; callbackUrl?: string; disabled?: boolean }, command: Command) => {
      const { api, out } = contextOf(command);
      const body = {
        name: options.name,
        robot: options.robot,
        input: robotInputOf(options.input, options.set),
        cron: options.cron,
        timezone: options.timezone,
        enabled: !options.disabled,
        ...(options.callbackUrl ? { callbackUrl: options.callbackUrl } : {}),
      };
      const { body: schedule } = await api.request<ScheduleView>('POST', '/schedules', { body });
      out.result(schedule, () => ['Created:', ...describe(schedule)]);
    });

  schedules
    .command('delete')
    .argument('<scheduleId>')
    .action(async (scheduleId: string, _options: unknown, command: Command) => {
      const { api, out } = contextOf(command);
      await api.request('DELETE', `/schedules/${encodeURIComponent(scheduleId)}`);
      out.result({ scheduleId, deleted: true }, () => `Deleted schedule ${scheduleId}.`);
    });
}

function describe(schedule: ScheduleView): string[] {
  return [
    `Schedule ${schedule.scheduleId} "${schedule.name}": ${schedule.robot} on ${schedule.cron} (${schedule.timezone})`,
    `  ${schedule.enabled ? `next run ${schedule.nextRunAt ?? 'none'}` : 'disabled'}, created ${schedule.createdAt}`,
  ];
}
