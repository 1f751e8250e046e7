import { randomBytes } from 'node:crypto';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { startFreightPortal, type FreightPortal } from '../sandbox/freight-portal';
import { bindSecretToHosts } from '../core/adapters/secrets';
import { ensureJsonSecret } from './emulators/secrets-manager';

/** The shape robots read from a portal credentials secret. */
const portalCredentialsSchema = z.object({ username: z.string().min(1), password: z.string().min(1) });

export interface LocalFreightPortal {
  portal: FreightPortal;
  /** Value of the x-portal-admin header for /__admin/*; new on every start. */
  adminToken: string;
}

/**
 * The sandbox freight portal as the local stack serves it. Its credentials live only in the
 * secret (shared, bound to the portal's host): generated on the first start, then read back, so
 * robots must fetch them like in a deployment, and nothing of ours prints them.
 */
export async function startLocalFreightPortal(secrets: SecretsManagerClient, { secretName, port }: { secretName: string; port: number }): Promise<LocalFreightPortal> {
  const credentials = await ensureJsonSecret(secrets, secretName, portalCredentialsSchema, () => ({
    username: 'robot',
    password: randomBytes(18).toString('base64url'),
  }));
  const adminToken = randomBytes(24).toString('base64url');
  const portal = await startFreightPortal({ ...credentials, adminToken, port });
  // Robots type these credentials only into the portal's own pages; its port may change per start.
  await bindSecretToHosts(secrets, secretName, [new URL(portal.url).host]);
  return { portal, adminToken };
}
