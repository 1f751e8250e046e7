/**
 * What `roboport` exits with, for scripts (README "CLI"). A job that ends badly is 1 only for
 * the commands that wait for it (watch, submit --watch, retry --watch).
 */
export const EXIT = {
  ok: 0,
  /** The watched job ended FAILED, CANCELLED or TIMED_OUT. */
  jobFailed: 1,
  /** Bad flags or arguments, an unreadable file, invalid JSON, a confirmation that cannot be asked. */
  usage: 2,
  /** Not signed in, a session that cannot be refreshed, wrong credentials, 401/403. */
  auth: 3,
  /** 404: no such job, schedule or secret (or not yours). */
  notFound: 4,
  /** The API refused the request: 400, 409, 413, 415 (its message is shown). */
  rejected: 5,
  /** The watched job ended PARTIAL: some items failed. */
  jobPartial: 6,
  /** A downloaded file does not match its sha256. */
  verification: 7,
  /** The stack cannot be reached or answered 5xx; no outputs file. */
  unavailable: 8,
  /** The confirmation was declined: nothing was submitted. */
  declined: 9,
  /** Ctrl-C. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one readable message and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);
