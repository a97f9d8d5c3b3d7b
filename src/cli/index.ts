import { Command, CommanderError } from 'commander';
import { isModgateError } from '../errors.js';

type Register = (program: Command) => void;

/**
 * Each command's file, by the names it registers, in help order. A run loads
 * only the file of the command it names (the gateway's modules, the policy
 * engine or the PostgreSQL client load only for the commands that use them);
 * the top-level help, `help` and unknown commands load them all.
 */
const COMMANDS: Array<[names: string[], load: () => Promise<Register>]> = [
  [['serve'], async () => (await import('./serve.js')).registerServe],
  [['config'], async () => (await import('./config.js')).registerConfig],
  [['verify'], async () => (await import('./verify.js')).registerVerify],
  [['certs', 'pins'], async () => (await import('./certs.js')).registerCerts],
  [['policy'], async () => (await import('./policy.js')).registerPolicy],
  [['audit'], async () => (await import('./audit.js')).registerAudit],
  [['upstreams'], async () => (await import('./upstreams.js')).registerUpstreams],
  [['prefetch', 'import'], async () => (await import('./prefetch.js')).registerPrefetch],
  [['demo'], async () => (await import('./demo.js')).registerDemo],
];
import { modgateVersion } from './version.js';
import { addExamples } from './examples.js';

/**
 * Registers the commands (each lives in its own file under src/cli): with
 * argv, only the one argv names when it names one; else every command.
 */
export async function buildProgram(argv?: string[]): Promise<Command> {
  const program = new Command('modgate')
    .description(
      'A security gateway for Go modules: a GOPROXY that verifies every .zip and .mod against the\n' +
        'checksum database, enforces Rego policies, and keeps a tamper-evident audit trail.',
    )
    .version(modgateVersion())
    .enablePositionalOptions()
    .configureOutput({
      // A usage error is one line like every other failure; `--help` says the rest.
      outputError: (str, write) => write(`${oneLine(`USAGE: ${str.replace(/^error: /, '')}`)}\n`),
    })
    .exitOverride()
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  modgate serve --config modgate.yaml\n' +
        '  modgate demo\n' +
        '  modgate audit verify --data /var/lib/modgate\n' +
        '  modgate policy check go.sum\n' +
        '  modgate upstreams probe --config modgate.yaml\n' +
        '\nEvery failure prints one line, error: CODE: message, and exits 1 (docs/errors.md).',
    );
  const first = argv?.[0];
  const named = COMMANDS.find(([names]) => first !== undefined && names.includes(first));
  for (const [, load] of named ? [named] : COMMANDS) (await load())(program);
  addExamples(program);
  return program;
}

/** `error: CODE: message` on one line: multi-line messages (every config violation) are joined. */
export function oneLine(text: string): string {
  return `error: ${text
    .trim()
    .replace(/:\s*\n\s*/g, ': ')
    .replace(/\s*\n\s*/g, '; ')}`;
}

const FILE_ERRNOS = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'ELOOP']);

/**
 * A failure no command turned into a ModgateError. A file the user named that
 * cannot be read is common enough to get its own code; anything else is
 * INTERNAL, still on one line.
 */
export function unexpectedLine(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof Error && e.code && FILE_ERRNOS.has(e.code) && e.path)
    return oneLine(`FILE_UNREADABLE: cannot read ${e.path}: ${e.code}`);
  return oneLine(`INTERNAL: ${err instanceof Error ? err.message : String(err)}`);
}

/**
 * A reader that stops early (`modgate audit query | head`) closes the pipe:
 * that is the reader's choice, not a failure, so modgate exits 0 quietly.
 */
function quietOnClosedPipe(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`${oneLine(`OUTPUT_FAILED: cannot write to stdout: ${err.message}`)}\n`);
    process.exit(1);
  });
}

/** Runs the CLI; returns the exit code. Every failure prints one `error: CODE: message` line. */
export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 1;
    const line = isModgateError(err) ? oneLine(`${err.code}: ${err.message}`) : unexpectedLine(err);
    process.stderr.write(`${line}\n`);
    if (process.env.MODGATE_DEBUG && err instanceof Error && err.stack)
      process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
