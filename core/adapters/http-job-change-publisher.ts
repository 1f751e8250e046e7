import { ENV } from '../env-names';
import type { JobChangeListener } from '../job-events';
import type { Job } from '../job';

/** Header carrying the key that lets a process publish job changes to the local events server. */
export const PUBLISH_KEY_HEADER = 'x-roboport-publish-key';
/** A write never waits longer than this on the events server. */
const PUBLISH_TIMEOUT_MS = 2_000;

/**
 * The local stack's stand-in for the jobs table's stream: a job store told of every write posts the
 * job to the local events server (local/events-server.ts). The write waits for the post, so the events
 * of one job leave in the order of its writes; a failed post is reported and never fails the write.
 * Undefined where JOB_EVENTS_PUBLISH_URL is unset (AWS, where the stream does this).
 */
export function jobChangePublisherFromEnv(env: NodeJS.ProcessEnv = process.env, onError: (error: unknown) => void = reportOnce()): JobChangeListener | undefined {
  const url = env[ENV.jobEventsPublishUrl];
  if (!url) return undefined;
  const key = env[ENV.jobEventsPublishKey];
  if (!key) throw new Error(`${ENV.jobEventsPublishKey} must be set with ${ENV.jobEventsPublishUrl}`);
  return async (job: Job) => {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [PUBLISH_KEY_HEADER]: key },
        body: JSON.stringify(job),
        signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`POST ${url} answered ${response.status}`);
    } catch (error) {
      onError(error);
    }
  };
}

/** One line on stderr for the first failure, so a stopped events server does not flood the log. */
function reportOnce(): (error: unknown) => void {
  let reported = false;
  return (error) => {
    if (reported) return;
    reported = true;
    process.stderr.write(`job events: publishing failed (${String(error)}); live events may miss changes\n`);
  };
}
