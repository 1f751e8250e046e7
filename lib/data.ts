import { Aws, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ACCOUNTS_TABLE, ITEMS_TABLE, JOBS_TABLE, LEASES_TABLE, PORTAL_SESSIONS_TABLE } from '../core/table-schema';
import { acknowledge } from './nag';

export interface DataProps {
  readonly removalPolicy: RemovalPolicy;
  /** Artifacts are deleted this long after upload. */
  readonly artifactRetention: Duration;
  /**
   * S3 server access logs are deleted this long after delivery.
   * @default 90 days
   */
  readonly accessLogRetention?: Duration;
}

/**
 * Where jobs and their artifacts live: the jobs table (core/table-schema.ts), the artifacts
 * bucket and its access logs, all encrypted with the stage's customer managed key. A retained
 * (prod) stage also gets point-in-time recovery and deletion protection.
 */
export class Data extends Construct {
  /** Encrypts the stage's data at rest: tables (in a stage with a region), artifacts, queues, log groups, the alarm topic. */
  public readonly key: kms.Key;
  /** For every table of the stage, so that all of them use the stage key. */
  public readonly tableEncryption: dynamodb.TableEncryptionV2;
  public readonly jobsTable: dynamodb.TableV2;
  /** Work item checkpoints (core/items.ts). */
  public readonly itemsTable: dynamodb.TableV2;
  /** Per-portal session slots of the robot workers (core/portal-lease.ts); expired slots age out by TTL. */
  public readonly leasesTable: dynamodb.TableV2;
  /** Kept portal sessions of the robot runtimes (runtime/portal-sessions.ts), sealed; they age out by TTL. */
  public readonly portalSessionsTable: dynamodb.TableV2;
  /**
   * Seals kept portal sessions (the AWS Encryption SDK's KMS keyring). A key of its own, not the
   * data key, so that its grants can require the sessions' encryption context and nothing that
   * may use the data key (artifacts, queues) can open a session.
   */
  public readonly portalSessionKey: kms.Key;
  /** Per-owner webhook signing secrets (core/webhook-secrets.ts); apart from jobs so few functions can read it. */
  public readonly accountsTable: dynamodb.TableV2;
  public readonly artifactsBucket: s3.Bucket;
  /** Target of S3 server access logging for the stage's buckets. */
  public readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id);
    const retained = props.removalPolicy === RemovalPolicy.RETAIN;
    const stringKey = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

    this.key = new kms.Key(this, 'DataKey', {
      description: 'Roboport data at rest: tables, artifacts, queues, logs',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    this.allowLogGroupEncryption();
    // TableV2 can render a customer managed key only for a known region; a stage without one
    // in cdk.json keeps its tables on the AWS managed DynamoDB key (docs/deploy.md).
    this.tableEncryption = Token.isUnresolved(Stack.of(this).region)
      ? dynamodb.TableEncryptionV2.awsManagedKey()
      : dynamodb.TableEncryptionV2.customerManagedKey(this.key);

    this.jobsTable = new dynamodb.TableV2(this, 'JobsTable', {
      partitionKey: stringKey(JOBS_TABLE.partitionKey),
      globalSecondaryIndexes: [JOBS_TABLE.byOwnerIndex, JOBS_TABLE.byCreatedIndex].map((index) => ({
        indexName: index.name,
        partitionKey: stringKey(index.partitionKey),
        sortKey: stringKey(index.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      })),
      timeToLiveAttribute: JOBS_TABLE.ttlAttribute,
      // Every write of a job, in order, for the live job events fan-out (lib/job-events.ts).
      dynamoStream: dynamodb.StreamViewType.NEW_IMAGE,
      billing: dynamodb.Billing.onDemand(),
      encryption: this.tableEncryption,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: retained },
      deletionProtection: retained,
      removalPolicy: props.removalPolicy,
    });

    const tableDefaults = {
      billing: dynamodb.Billing.onDemand(),
      encryption: this.tableEncryption,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: retained },
      deletionProtection: retained,
      removalPolicy: props.removalPolicy,
    };
    this.itemsTable = new dynamodb.TableV2(this, 'ItemsTable', {
      partitionKey: stringKey(ITEMS_TABLE.partitionKey),
      sortKey: stringKey(ITEMS_TABLE.sortKey),
      localSecondaryIndexes: [
        { indexName: ITEMS_TABLE.byPositionIndex.name, sortKey: { name: ITEMS_TABLE.byPositionIndex.sortKey, type: dynamodb.AttributeType.NUMBER } },
      ],
      ...tableDefaults,
    });
    this.leasesTable = new dynamodb.TableV2(this, 'LeasesTable', {
      partitionKey: stringKey(LEASES_TABLE.partitionKey),
      timeToLiveAttribute: LEASES_TABLE.ttlAttribute,
      ...tableDefaults,
      // Short-lived coordination state: nothing to recover.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
    });
    this.portalSessionsTable = new dynamodb.TableV2(this, 'PortalSessionsTable', {
      partitionKey: stringKey(PORTAL_SESSIONS_TABLE.partitionKey),
      timeToLiveAttribute: PORTAL_SESSIONS_TABLE.ttlAttribute,
      ...tableDefaults,
      // Sessions live minutes: a restored backup would only hold expired ones.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
    });
    this.portalSessionKey = new kms.Key(this, 'PortalSessionKey', {
      description: 'Roboport kept portal sessions (browser storage state after a robot login)',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    this.accountsTable = new dynamodb.TableV2(this, 'AccountsTable', { partitionKey: stringKey(ACCOUNTS_TABLE.partitionKey), ...tableDefaults });

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      // S3 delivers server access logs only to buckets encrypted with S3-managed keys.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: props.accessLogRetention ?? Duration.days(90) }],
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: !retained,
    });
    acknowledge(this.accessLogsBucket, 'AwsSolutions-S1', 'This bucket receives the server access logs; logging it into itself would loop.');

    this.artifactsBucket = new s3.Bucket(this, 'ArtifactsBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      // One data key per bucket instead of one KMS call per object.
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [
        { id: 'ExpireArtifacts', expiration: props.artifactRetention },
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: props.removalPolicy,
      // A bucket that is destroyed with its stack must be emptied first.
      autoDeleteObjects: !retained,
    });
  }

  /** CloudWatch Logs encrypts a log group with the key only if the key policy lets it. */
  private allowLogGroupEncryption(): void {
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*` },
        },
      }),
    );
  }
}
