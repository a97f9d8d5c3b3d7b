import { Command, CommanderError } from 'commander';
import { isModgateError } from '../errors.js';
import { registerServe } from './serve.js';
import { registerConfig } from './config.js';
import { registerVerify } from './verify.js';
import { registerCerts } from './certs.js';
import { registerDemo } from './demo.js';
import { registerPolicy } from './policy.js';
import { registerAudit } from './audit.js';
import { registerUpstreams } from './upstreams.js';
import { registerPrefetch } from './prefetch.js';
import { modgateVersion } from './version.js';
import { addExamples } from './examples.js';

/** Registers every command; each lives in its own file under src/cli. */
export function buildProgram(): Command {
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
  registerServe(program);
  registerConfig(program);
  registerVerify(program);
  registerCerts(program);
  registerPolicy(program);
  registerAudit(program);
  registerUpstreams(program);
  registerPrefetch(program);
  registerDemo(program);
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
  const program = buildProgram();
  try {
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
