import { createInterface } from 'node:readline';
import { usageError } from './exit-codes';

/**
 * Questions on the terminal. Without one (a script, CI) nothing is asked: the caller says so with
 * a flag (--yes) or an environment variable instead, and the CLI tells which.
 */
export async function confirm(question: string, howToSkip: string): Promise<boolean> {
  const answer = await ask(`${question} [y/N] `, false, howToSkip);
  return /^y(es)?$/i.test(answer.trim());
}

export function askSecret(question: string, howToSkip: string): Promise<string> {
  return ask(question, true, howToSkip);
}

export function askLine(question: string, howToSkip: string): Promise<string> {
  return ask(question, false, howToSkip);
}

function ask(question: string, hidden: boolean, howToSkip: string): Promise<string> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return Promise.reject(usageError(`No terminal to ask on: ${howToSkip}`));
  const terminal = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (hidden) {
    // Echo nothing of what is typed; the question itself is written before muting.
    process.stderr.write(question);
    (terminal as unknown as { _writeToOutput: (text: string) => void })._writeToOutput = () => undefined;
  }
  return new Promise((resolve) => {
    terminal.question(hidden ? '' : question, (answer) => {
      if (hidden) process.stderr.write('\n');
      terminal.close();
      resolve(answer);
    });
  });
}

/** All of stdin, for `--password-stdin`; the trailing newline is not part of the secret. */
export async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += (chunk as Buffer).toString('utf8');
  return text.replace(/\r?\n$/, '');
}
