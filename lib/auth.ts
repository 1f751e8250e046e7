import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { ADMINS_GROUP } from '../core/job';
import { acknowledge } from './nag';

export interface AuthProps {
  readonly removalPolicy: RemovalPolicy;
  /** Prefix of the Cognito domain that serves the OAuth token endpoint; unique per region. */
  readonly domainPrefix: string;
}

/** Members see only their own jobs; the group exists so that administrators can tag customers. */
export const CLIENTS_GROUP = 'clients';

/** Identifier of the resource server whose scopes machine clients are granted. */
export const RESOURCE_SERVER_ID = 'roboport';

/** The machine clients' scopes: GET routes need `read`, every other method `write` (lib/api.ts, the OpenAPI document). */
const MACHINE_SCOPE_NAMES = { read: 'jobs.read', write: 'jobs.write' } as const;
export const MACHINE_SCOPES = { read: `${RESOURCE_SERVER_ID}/${MACHINE_SCOPE_NAMES.read}`, write: `${RESOURCE_SERVER_ID}/${MACHINE_SCOPE_NAMES.write}` } as const;

/**
 * Cognito sign-in. People are created by an administrator (never self-registered), sign in
 * with email and password (SRP, or USER_PASSWORD_AUTH for the CLI) and may add a TOTP second
 * factor. Machines use the client-credentials flow of a confidential app client and receive
 * access tokens with the `roboport/jobs.read` and `roboport/jobs.write` scopes.
 */
export class Auth extends Construct {
  public readonly userPool: cognito.UserPool;
  /** Public client (no secret) of the console and the CLI. */
  public readonly userPoolClient: cognito.UserPoolClient;
  /** Confidential client for machine-to-machine calls (client credentials). */
  public readonly machineClient: cognito.UserPoolClient;
  public readonly domain: cognito.UserPoolDomain;
  /** Full scope names, e.g. `roboport/jobs.read`, as API Gateway's authorizer expects them. */
  public readonly scopes: { readonly read: string; readonly write: string };

  constructor(scope: Construct, id: string, props: AuthProps) {
    super(scope, id);
    this.userPool = new cognito.UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
        passwordHistorySize: 5,
      },
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { otp: true, sms: false },
      // Plus: threat protection blocks sign-ins with compromised credentials or risky patterns
      // ($0.02 per monthly active user, docs/cost-model.md).
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy: props.removalPolicy,
    });
    acknowledge(
      this.userPool,
      'AwsSolutions-COG2',
      'MFA is optional by decision (issue 4): people may add TOTP; machine clients use client credentials, and threat protection covers risky sign-ins.',
    );

    this.userPoolClient = this.userPool.addClient('ApiClient', {
      // SRP keeps passwords off the wire; USER_PASSWORD_AUTH stays for the CLI and the local stack.
      authFlows: { userPassword: true, userSrp: true },
      generateSecret: false,
      preventUserExistenceErrors: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });

    const read = new cognito.ResourceServerScope({ scopeName: MACHINE_SCOPE_NAMES.read, scopeDescription: 'Read jobs, items and artifacts' });
    const write = new cognito.ResourceServerScope({ scopeName: MACHINE_SCOPE_NAMES.write, scopeDescription: 'Submit, cancel and retry jobs' });
    const resourceServer = this.userPool.addResourceServer('ResourceServer', {
      identifier: RESOURCE_SERVER_ID,
      userPoolResourceServerName: 'Roboport API',
      scopes: [read, write],
    });
    this.scopes = MACHINE_SCOPES;
    this.machineClient = this.userPool.addClient('MachineClient', {
      generateSecret: true,
      authFlows: {},
      oAuth: {
        flows: { clientCredentials: true },
        scopes: [cognito.OAuthScope.resourceServer(resourceServer, read), cognito.OAuthScope.resourceServer(resourceServer, write)],
      },
      accessTokenValidity: Duration.hours(1),
    });
    // The token endpoint of the client-credentials flow lives on the user pool's domain.
    this.domain = this.userPool.addDomain('Domain', { cognitoDomain: { domainPrefix: props.domainPrefix } });

    new cognito.UserPoolGroup(this, 'AdminsGroup', {
      userPool: this.userPool,
      groupName: ADMINS_GROUP,
      description: 'Sees and manages every job',
    });
    new cognito.UserPoolGroup(this, 'ClientsGroup', {
      userPool: this.userPool,
      groupName: CLIENTS_GROUP,
      description: 'Customers: see and manage their own jobs',
    });
  }
}
