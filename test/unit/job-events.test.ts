import { GoneException, ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DeleteItemCommand, DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ApiGatewayEventSender } from '../../core/adapters/api-gateway-event-sender';
import { DynamoConnectionStore } from '../../core/adapters/dynamo-connection-store';
import { fanOutJobEvent, jobEvent, type EventConnection, type EventConnectionStore, type EventSender, type JobEvent } from '../../core/job-events';
import { makeJob } from '../support/memory-job-store';

const ALICE = { sub: 'alice', isAdmin: false };
const BOB = { sub: 'bob', isAdmin: false };
const ADMIN = { sub: 'root', isAdmin: true };

/** Connections in memory, with the audience query of the DynamoDB store (owner's + admins'). */
class FakeConnections implements EventConnectionStore {
  constructor(public connections: EventConnection[]) {}
  audience(owner: string) {
    return Promise.resolve(this.connections.filter(({ caller }) => caller.sub === owner || caller.isAdmin));
  }
  remove(connectionId: string) {
    this.connections = this.connections.filter((c) => c.connectionId !== connectionId);
    return Promise.resolve();
  }
}

/** Records frames per connection; connections in `gone` answer 410, those in `failing` throw. */
class FakeSender implements EventSender {
  readonly frames = new Map<string, JobEvent[]>();
  constructor(
    private readonly gone: ReadonlySet<string> = new Set(),
    private readonly failing: ReadonlySet<string> = new Set(),
  ) {}
  send(connectionId: string, frame: string) {
    if (this.failing.has(connectionId)) return Promise.reject(new Error('throttled'));
    if (this.gone.has(connectionId)) return Promise.resolve('gone' as const);
    this.frames.set(connectionId, [...(this.frames.get(connectionId) ?? []), JSON.parse(frame) as JobEvent]);
    return Promise.resolve('sent' as const);
  }
}

const alicesJob = makeJob({ owner: 'alice', status: 'RUNNING', version: 7, itemsTotal: 4, itemsSucceeded: 2, itemsFailed: 1 });

describe('fanOutJobEvent', () => {
  let connections: FakeConnections;

  beforeEach(() => {
    connections = new FakeConnections([
      { connectionId: 'alice-1', caller: ALICE },
      { connectionId: 'alice-2', caller: ALICE },
      { connectionId: 'bob-1', caller: BOB },
      { connectionId: 'admin-1', caller: ADMIN },
    ]);
  });

  it('sends the job to its owner’s connections and every admin’s, never to another tenant', async () => {
    const sender = new FakeSender();
    const result = await fanOutJobEvent({ connections, sender }, alicesJob);
    expect([...sender.frames.keys()].sort()).toEqual(['admin-1', 'alice-1', 'alice-2']);
    expect(result).toEqual({ sent: 3, gone: 0, failed: 0 });
  });

  it('sends the frame {type: job, version, job: the REST view without owner or links}', async () => {
    const sender = new FakeSender();
    await fanOutJobEvent({ connections, sender }, alicesJob);
    const [frame] = sender.frames.get('alice-1')!;
    expect(frame).toEqual(JSON.parse(JSON.stringify(jobEvent(alicesJob))));
    expect(frame).toMatchObject({ type: 'job', version: 7, job: { jobId: alicesJob.jobId, status: 'RUNNING', progress: { total: 4, succeeded: 2, failed: 1, pending: 1 } } });
    expect(frame!.job).not.toHaveProperty('owner');
    expect(frame!.job).not.toHaveProperty('requestHash');
  });

  it('checks visibility itself: a store that returned a foreign connection still sends it nothing', async () => {
    const leaky: EventConnectionStore = { audience: () => Promise.resolve([{ connectionId: 'bob-1', caller: BOB }]), remove: () => Promise.resolve() };
    const sender = new FakeSender();
    expect(await fanOutJobEvent({ connections: leaky, sender }, alicesJob)).toEqual({ sent: 0, gone: 0, failed: 0 });
  });

  it('sends a connection that follows one job that job only', async () => {
    connections.connections = [
      { connectionId: 'follows-it', caller: ALICE, jobId: alicesJob.jobId },
      { connectionId: 'follows-another', caller: ALICE, jobId: '6f1c2e3a-0000-4000-8000-000000000000' },
      { connectionId: 'admin-follows-another', caller: ADMIN, jobId: '6f1c2e3a-0000-4000-8000-000000000000' },
    ];
    const sender = new FakeSender();
    await fanOutJobEvent({ connections, sender }, alicesJob);
    expect([...sender.frames.keys()]).toEqual(['follows-it']);
  });

  it('removes connections that are gone and keeps sending to the others when one fails', async () => {
    const errors: string[] = [];
    const sender = new FakeSender(new Set(['alice-2']), new Set(['admin-1']));
    const result = await fanOutJobEvent({ connections, sender, onSendError: (id) => errors.push(id) }, alicesJob);
    console.log(`fan-out with a gone and a failing connection: ${JSON.stringify(result)}`);
    expect(result).toEqual({ sent: 1, gone: 1, failed: 1 });
    expect(connections.connections.map((c) => c.connectionId).sort()).toEqual(['admin-1', 'alice-1', 'bob-1']);
    expect(errors).toEqual(['admin-1']);
  });
});

describe('the AWS adapters of the fan-out', () => {
  const dynamo = mockClient(DynamoDBClient);
  const management = mockClient(ApiGatewayManagementApiClient);

  beforeEach(() => {
    dynamo.reset();
    management.reset();
  });

  it('reads the audience from the owner index and the sparse admins index, each connection once', async () => {
    dynamo
      .on(QueryCommand, { IndexName: 'byOwner' })
      .resolves({ Items: [marshall({ connectionId: 'a1', owner: 'alice', isAdmin: false, jobId: alicesJob.jobId })] })
      .on(QueryCommand, { IndexName: 'admins' })
      .resolves({ Items: [marshall({ connectionId: 'r1', owner: 'root', isAdmin: true, audience: 'ADMIN' })] });
    const store = new DynamoConnectionStore(new DynamoDBClient({}), 'connections');
    expect(await store.audience('alice')).toEqual([
      { connectionId: 'a1', caller: ALICE, jobId: alicesJob.jobId },
      { connectionId: 'r1', caller: { sub: 'root', isAdmin: true } },
    ]);
    const queries = dynamo.commandCalls(QueryCommand).map((call) => call.args[0].input.ExpressionAttributeValues);
    expect(queries).toEqual([marshall({ ':pk': 'alice' }), marshall({ ':pk': 'ADMIN' })]);
  });

  it('maps API Gateway’s 410 to a gone connection, which the fan-out deletes', async () => {
    management.on(PostToConnectionCommand, { ConnectionId: 'gone' }).rejects(new GoneException({ message: 'Gone', $metadata: {} }));
    management.on(PostToConnectionCommand, { ConnectionId: 'open' }).resolves({});
    dynamo.on(QueryCommand, { IndexName: 'byOwner' }).resolves({ Items: [marshall({ connectionId: 'gone', owner: 'alice' }), marshall({ connectionId: 'open', owner: 'alice' })] });
    dynamo.on(QueryCommand, { IndexName: 'admins' }).resolves({ Items: [] });
    const result = await fanOutJobEvent(
      { connections: new DynamoConnectionStore(new DynamoDBClient({}), 'connections'), sender: new ApiGatewayEventSender(new ApiGatewayManagementApiClient({ region: 'eu-west-1', endpoint: 'https://x.execute-api.eu-west-1.amazonaws.com/live' })) },
      alicesJob,
    );
    expect(result).toEqual({ sent: 1, gone: 1, failed: 0 });
    expect(dynamo.commandCalls(DeleteItemCommand).map((call) => call.args[0].input.Key)).toEqual([marshall({ connectionId: 'gone' })]);
    const posted = management.commandCalls(PostToConnectionCommand).find((call) => call.args[0].input.ConnectionId === 'open');
    expect(JSON.parse(Buffer.from(posted!.args[0].input.Data as Uint8Array).toString())).toMatchObject({ type: 'job', version: 7 });
  });
});
