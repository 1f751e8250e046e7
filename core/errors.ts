/**
 * Typed domain errors. Each carries the HTTP status it maps to, so the mapping lives in one
 * place (functions/shared/http.ts). Only errors below 500 expose their message to clients.
 */
export abstract class DomainError extends Error {
  abstract readonly statusCode: number;
  abstract readonly code: string;
  constructor(
    message: string,
    readonly details?: unknown,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InputInvalid extends DomainError {
  readonly statusCode = 400;
  readonly code = 'INPUT_INVALID';
}

export class Unauthorized extends DomainError {
  readonly statusCode = 401;
  readonly code = 'UNAUTHORIZED';
}

/** An authenticated caller asking for something only admins may do. */
export class ForbiddenAction extends DomainError {
  readonly statusCode = 403;
  readonly code = 'FORBIDDEN';
}

export class SecretNotFound extends DomainError {
  readonly statusCode = 404;
  readonly code = 'SECRET_NOT_FOUND';
  constructor(name: string) {
    super(`There are no credentials named ${name}`);
  }
}

export class JobNotFound extends DomainError {
  readonly statusCode = 404;
  readonly code = 'JOB_NOT_FOUND';
  constructor(jobId: string) {
    super(`Job ${jobId} does not exist`);
  }
}

export class ScheduleNotFound extends DomainError {
  readonly statusCode = 404;
  readonly code = 'SCHEDULE_NOT_FOUND';
  constructor(scheduleId: string) {
    super(`Schedule ${scheduleId} does not exist`);
  }
}

export class IllegalTransition extends DomainError {
  readonly statusCode = 409;
  readonly code = 'ILLEGAL_TRANSITION';
}

/** POST /jobs/{jobId}/retry on a job that is still running or has nothing left to retry. */
export class RetryNotPossible extends DomainError {
  readonly statusCode = 409;
  readonly code = 'RETRY_NOT_POSSIBLE';
}

/** Something only a finished job has (its files in one archive) asked of a job still running. */
export class JobNotFinished extends DomainError {
  readonly statusCode = 409;
  readonly code = 'JOB_NOT_FINISHED';
}

export class IdempotencyConflict extends DomainError {
  readonly statusCode = 409;
  readonly code = 'IDEMPOTENCY_CONFLICT';
}

export class PayloadTooLarge extends DomainError {
  readonly statusCode = 413;
  readonly code = 'PAYLOAD_TOO_LARGE';
}

export class UnsupportedMediaType extends DomainError {
  readonly statusCode = 415;
  readonly code = 'UNSUPPORTED_MEDIA_TYPE';
}

/** Raised when a downstream dependency (workflow, storage) refuses work; safe to retry. */
export class ServiceUnavailable extends DomainError {
  readonly statusCode = 503;
  readonly code = 'SERVICE_UNAVAILABLE';
}
