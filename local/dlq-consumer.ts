import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/** The handler of functions/dlq/reprocess.ts, as Lambda calls it. */
export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export interface DlqConsumerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  region: string;
  functionName: string;
  handler: SqsBatchHandler;
  /** The function's timeout: the handler sees the time left of it, as in Lambda. */
  timeoutMs: number;
  /** A record the handler reported as failed comes back after this long. */
  retryDelaySeconds: number;
  onError(error: unknown): void;
}

export interface DlqConsumer {
  /** Stops polling; an invocation in flight sees its time run out, checkpoints and ends. */
  close(): Promise<void>;
}

/** Long poll, bounded so that an idle consumer still notices close() quickly when aborted. */
const LONG_POLL_SECONDS = 10;
const POLL_RETRY_MS = 1_000;

/**
 * What Lambda's SQS event source does for the DLQ reprocessor, locally: batch size 1, records
 * reported in batchItemFailures stay in the queue (visible again after retryDelaySeconds),
 * the others are deleted. The handler runs in this process, from the same module as in Lambda.
 */
export function startDlqConsumer(options: DlqConsumerOptions): DlqConsumer {
  const closing = new AbortController();
  const loop = async () => {
    while (!closing.signal.aborted) {
      const message = await receiveOne(options, closing.signal);
      if (message) await invoke(message, options, closing.signal);
    }
  };
  const looping = loop();
  return {
    async close() {
      closing.abort();
      await looping;
    },
  };
}

async function receiveOne(options: DlqConsumerOptions, signal: AbortSignal): Promise<Message | undefined> {
  try {
    const { Messages } = await options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: 1,
        WaitTimeSeconds: LONG_POLL_SECONDS,
        // Invisible for the whole invocation, as Lambda's event source keeps it.
        VisibilityTimeout: Math.ceil(options.timeoutMs / 1000),
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: signal },
    );
    return Messages?.[0];
  } catch (error) {
    if (signal.aborted) return undefined;
    options.onError(error);
    await sleep(POLL_RETRY_MS, undefined, { signal }).catch(() => undefined);
    return undefined;
  }
}

async function invoke(message: Message, options: DlqConsumerOptions, closing: AbortSignal): Promise<void> {
  const record = toRecord(message, options);
  const deadline = Date.now() + options.timeoutMs;
  try {
    const { batchItemFailures } = await options.handler({ Records: [record] }, lambdaContext(options, () => (closing.aborted ? 0 : Math.max(0, deadline - Date.now()))));
    const failed = batchItemFailures.some((failure) => failure.itemIdentifier === record.messageId);
    const { queueUrl: QueueUrl, retryDelaySeconds: VisibilityTimeout } = options;
    if (failed) await options.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout }));
    else await options.sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: record.receiptHandle }));
  } catch (error) {
    // A handler that throws fails the whole batch: the record comes back when its visibility ends.
    options.onError(error);
  }
}

function toRecord(message: Message, options: DlqConsumerOptions): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: options.queueArn,
    awsRegion: options.region,
  };
}

function lambdaContext(options: DlqConsumerOptions, remainingMs: () => number): Context {
  const fail = () => {
    throw new Error('not available locally');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${options.region}:000000000000:function:${options.functionName}`,
    memoryLimitInMB: '2048',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: remainingMs,
    done: fail,
    fail,
    succeed: fail,
  };
}
