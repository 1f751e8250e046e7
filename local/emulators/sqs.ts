import type { IncomingHttpHeaders } from 'node:http';
import { buildApp } from 'fauxqs';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ROBOT_QUEUE_MAX_RECEIVES } from '../../core/delivery';
import { LOOPBACK_HOST } from './http-server';

export interface LocalSqs {
  /** SQS over the AWS JSON protocol. */
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts fauxqs in-process on 127.0.0.1 (its startFauxqs() would bind 0.0.0.0) for SQS; S3 is s3rver
 * (./s3.ts). fauxqs keeps everything in memory: queues and messages are gone after close().
 */
export async function startLocalSqs({ port = 0 }: { port?: number } = {}): Promise<LocalSqs> {
  const app = buildApp({ logger: false });
  presentQueueUrlsOnLoopback(app);
  const endpoint = await app.listen({ port, host: LOOPBACK_HOST });
  return { endpoint, close: () => app.close() };
}

type FauxqsApp = ReturnType<typeof buildApp>;
/** The part of a Fastify request the queue URL mapping reads. */
interface SqsRequest {
  body: unknown;
  headers: IncomingHttpHeaders;
}

/** fauxqs's own queue URL form: http://sqs.<region>.localhost:<port>/<account>/<queue>. */
const FAUXQS_QUEUE_ORIGIN = /http:\/\/sqs\.([a-z0-9-]+)\.localhost:(\d+)/g;
const SIGNED_REGION = /Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\//;

/**
 * fauxqs names queues after `sqs.<region>.localhost`, which does not resolve on every machine, and a
 * client configured only through AWS_ENDPOINT_URL_SQS sends each request to its QueueUrl's host.
 * So queue URLs leave as http://127.0.0.1:<port>/... and are mapped back to fauxqs's form on the way in
 * (fauxqs finds queues by exact URL).
 */
function presentQueueUrlsOnLoopback(app: FauxqsApp): void {
  app.addHook('preHandler', async (request: SqsRequest) => {
    const body = request.body as { QueueUrl?: unknown } | undefined;
    if (!isSqsRequest(request.headers) || typeof body?.QueueUrl !== 'string') return;
    const url = new URL(body.QueueUrl);
    if (url.hostname !== LOOPBACK_HOST) return;
    const region = SIGNED_REGION.exec(request.headers.authorization ?? '')?.[1] ?? 'us-east-1';
    body.QueueUrl = `http://sqs.${region}.localhost:${url.port}${url.pathname}`;
  });
  app.addHook('onSend', async (request: SqsRequest, _reply: unknown, payload: unknown) =>
    isSqsRequest(request.headers) && typeof payload === 'string'
      ? payload.replace(FAUXQS_QUEUE_ORIGIN, (_match, _region, port) => `http://${LOOPBACK_HOST}:${port}`)
      : payload,
  );
}

function isSqsRequest(headers: IncomingHttpHeaders): boolean {
  return headers['content-type']?.includes('application/x-amz-json-1.0') ?? false;
}

export interface RobotQueue {
  queueUrl: string;
  deadLetterQueueUrl: string;
}


/**
 * Creates the robot queue and its dead-letter queue (`<name>-dlq`); CreateQueue with the same
 * attributes is idempotent in SQS, so calling this again returns the existing queues.
 */
export async function ensureRobotQueue(
  sqs: SQSClient,
  queueName: string,
  attributes: Record<string, string> = {},
): Promise<RobotQueue> {
  const deadLetterQueueUrl = await createQueue(sqs, `${queueName}-dlq`, {});
  const deadLetterTargetArn = await queueArn(sqs, deadLetterQueueUrl);
  const redrivePolicy = { deadLetterTargetArn, maxReceiveCount: ROBOT_QUEUE_MAX_RECEIVES };
  const queueUrl = await createQueue(sqs, queueName, { ...attributes, RedrivePolicy: JSON.stringify(redrivePolicy) });
  return { queueUrl, deadLetterQueueUrl };
}

async function createQueue(sqs: SQSClient, queueName: string, attributes: Record<string, string>): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: attributes }));
  if (!QueueUrl) throw new Error(`CreateQueue ${queueName} returned no QueueUrl`);
  return QueueUrl;
}

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  if (!Attributes?.QueueArn) throw new Error(`GetQueueAttributes ${queueUrl} returned no QueueArn`);
  return Attributes.QueueArn;
}
