import '../local/quiet-sdk-notices';
import { Command, CommanderError, Option } from 'commander';
import { addJobCommands } from './commands/jobs';
import { addScheduleCommands } from './commands/schedules';
import { addSecretCommands } from './commands/secrets';
import { addSessionCommands } from './commands/session';
import { CliError, EXIT } from './exit-codes';

/** `roboport`: the command-line client of the Roboport API (README "CLI"). */
export function buildProgram(): Command {
  const program = new Command('roboport')
    .description('Roboport from the command line: sign in, submit jobs (JSON or a spreadsheet), watch them, download their files')
    .addOption(new Option('--data-dir <dir>', 'the local stack\'s data directory (default: .roboport)').env('ROBOPORT_DATA_DIR'))
    .addOption(new Option('--outputs <file>', 'a deployed stage: the file `cdk deploy --outputs-file` wrote').env('ROBOPORT_OUTPUTS'))
    .option('--stage <name>', 'which stack of the outputs file (Roboport-<name>) when it has several')
    .option('--json', 'print results as JSON, for scripts')
    .showHelpAfterError('(roboport --help lists the commands)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Exit codes: 0 ok; 1 watched job ended FAILED, CANCELLED or TIMED_OUT; 2 usage error; 3 not signed in or
refused (401/403); 4 not found; 5 request refused by the API (400/409/413/415); 6 watched job ended
PARTIAL; 7 a download failed its sha256 check; 8 stack unreachable or 5xx; 9 confirmation declined;
130 interrupted.`,
    );
  addSessionCommands(program);
  addJobCommands(program);
  addScheduleCommands(program);
  addSecretCommands(program);
  // Sub-commands exit through the same path as the program (usage errors are 2).
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Runs the CLI and answers with the exit code; errors are printed on stderr as one readable message. */
export async function run(argv: string[]): Promise<number> {
  process.exitCode = EXIT.ok;
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof CliError) {
      process.stderr.write(`roboport: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`roboport: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return 70;
  }
}
