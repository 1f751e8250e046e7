import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { JOBS_TABLE } from '../../core/table-schema';
import { Auth } from '../../lib/auth';
import { Data } from '../../lib/data';
import { bareStack, logicalIdOf } from './support/cdk';

/** A region: DynamoDB tables take the stage key only in a stack with a known region. */
const REGION = 'eu-west-1';

function synth(removalPolicy: RemovalPolicy, region?: string): { template: Template; data: Data; auth: Auth } {
  const stack = bareStack({ env: { region } });
  const data = new Data(stack, 'Data', { removalPolicy, artifactRetention: Duration.days(30), accessLogRetention: Duration.days(60) });
  const auth = new Auth(stack, 'Auth', { removalPolicy, domainPrefix: 'roboport-test' });
  return { template: Template.fromStack(stack), data, auth };
}

let destroyed: ReturnType<typeof synth>;
let retained: ReturnType<typeof synth>;
let regionless: Template;

beforeAll(() => {
  destroyed = synth(RemovalPolicy.DESTROY, REGION);
  retained = synth(RemovalPolicy.RETAIN, REGION);
  regionless = synth(RemovalPolicy.DESTROY).template;
});

const key = (name: string, type: 'HASH' | 'RANGE') => ({ AttributeName: name, KeyType: type });
const bucketProps = (id: string) => destroyed.template.findResources('AWS::S3::Bucket')[id]?.Properties;

describe('Data', () => {
  it('creates the jobs table of core/table-schema.ts, on demand, with TTL on expiresAt', () => {
    const { byOwnerIndex, byCreatedIndex } = JOBS_TABLE;
    destroyed.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [key(JOBS_TABLE.partitionKey, 'HASH')],
      TimeToLiveSpecification: { AttributeName: JOBS_TABLE.ttlAttribute, Enabled: true },
      GlobalSecondaryIndexes: [byOwnerIndex, byCreatedIndex].map((index) => ({
        IndexName: index.name,
        KeySchema: [key(index.partitionKey, 'HASH'), key(index.sortKey, 'RANGE')],
        Projection: { ProjectionType: 'ALL' },
      })),
    });
    expect(JOBS_TABLE.ttlAttribute).toBe('expiresAt');
  });

  it('encrypts every table with the stage key, which rotates', () => {
    const keyArn = { 'Fn::GetAtt': [logicalIdOf(destroyed.data.key), 'Arn'] };
    const tables = Object.values(destroyed.template.findResources('AWS::DynamoDB::GlobalTable'));
    expect(tables.length).toBeGreaterThanOrEqual(1);
    for (const table of tables) {
      expect(table.Properties.SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS' });
      expect(table.Properties.Replicas[0].SSESpecification).toEqual({ KMSMasterKeyId: keyArn });
    }
    destroyed.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('falls back to the AWS managed DynamoDB key in a stack without a region', () => {
    for (const table of Object.values(regionless.findResources('AWS::DynamoDB::GlobalTable'))) {
      expect(table.Properties.SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS' });
      expect(table.Properties.Replicas[0].SSESpecification).toBeUndefined();
    }
  });

  it('lets CloudWatch Logs of this account use the key for log groups', () => {
    destroyed.template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
            Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });

  it('encrypts artifacts with the stage key, blocks public access, denies plain HTTP and expires them', () => {
    const artifacts = bucketProps(logicalIdOf(destroyed.data.artifactsBucket));
    expect(artifacts).toMatchObject({
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [logicalIdOf(destroyed.data.key), 'Arn'] } },
          },
        ],
      },
    });
    expect(artifacts.LifecycleConfiguration.Rules).toEqual(expect.arrayContaining([expect.objectContaining({ ExpirationInDays: 30, Status: 'Enabled' })]));
    const policies = Object.values(destroyed.template.findResources('AWS::S3::BucketPolicy'));
    for (const bucket of [destroyed.data.artifactsBucket, destroyed.data.accessLogsBucket]) {
      const policy = policies.find((p) => p.Properties.Bucket.Ref === logicalIdOf(bucket));
      expect(policy?.Properties.PolicyDocument.Statement).toEqual(
        expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      );
    }
  });

  it('logs access to artifacts into the access logs bucket, which expires the logs', () => {
    expect(bucketProps(logicalIdOf(destroyed.data.artifactsBucket)).LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: logicalIdOf(destroyed.data.accessLogsBucket) },
      LogFilePrefix: 'artifacts/',
    });
    expect(bucketProps(logicalIdOf(destroyed.data.accessLogsBucket))).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LifecycleConfiguration: { Rules: [expect.objectContaining({ ExpirationInDays: 60 })] },
    });
  });

  it('retains tables, buckets, key and user pool when asked to, with point-in-time recovery and deletion protection', () => {
    for (const type of ['AWS::DynamoDB::GlobalTable', 'AWS::S3::Bucket', 'AWS::Cognito::UserPool', 'AWS::KMS::Key']) {
      retained.template.hasResource(type, { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      destroyed.template.hasResource(type, { DeletionPolicy: 'Delete' });
    }
    // Tables with data worth recovering; the leases table only holds short-lived slots.
    const recoverable = (stage: ReturnType<typeof synth>) => [stage.data.jobsTable, stage.data.itemsTable, stage.data.accountsTable].map(logicalIdOf);
    const replicaOf = (stage: ReturnType<typeof synth>, id: string) => stage.template.findResources('AWS::DynamoDB::GlobalTable')[id]?.Properties.Replicas[0];
    for (const id of recoverable(retained)) {
      expect(replicaOf(retained, id), id).toMatchObject({ DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } });
    }
    for (const id of recoverable(destroyed)) {
      expect(replicaOf(destroyed, id).PointInTimeRecoverySpecification, id).toEqual({ PointInTimeRecoveryEnabled: false });
    }
    retained.template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    destroyed.template.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
  });
});

describe('Auth', () => {
  const userPool = () => Object.values(destroyed.template.findResources('AWS::Cognito::UserPool'))[0]?.Properties;
  const client = (auth: Auth, which: 'userPoolClient' | 'machineClient') =>
    destroyed.template.findResources('AWS::Cognito::UserPoolClient')[logicalIdOf(auth[which])]?.Properties;

  it('lets only administrators create users', () => {
    expect(userPool()?.AdminCreateUserConfig).toMatchObject({ AllowAdminCreateUserOnly: true });
  });

  it('requires strong passwords, offers TOTP as an optional second factor and protects against threats', () => {
    expect(userPool()?.Policies.PasswordPolicy).toMatchObject({
      MinimumLength: 12,
      RequireLowercase: true,
      RequireUppercase: true,
      RequireNumbers: true,
      RequireSymbols: true,
      PasswordHistorySize: 5,
    });
    expect(userPool()?.MfaConfiguration).toBe('OPTIONAL');
    expect(userPool()?.EnabledMfas).toEqual(['SOFTWARE_TOKEN_MFA']);
    expect(userPool()?.UserPoolTier).toBe('PLUS');
    expect(userPool()?.UserPoolAddOns).toEqual({ AdvancedSecurityMode: 'ENFORCED' });
  });

  it('has a public client signing in with SRP, USER_PASSWORD_AUTH and refresh tokens', () => {
    const props = client(destroyed.auth, 'userPoolClient');
    expect(props.GenerateSecret).toBe(false);
    expect([...props.ExplicitAuthFlows].sort()).toEqual(['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_USER_SRP_AUTH']);
  });

  it('has a confidential machine client using client credentials for the roboport scopes', () => {
    const props = client(destroyed.auth, 'machineClient');
    expect(props).toMatchObject({ GenerateSecret: true, AllowedOAuthFlows: ['client_credentials'], AllowedOAuthFlowsUserPoolClient: true });
    expect(JSON.stringify(props.AllowedOAuthScopes)).toContain('/jobs.read');
    expect(JSON.stringify(props.AllowedOAuthScopes)).toContain('/jobs.write');
    expect(destroyed.auth.scopes).toEqual({ read: 'roboport/jobs.read', write: 'roboport/jobs.write' });
    destroyed.template.hasResourceProperties('AWS::Cognito::UserPoolResourceServer', {
      Identifier: 'roboport',
      Scopes: [Match.objectLike({ ScopeName: 'jobs.read' }), Match.objectLike({ ScopeName: 'jobs.write' })],
    });
    destroyed.template.hasResourceProperties('AWS::Cognito::UserPoolDomain', { Domain: 'roboport-test' });
  });

  it('has the groups admins (checked by the API) and clients', () => {
    const groups = Object.values(destroyed.template.findResources('AWS::Cognito::UserPoolGroup')).map((g) => g.Properties.GroupName);
    expect(groups.sort()).toEqual(['admins', 'clients']);
  });
});
