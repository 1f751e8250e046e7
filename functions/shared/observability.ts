import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Job } from '../../core/job';

/**
 * Powertools for every Lambda: JSON logs with the request context and CloudWatch metrics in EMF.
 * One instance each per process; the service name comes from POWERTOOLS_SERVICE_NAME (set per
 * function by lib/roboport-function.ts). The local stack disables metrics output.
 *
 * Traces are Lambda's own (active tracing: a segment per invocation, its initialization included)
 * without Powertools Tracer: the X-Ray SDK it wraps costs every function ~105 KB of bundle
 * (aws-xray-sdk-core, semver, cls-hooked) and an async hook on every promise, for per-call
 * subsegments of SDK requests that the function's duration, logs and metrics already account for.
 */
export const logger = new Logger({ serviceName: 'roboport' });
export const metrics = new Metrics({ namespace: 'Roboport', serviceName: 'roboport' });

/** Middlewares shared by every handler, outermost first. */
export function observability<TEvent, TResult>(): Array<middy.MiddlewareObj<TEvent, TResult>> {
  return [
    injectLambdaContext(logger, { resetKeys: true }),
    publishMetrics(),
  ] as Array<middy.MiddlewareObj<TEvent, TResult>>;
}

/**
 * Publishes what a request added to `metrics`, if anything. Powertools' own logMetrics flushes
 * after every request, and an empty flush logs a "No application metrics to publish" warning:
 * one per request of every route that counts nothing (most of them), in CloudWatch and locally.
 */
function publishMetrics(): middy.MiddlewareObj {
  const publish = async () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return { after: publish, onError: publish };
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
