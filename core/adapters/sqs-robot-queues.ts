import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { DeadLetter, QueueDepth, RobotQueues } from '../operations';

/** SQS receives at most 10 messages per call. */
const RECEIVE_MAX = 10;
/** Receives per redrive or peek: bounds the work of one request whatever the DLQ holds. */
const MAX_RECEIVES = 20;
/** A redriven message is hidden this long while it is copied, then deleted; a failed copy comes back. */
const REDRIVE_VISIBILITY_SECONDS = 30;

/**
 * The robot queue and its DLQ for the operations routes. A redrive is receive + send + delete
 * (StartMessageMoveTask would do it in AWS, but moves everything or nothing and the local SQS
 * emulation, fauxqs, does not implement it). A peek receives with visibility 0, so that the
 * messages stay available to the DLQ reprocessor; it counts as a receive in their receive count.
 */
export class SqsRobotQueues implements RobotQueues {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrls: { robot: string; deadLetter: string },
  ) {}

  async depth(queue: 'robot' | 'deadLetter'): Promise<QueueDepth> {
    const { Attributes = {} } = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.queueUrls[queue],
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    return {
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }

  async peekDeadLetters(max: number): Promise<DeadLetter[]> {
    const seen = new Map<string, DeadLetter>();
    for (let receive = 0; receive < MAX_RECEIVES && seen.size < max; receive++) {
      const messages = await this.receive(0);
      const fresh = messages.filter((message) => message.MessageId && !seen.has(message.MessageId));
      if (fresh.length === 0) break;
      for (const message of fresh) seen.set(message.MessageId!, toDeadLetter(message));
    }
    return [...seen.values()].slice(0, max);
  }

  async redrive(messageId?: string): Promise<string[]> {
    const moved: string[] = [];
    for (let receive = 0; receive < MAX_RECEIVES; receive++) {
      const messages = await this.receive(REDRIVE_VISIBILITY_SECONDS);
      if (messages.length === 0) break;
      const chosen = messageId ? messages.filter((message) => message.MessageId === messageId) : messages;
      const others = messages.filter((message) => !chosen.includes(message));
      // Not the one asked for: visible again at once for the next receive or the DLQ reprocessor.
      await this.release(others);
      if (chosen.length > 0) moved.push(...(await this.move(chosen)));
      if (messageId && chosen.length > 0) break;
    }
    return moved;
  }

  private async receive(visibilityTimeout: number): Promise<Message[]> {
    const { Messages = [] } = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrls.deadLetter,
        MaxNumberOfMessages: RECEIVE_MAX,
        VisibilityTimeout: visibilityTimeout,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      }),
    );
    return Messages;
  }

  /** Sends each to the robot queue, then deletes from the DLQ what was sent. */
  private async move(messages: Message[]): Promise<string[]> {
    const entries = messages.map((message, i) => ({ Id: String(i), MessageBody: message.Body ?? '' }));
    const { Successful = [] } = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrls.robot, Entries: entries }));
    const sent = Successful.map((entry) => messages[Number(entry.Id)]!);
    if (sent.length > 0) {
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.queueUrls.deadLetter,
          Entries: sent.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle! })),
        }),
      );
    }
    return sent.map((message) => message.MessageId!);
  }

  private async release(messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    await this.sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: this.queueUrls.deadLetter,
        Entries: messages.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: 0 })),
      }),
    );
  }
}

function toDeadLetter(message: Message): DeadLetter {
  const sent = Number(message.Attributes?.SentTimestamp);
  return {
    messageId: message.MessageId!,
    body: message.Body ?? '',
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
    ...(Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent).toISOString() } : {}),
  };
}
