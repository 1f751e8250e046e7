import { AwsApiError } from '../aws-json-server';

/**
 * An error the Step Functions API returns to its caller. `type` is the AWS error code
 * (e.g. TaskTimedOut); @aws-sdk/client-sfn turns it into the exception class of that name.
 */
export class SfnApiError extends AwsApiError {}

/**
 * A task failure as the state machine sees it: aws-local-stepfunctions matches Retry/Catch
 * `ErrorEquals` against `name` and puts `message` into the Catch result's `Cause`.
 */
export class TaskFailure extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}
