import {
  AdminCreateUserCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  InitiateAuthCommand,
  UsernameExistsException,
} from '@aws-sdk/client-cognito-identity-provider';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { pollUntil } from '../../local/emulators/poll';
import { LOCAL_USERS } from '../../local/local-users';
import type { LocalOutputs } from '../../local/stack';
import { responseContract } from './response-contract';

/**
 * A client of the running local stack: Cognito sign-in and JSON calls to the API. Every API
 * response is checked against the OpenAPI document (response-contract.ts).
 */
export class LocalClient {
  private readonly cognito: CognitoIdentityProviderClient;
  private readonly sfn: SFNClient;

  constructor(readonly outputs: LocalOutputs) {
    const local = { region: outputs.Region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    this.cognito = new CognitoIdentityProviderClient({ ...local, endpoint: outputs.CognitoEndpoint });
    this.sfn = new SFNClient({ ...local, endpoint: outputs.StepFunctionsEndpoint });
  }

  async signIn(username: string, password: string): Promise<string> {
    const { AuthenticationResult } = await this.cognito.send(
      new InitiateAuthCommand({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: this.outputs.UserPoolClientId, AuthParameters: { USERNAME: username, PASSWORD: password } }),
    );
    if (!AuthenticationResult?.IdToken) throw new Error(`no id token for ${username}`);
    return AuthenticationResult.IdToken;
  }

  /** Signs in as the seeded user of that group (local/stack.ts LOCAL_USERS). */
  signInSeeded(group: 'clients' | 'admins'): Promise<string> {
    const user = LOCAL_USERS.find((candidate) => candidate.groups.includes(group))!;
    return this.signIn(user.username, user.password);
  }

  /** Creates (once) a user with a permanent password and signs in. */
  async signUpAndIn(username: string, password = 'Test-Passw0rd!'): Promise<string> {
    try {
      await this.cognito.send(new AdminCreateUserCommand({ UserPoolId: this.outputs.UserPoolId, Username: username, MessageAction: 'SUPPRESS' }));
    } catch (error) {
      if (!(error instanceof UsernameExistsException)) throw error;
    }
    await this.cognito.send(new AdminSetUserPasswordCommand({ UserPoolId: this.outputs.UserPoolId, Username: username, Password: password, Permanent: true }));
    return this.signIn(username, password);
  }

  async api(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
    const response = await fetch(`${this.outputs.ApiUrl}${path}`, {
      method,
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
    });
    return checked(method, path, await parsed(response));
  }

  /** A multipart/form-data POST (a spreadsheet upload), built with the fetch FormData. */
  async upload(path: string, options: { token: string; fields: Record<string, string>; file: { bytes: Uint8Array; filename: string }; headers?: Record<string, string> }) {
    const form = new FormData();
    for (const [name, value] of Object.entries(options.fields)) form.append(name, value);
    form.append('file', new Blob([new Uint8Array(options.file.bytes)]), options.file.filename);
    const response = await fetch(`${this.outputs.ApiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${options.token}`, ...options.headers }, body: form });
    return checked('POST', path, await parsed(response));
  }

  /** Waits until the job's workflow execution has ended (DescribeExecution on the local endpoint); returns its status. */
  async waitForExecutionEnd(jobId: string): Promise<string> {
    const executionArn = `${this.outputs.StateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
    return pollUntil(
      async () => {
        const { status } = await this.sfn.send(new DescribeExecutionCommand({ executionArn }));
        return status && status !== 'RUNNING' ? status : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, description: `the execution of job ${jobId} to end` },
    );
  }

  /** Polls the job until `done` holds, within a bounded time. */
  async waitForJob(token: string, jobId: string, done: (job: any) => boolean, timeoutMs = 60_000): Promise<any> {
    let last: any;
    const check = async () => {
      last = (await this.api('GET', `/jobs/${jobId}`, { token })).body;
      return done(last) ? last : undefined;
    };
    return pollUntil(check, { timeoutMs, intervalMs: 200, description: `job ${jobId}` }).catch((error: Error) => {
      throw new Error(`${error.message}; last seen: ${JSON.stringify(last)}`);
    });
  }
}

function checked<T extends { status: number; body: unknown }>(method: string, path: string, response: T): T {
  responseContract.check(method, path, response.status, response.body);
  return response;
}

async function parsed(response: Response) {
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as any) : undefined };
}

export const isTerminal = (job: { status?: string }) => ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED', 'TIMED_OUT'].includes(job.status ?? '');
