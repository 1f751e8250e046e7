import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { JOBS_TABLE } from '../../core/table-schema';
import { Auth } from '../../lib/auth';
import { Data } from '../../lib/data';
import { bareStack } from './support/cdk';

function synth(removalPolicy: RemovalPolicy): Template {
  const stack = bareStack();
  new Data(stack, 'Data', { removalPolicy, artifactRetention: Duration.days(30) });
  new Auth(stack, 'Auth', { removalPolicy });
  return Template.fromStack(stack);
}

let destroyed: Template;
let retained: Template;

beforeAll(() => {
  destroyed = synth(RemovalPolicy.DESTROY);
  retained = synth(RemovalPolicy.RETAIN);
});

const key = (name: string, type: 'HASH' | 'RANGE') => ({ AttributeName: name, KeyType: type });

describe('Data', () => {
  it('creates the jobs table of core/table-schema.ts, on demand and encrypted', () => {
    const { byOwnerIndex, byCreatedIndex } = JOBS_TABLE;
    destroyed.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [key(JOBS_TABLE.partitionKey, 'HASH')],
      SSESpecification: { SSEEnabled: true },
      GlobalSecondaryIndexes: [byOwnerIndex, byCreatedIndex].map((index) => ({
        IndexName: index.name,
        KeySchema: [key(index.partitionKey, 'HASH'), key(index.sortKey, 'RANGE')],
        Projection: { ProjectionType: 'ALL' },
      })),
    });
  });

  it('blocks public access to artifacts, denies plain HTTP and expires them', () => {
    destroyed.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 30, Status: 'Enabled' })]) },
    });
    destroyed.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('retains table, bucket and user pool when asked to, and protects them from deletion', () => {
    for (const type of ['AWS::DynamoDB::GlobalTable', 'AWS::S3::Bucket', 'AWS::Cognito::UserPool']) {
      retained.hasResource(type, { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      destroyed.hasResource(type, { DeletionPolicy: 'Delete' });
    }
    retained.hasResourceProperties('AWS::DynamoDB::GlobalTable', { Replicas: [Match.objectLike({ DeletionProtectionEnabled: true })] });
    retained.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    destroyed.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
  });
});

describe('Auth', () => {
  it('lets only administrators create users', () => {
    destroyed.hasResourceProperties('AWS::Cognito::UserPool', { AdminCreateUserConfig: { AllowAdminCreateUserOnly: true } });
  });

  it('has a public client signing in with USER_PASSWORD_AUTH and refresh tokens', () => {
    const [client] = Object.values(destroyed.findResources('AWS::Cognito::UserPoolClient'));
    expect(client?.Properties.GenerateSecret).toBe(false);
    expect([...client?.Properties.ExplicitAuthFlows].sort()).toEqual(['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_PASSWORD_AUTH']);
  });

  it('has the admins group the API checks', () => {
    destroyed.hasResourceProperties('AWS::Cognito::UserPoolGroup', { GroupName: 'admins' });
  });
});
