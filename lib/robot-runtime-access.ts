import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { ENV } from '../core/env-names';
import { PORTAL_SESSION_PURPOSE } from '../core/table-schema';
import { acknowledge, wildcardResourceFinding } from './nag';

/** What the robot runtime (runtime/robot-runtime.ts) works with, wherever it runs. */
export interface RobotRuntimeResources {
  readonly jobsTable: ITableV2;
  readonly itemsTable: ITableV2;
  readonly leasesTable: ITableV2;
  /** Kept portal sessions and the key that seals them (runtime/portal-sessions.ts). */
  readonly portalSessionsTable: ITableV2;
  readonly portalSessionKey: kms.IKey;
  readonly artifactsBucket: IBucket;
  /** Robots read the secrets under this name prefix only. */
  readonly robotSecretsPrefix: string;
}

/**
 * Least privilege for a robot runtime (the worker fleet's tasks and the DLQ reprocessor):
 * jobs, items, portal slots and kept portal sessions read/write (the sessions' key only with their encryption context), artifacts put-only, robot secrets by prefix, and the
 * task-token reports to the workflow.
 */
export function grantRobotRuntimeAccess(role: iam.IRole, resources: RobotRuntimeResources): void {
  const { jobsTable, itemsTable, leasesTable, portalSessionsTable, portalSessionKey, artifactsBucket, robotSecretsPrefix } = resources;
  jobsTable.grantReadWriteData(role);
  itemsTable.grantReadWriteData(role);
  leasesTable.grantReadWriteData(role);
  portalSessionsTable.grantReadWriteData(role);
  // Seal and open kept sessions only: KMS refuses any call without the sessions' encryption context.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resources: [portalSessionKey.keyArn],
      conditions: { StringEquals: { [`kms:EncryptionContext:${PORTAL_SESSION_PURPOSE.contextKey}`]: PORTAL_SESSION_PURPOSE.value } },
    }),
  );
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [artifactsBucket.arnForObjects('*')] }));
  artifactsBucket.encryptionKey?.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
  // The ARN of a secret ends in a random suffix: the prefix needs a wildcard.
  const robotSecrets = Stack.of(role).formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${robotSecretsPrefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  // The value, and the hosts it is bound to (a tag): robots type credentials only into those hosts.
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], resources: [robotSecrets] }));
  // IAM does not scope task-token calls to a resource: these actions only accept "*".
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'], resources: ['*'] }));

  const policy = role.node.findChild('DefaultPolicy');
  acknowledge(
    policy,
    wildcardResourceFinding(role, robotSecrets),
    'Robots read portal credentials by name under the stage prefix; Secrets Manager appends a random suffix to every ARN, so the prefix needs a wildcard.',
  );
  acknowledge(
    policy,
    wildcardResourceFinding(role, artifactsBucket.arnForObjects('*')),
    'Artifacts are keyed by job id, unknown at deploy time; the robot runtime may only put objects, never read or delete them.',
  );
}

/** The environment a robot runtime reads its kept portal sessions' table, key and TTL from (runtime/config.ts). */
export function portalSessionReuseEnv(props: Pick<RobotRuntimeResources, 'portalSessionsTable' | 'portalSessionKey'> & { portalSessionTtlMinutes: number }): Record<string, string> {
  return {
    [ENV.portalSessionsTable]: props.portalSessionsTable.tableName,
    [ENV.portalSessionKmsKeyArn]: props.portalSessionKey.keyArn,
    [ENV.portalSessionTtlSeconds]: String(props.portalSessionTtlMinutes * 60),
  };
}
