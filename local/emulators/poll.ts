export interface PollOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Named in the timeout error, so a failing wait says what it was waiting for. */
  description?: string;
}

/**
 * Calls `check` until it returns something other than undefined, and returns that value.
 * Waiting on a real condition (bounded) instead of sleeping a fixed time keeps tests fast and stable.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 10_000, intervalMs = 25, description = 'condition' }: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
