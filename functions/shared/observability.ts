import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Job } from '../../core/job';

/**
 * Powertools for every Lambda: JSON logs with the request context, CloudWatch metrics in EMF
 * and X-Ray traces. One instance each per process; the service name comes from
 * POWERTOOLS_SERVICE_NAME (set per function by lib/roboport-function.ts).
 * The tracer switches itself off outside Lambda; the local stack disables metrics output.
 */
export const logger = new Logger({ serviceName: 'roboport' });
export const metrics = new Metrics({ namespace: 'Roboport', serviceName: 'roboport' });
export const tracer = new Tracer({ serviceName: 'roboport' });

/** Middlewares shared by every handler, outermost first. */
export function observability<TEvent, TResult>(): Array<middy.MiddlewareObj<TEvent, TResult>> {
  return [
    captureLambdaHandler(tracer, { captureResponse: false }),
    injectLambdaContext(logger, { resetKeys: true }),
    logMetrics(metrics),
  ] as Array<middy.MiddlewareObj<TEvent, TResult>>;
}

/** A Lambda that is not behind the API (workflow steps, schedulers): observability only. */
export function withObservability<TEvent, TResult>(handler: (event: TEvent) => Promise<TResult>) {
  return middy<TEvent, TResult>().use(observability<TEvent, TResult>()).handler(handler);
}

/**
 * Counts a settled job per final status (a low-cardinality dimension); a TIMED_OUT job also per
 * bound that ended it (JOB_TIMEOUT: its own; NEVER_REPORTED: the queue dropped its message).
 */
export function countSettledJob(job: Pick<Job, 'status' | 'error'>): void {
  metrics.singleMetric().addDimension('status', job.status).addMetric('JobsSettled', MetricUnit.Count, 1);
  if (job.status === 'TIMED_OUT') {
    metrics.singleMetric().addDimension('bound', job.error?.code ?? 'UNKNOWN').addMetric('JobsTimedOut', MetricUnit.Count, 1);
  }
}
