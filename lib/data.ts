import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { JOBS_TABLE } from '../core/table-schema';

export interface DataProps {
  readonly removalPolicy: RemovalPolicy;
  /** Artifacts are deleted this long after upload. */
  readonly artifactRetention: Duration;
}

/** Where jobs and their artifacts live: the jobs table (core/table-schema.ts) and the artifacts bucket. */
export class Data extends Construct {
  public readonly jobsTable: dynamodb.TableV2;
  public readonly artifactsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id);
    const retained = props.removalPolicy === RemovalPolicy.RETAIN;
    const stringKey = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

    this.jobsTable = new dynamodb.TableV2(this, 'JobsTable', {
      partitionKey: stringKey(JOBS_TABLE.partitionKey),
      globalSecondaryIndexes: [JOBS_TABLE.byOwnerIndex, JOBS_TABLE.byCreatedIndex].map((index) => ({
        indexName: index.name,
        partitionKey: stringKey(index.partitionKey),
        sortKey: stringKey(index.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      })),
      billing: dynamodb.Billing.onDemand(),
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: retained },
      deletionProtection: retained,
      removalPolicy: props.removalPolicy,
    });

    this.artifactsBucket = new s3.Bucket(this, 'ArtifactsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [
        { id: 'ExpireArtifacts', expiration: props.artifactRetention },
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: props.removalPolicy,
      // A bucket that is destroyed with its stack must be emptied first.
      autoDeleteObjects: !retained,
    });
  }
}
