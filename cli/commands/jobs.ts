import type { SpreadsheetPreview } from '../../core/intake';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { contextOf, type Context } from '../context';
import { downloadJob } from '../download';
import { CliError, EXIT, usageError } from '../exit-codes';
import { followJob } from '../follow-job';
import { collect, positiveInteger, robotInputOf } from '../input';
import { isTerminal, type JobView } from '../../core/job';
import { bytes, table } from '../output';
import { progressLine, ProgressView } from '../progress-view';
import { confirm } from '../prompt';

interface WatchOptions {
  pollInterval: number;
  events: boolean;
}

interface SubmitOptions extends WatchOptions {
  robot: string;
  input?: string;
  set?: string[];
  file?: string;
  column?: string;
  callbackUrl?: string;
  timeoutSeconds?: number;
  idempotencyKey?: string;
  yes?: boolean;
  watch?: boolean;
}


/** Items of a preview shown before the confirmation. */
const PREVIEW_ITEMS = 5;
/** Pages `jobs --all` follows at most (100 jobs each). */
const MAX_LIST_PAGES = 50;

export function addJobCommands(program: Command): void {
  program
    .command('robots')
    .description('the robots you can submit jobs to, with their input schema (--json)')
    .action(async (_options: unknown, command: Command) => {
      const { api, out } = contextOf(command);
      const { robots } = await api.get<{ robots: Array<{ name: string; version: string; description: string; inputSchema: unknown }> }>('/robots');
      out.result(robots, () => table(['ROBOT', 'VERSION', 'DESCRIPTION'], robots.map((robot) => [robot.name, robot.version, robot.description])));
    });

  withWatchOptions(
    program
      .command('submit')
      .description('submit a job: JSON input, or a spreadsheet (.xlsx/.csv) whose column fills the robot\'s items, previewed first and confirmed')
      .requiredOption('-r, --robot <name>', 'the robot (see `roboport robots`)')
      .option('-i, --input <json|@file>', 'robot input as a JSON object, or @file.json')
      .option('-s, --set <name=value>', 'one string input field (repeatable; applied after --input)', collect)
      .option('-f, --file <sheet>', 'a .xlsx or .csv whose column becomes the items (dry-run preview, then a confirmation)')
      .option('-c, --column <header|letter>', 'the sheet column with the items (default: a header like "NOTA FISCAL" or "invoice")')
      .option('--callback-url <url>', 'webhook called when the job ends')
      .option('--timeout-seconds <n>', 'robot time one attempt may take (JSON submissions)', positiveInteger('--timeout-seconds'))
      .option('--idempotency-key <key>', 'same key, same job: safe to run again (default: a new key per run)')
      .option('-y, --yes', 'submit the spreadsheet without asking')
      .option('-w, --watch', 'then watch the job to its end (exit codes as `watch`)'),
  ).action(async (options: SubmitOptions, command: Command) => {
    const context = contextOf(command);
    const job = options.file ? await submitSpreadsheet(context, options) : await submitJson(context, options);
    if (!job) return;
    context.store.rememberJob(job.jobId);
    if (options.watch) return watchToEnd(context, job.jobId, options);
    context.out.result(job, () => [`Submitted job ${job.jobId} (${job.robot}): ${job.status}.`, `Follow it: roboport watch ${job.jobId}`]);
  });

  program
    .command('jobs')
    .description('your jobs, newest first (admins: everyone\'s)')
    .option('--status <status>', 'QUEUED, RUNNING, SUCCEEDED, PARTIAL, FAILED, CANCELLED or TIMED_OUT')
    .option('--robot <name>', 'only this robot\'s jobs')
    .option('--owner <sub>', 'only this owner\'s jobs (admins)')
    .option('--created-from <iso>', 'created at or after (ISO date-time)')
    .option('--created-to <iso>', 'created before (ISO date-time)')
    .option('--limit <n>', 'jobs per page (1-100)', positiveInteger('--limit', 100))
    .option('--next-token <token>', 'the page after the one that printed it')
    .option('--all', `every page (at most ${MAX_LIST_PAGES})`)
    .action(async (options: { status?: string; robot?: string; owner?: string; createdFrom?: string; createdTo?: string; limit?: number; nextToken?: string; all?: boolean }, command: Command) => {
      const { api, out } = contextOf(command);
      const query = { status: options.status?.toUpperCase(), robot: options.robot, owner: options.owner, createdFrom: options.createdFrom, createdTo: options.createdTo, limit: options.limit };
      const jobs: JobView[] = [];
      let nextToken = options.nextToken;
      for (let page = 0; page < (options.all ? MAX_LIST_PAGES : 1); page++) {
        const listed = await api.get<{ jobs: JobView[]; nextToken?: string }>('/jobs', { ...query, nextToken });
        jobs.push(...listed.jobs);
        nextToken = listed.nextToken;
        if (!nextToken) break;
      }
      out.result({ jobs, ...(nextToken ? { nextToken } : {}) }, () => [
        ...(jobs.length ? table(['JOB', 'ROBOT', 'STATUS', 'ITEMS', 'CREATED'], jobs.map((job) => [job.jobId, job.robot, job.status, itemCounts(job), job.createdAt])) : ['No jobs.']),
        ...(nextToken ? [`More: roboport jobs --next-token ${nextToken}`] : []),
      ]);
    });

  program
    .command('job')
    .description('one job: status, progress, error and artifacts')
    .argument('[jobId]', 'default: the job last submitted from here')
    .action(async (jobId: string | undefined, _options: unknown, command: Command) => {
      const context = contextOf(command);
      const job = await context.api.get<JobView>(`/jobs/${encodeURIComponent(jobIdOf(context, jobId))}`);
      context.out.result(job, () => describeJob(job));
    });

  withWatchOptions(
    program
      .command('watch')
      .description('follow a job to its end with a live progress bar (counts, rate, ETA); exit 0 SUCCEEDED, 6 PARTIAL, 1 FAILED/CANCELLED/TIMED_OUT')
      .argument('[jobId]', 'default: the job last submitted from here'),
  ).action(async (jobId: string | undefined, options: WatchOptions, command: Command) => {
    const context = contextOf(command);
    await watchToEnd(context, jobIdOf(context, jobId), options);
  });

  program
    .command('download')
    .description('every artifact of a job and of its items into a folder, each verified against its sha256; files already there with the right hash are skipped (resumable)')
    .argument('[jobId]', 'default: the job last submitted from here')
    .option('-d, --dir <folder>', 'where to put the files (default: ./<jobId>)')
    .option('--no-evidence', 'leave out failed items\' evidence (screenshot, HTML, trace)')
    .option('--concurrency <n>', 'files fetched at once', positiveInteger('--concurrency', 16), 4)
    .action(async (jobId: string | undefined, options: { dir?: string; evidence: boolean; concurrency: number }, command: Command) => {
      const context = contextOf(command);
      const id = jobIdOf(context, jobId);
      const dir = path.resolve(options.dir ?? id);
      const files = await downloadJob(context.api, id, dir, {
        evidence: options.evidence,
        concurrency: options.concurrency,
        onFile: (file) => context.out.json || context.out.note(`${file.outcome === 'present' ? 'present   ' : 'downloaded'} ${file.path} (${bytes(file.size)}, sha256 ok)`),
      });
      const downloaded = files.filter((file) => file.outcome === 'downloaded');
      context.out.result({ jobId: id, dir, files }, () =>
        `${files.length} file(s) in ${dir}: ${downloaded.length} downloaded (${bytes(downloaded.reduce((sum, file) => sum + file.size, 0))}), ${files.length - downloaded.length} already present; every sha256 verified.`,
      );
    });

  program
    .command('cancel')
    .description('cancel a QUEUED or RUNNING job')
    .argument('<jobId>')
    .action(async (jobId: string, _options: unknown, command: Command) => {
      const { api, out } = contextOf(command);
      const { body: job } = await api.request<JobView>('POST', `/jobs/${encodeURIComponent(jobId)}/cancel`);
      out.result(job, () => `Job ${job.jobId}: ${job.status}.`);
    });

  withWatchOptions(
    program
      .command('retry')
      .description('a new job for the items that did not succeed')
      .argument('<jobId>')
      .option('--items <which>', '"failed" (every item that did not succeed, the default) or "technical" (only technical failures)')
      .option('--idempotency-key <key>', 'same key, same retry job')
      .option('-w, --watch', 'then watch the new job to its end'),
  ).action(async (jobId: string, options: WatchOptions & { items?: string; idempotencyKey?: string; watch?: boolean }, command: Command) => {
    const context = contextOf(command);
    if (options.items && !['failed', 'technical'].includes(options.items)) throw usageError('--items must be "failed" or "technical"');
    const { body: job } = await context.api.request<JobView>('POST', `/jobs/${encodeURIComponent(jobId)}/retry`, {
      headers: { 'idempotency-key': options.idempotencyKey ?? randomUUID() },
      body: { scope: options.items === 'technical' ? 'technical' : 'all-failed' },
    });
    context.store.rememberJob(job.jobId);
    if (options.watch) return watchToEnd(context, job.jobId, options);
    context.out.result(job, () => `Retry job ${job.jobId} of ${jobId}: ${job.status}.`);
  });
}

function withWatchOptions(command: Command): Command {
  return command
    .option('--poll-interval <seconds>', 'seconds between polls when there is no live event stream', positiveInteger('--poll-interval', 60), 2)
    .option('--no-events', 'poll GET /jobs/{jobId} instead of the live event stream');
}

async function submitJson({ api }: Context, options: SubmitOptions): Promise<JobView> {
  if (options.column) throw usageError('--column needs --file');
  const body = {
    robot: options.robot,
    input: robotInputOf(options.input, options.set),
    ...(options.callbackUrl ? { callbackUrl: options.callbackUrl } : {}),
    ...(options.timeoutSeconds ? { timeoutSeconds: options.timeoutSeconds } : {}),
  };
  const { body: job } = await api.request<JobView>('POST', '/jobs', { body, headers: { 'idempotency-key': options.idempotencyKey ?? randomUUID() } });
  return job;
}

/** Dry run first: what the sheet becomes; then, confirmed, the same upload for real. */
async function submitSpreadsheet({ api, out }: Context, options: SubmitOptions): Promise<JobView | undefined> {
  if (options.timeoutSeconds) throw usageError('--timeout-seconds applies to JSON submissions only');
  const file = options.file!;
  let sheet: Buffer;
  try {
    sheet = readFileSync(file);
  } catch (error) {
    throw usageError(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const form = () => {
    const data = new FormData();
    data.append('robot', options.robot);
    data.append('input', JSON.stringify(robotInputOf(options.input, options.set)));
    if (options.column) data.append('column', options.column);
    if (options.callbackUrl) data.append('callbackUrl', options.callbackUrl);
    data.append('file', new Blob([new Uint8Array(sheet)]), path.basename(file));
    return data;
  };
  const { body: preview } = await api.request<SpreadsheetPreview>('POST', '/jobs', { query: { dryRun: 'true' }, form: form() });
  if (!out.json || preview.errors.length) out.note(describePreview(file, preview).join('\n'));
  if (preview.errors.length) throw new CliError(`${file} has ${preview.errors.length} invalid row(s): fix them and submit again`, EXIT.rejected);
  if (preview.count === 0) throw new CliError(`${file} has no items in column ${preview.column.letter}`, EXIT.rejected);
  if (!options.yes && !(await confirm(`Submit a ${options.robot} job of ${preview.count} item(s)?`, 'pass --yes to submit without asking'))) {
    out.note('Nothing submitted.');
    throw new CliError('Not confirmed', EXIT.declined);
  }
  const { body: job } = await api.request<JobView>('POST', '/jobs', { form: form(), headers: { 'idempotency-key': options.idempotencyKey ?? randomUUID() } });
  return job;
}

async function watchToEnd({ api, out }: Context, jobId: string, options: WatchOptions): Promise<void> {
  const view = new ProgressView();
  const stopView = () => view.stop();
  process.once('SIGINT', stopView);
  let job: JobView;
  try {
    if (!out.json) out.note(`Watching job ${jobId} (Ctrl-C stops watching, not the job).`);
    job = await followJob(api, jobId, { events: options.events, pollIntervalMs: options.pollInterval * 1000, onUpdate: (update) => out.json || view.update(update), note: (message) => out.json || out.note(message) });
  } finally {
    view.stop();
    process.off('SIGINT', stopView);
  }
  out.result(job, () => describeJob(job));
  process.exitCode = exitCodeOfJob(job);
}

export function exitCodeOfJob(job: Pick<JobView, 'status'>): number {
  if (!isTerminal(job.status)) throw new CliError(`Job is still ${job.status}`, EXIT.unavailable);
  if (job.status === 'SUCCEEDED') return EXIT.ok;
  if (job.status === 'PARTIAL') return EXIT.jobPartial;
  return EXIT.jobFailed;
}

function jobIdOf({ store }: Context, jobId: string | undefined): string {
  const id = jobId ?? store.lastJobId();
  if (!id) throw usageError('Name a job id (no job was submitted from here yet)');
  return id;
}

function describePreview(file: string, preview: SpreadsheetPreview): string[] {
  const column = preview.column.header ? `"${preview.column.header}" (column ${preview.column.letter})` : `column ${preview.column.letter}`;
  const shown = preview.items.slice(0, PREVIEW_ITEMS).map(String).join(', ');
  return [
    `Preview of ${file} for ${preview.robot}:`,
    `  column        ${column}`,
    `  items         ${preview.count}${preview.count ? `: ${shown}${preview.count > PREVIEW_ITEMS ? ', ...' : ''}` : ''}`,
    `  dropped       ${preview.duplicatesDropped} duplicate(s), ${preview.blanksDropped} blank(s)`,
    ...(preview.errors.length ? ['  invalid rows', ...preview.errors.map((error) => `    row ${error.row}: ${JSON.stringify(error.value)} ${error.message}`)] : []),
  ];
}

function describeJob(job: JobView): string[] {
  return [
    `Job ${job.jobId} (${job.robot}): ${progressLine(job)}`,
    `  created ${job.createdAt}${job.startedAt ? `, started ${job.startedAt}` : ''}, updated ${job.updatedAt}, attempts ${job.attempts}${job.retryOf ? `, retry of ${job.retryOf}` : ''}`,
    ...(job.artifacts ?? []).map((artifact) => `  artifact ${artifact.name} (${bytes(artifact.size)}, sha256 ${artifact.sha256.slice(0, 12)}…)`),
  ];
}

function itemCounts(job: JobView): string {
  return job.progress ? `${job.progress.succeeded + job.progress.failed}/${job.progress.total}` : '';
}
