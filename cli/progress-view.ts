import cliProgress from 'cli-progress';
import type { JobView } from '../core/job';
import { duration } from './output';

/** One line about a job: counts, rate, ETA and status. */
export function progressLine(job: JobView): string {
  const progress = job.progress;
  const parts: string[] = [job.status];
  if (progress) {
    parts.push(`${progress.succeeded + progress.failed}/${progress.total} items`, `${progress.succeeded} ok`, `${progress.failed} failed`, `${progress.itemsPerMinute.toFixed(1)}/min`);
    if (progress.etaSeconds !== undefined && progress.pending > 0) parts.push(`ETA ${duration(progress.etaSeconds)}`);
  }
  if (job.error) parts.push(`${job.error.code}: ${job.error.message}`);
  return parts.join(' | ');
}

/**
 * The live view of `watch`: a progress bar (cli-progress) on a terminal, one line per change
 * otherwise (logs, CI), both on stderr.
 */
export class ProgressView {
  private bar: cliProgress.SingleBar | undefined;
  private lastLine = '';

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly interactive = Boolean(process.stderr.isTTY),
  ) {}

  update(job: JobView): void {
    const line = progressLine(job);
    const total = job.progress?.total || 1;
    const done = job.progress ? job.progress.succeeded + job.progress.failed : 0;
    if (!this.interactive) {
      if (line !== this.lastLine) this.stream.write(`${line}\n`);
    } else if (!this.bar) {
      this.bar = new cliProgress.SingleBar(
        { format: '{bar} {percentage}% | {line}', stream: this.stream, hideCursor: true, barsize: 30, clearOnComplete: false, fps: 5 },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, done, { line });
    } else {
      this.bar.setTotal(total);
      this.bar.update(done, { line });
    }
    this.lastLine = line;
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
