import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_USERS } from '../../local/local-users';
import { LocalClient, isTerminal } from '../support/local-client';
import { startStackProcess, type StackProcess } from '../support/stack-process';

/** `npm start`, Ctrl-C, `npm start` again on the same data directory: jobs and their artifacts are still there. */
const dataDir = mkdtempSync(path.join(tmpdir(), 'roboport-restart-'));
const [user] = LOCAL_USERS;
let stack: StackProcess | undefined;

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function downloadSha256(url: string): Promise<string> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return createHash('sha256').update(Buffer.from(await response.arrayBuffer())).digest('hex');
}

describe('local stack restart', () => {
  it('still serves a finished job and its artifact after a restart on the same data', async () => {
    stack = await startStackProcess({ dataDir, env: { WORKER_HEARTBEAT_SECONDS: '2' } });
    let client = new LocalClient(stack.outputs);
    let token = await client.signIn(user!.username, user!.password);
    const submitted = await client.api('POST', '/jobs', {
      token,
      body: { robot: 'web-snapshot', input: { url: `${stack.outputs.SandboxUrl}/`, formats: ['pdf'] } },
    });
    expect(submitted.status).toBe(202);
    const jobId: string = submitted.body.jobId;
    const before = await client.waitForJob(token, jobId, isTerminal, 90_000);
    expect(before.status).toBe('SUCCEEDED');
    const [artifact] = before.artifacts;
    expect(await downloadSha256(artifact.url)).toBe(artifact.sha256);

    await stack.stop();
    // No worker: nothing is left to run, the download must come from what the first run stored.
    stack = await startStackProcess({ dataDir, args: ['--no-worker'] });
    client = new LocalClient(stack.outputs);
    token = await client.signIn(user!.username, user!.password);

    const after = await client.api('GET', `/jobs/${jobId}`, { token });
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ jobId, status: 'SUCCEEDED', artifacts: [{ name: artifact.name, sha256: artifact.sha256 }] });
    // A new link from the restarted stack, to the same bytes.
    expect(after.body.artifacts[0].url).not.toBe(artifact.url);
    expect(await downloadSha256(after.body.artifacts[0].url)).toBe(artifact.sha256);
  }, 180_000);
});
