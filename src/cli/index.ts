import { Command, CommanderError } from 'commander';
import { isModgateError } from '../errors.js';
import { registerServe } from './serve.js';
import { registerConfig } from './config.js';
import { registerVerify } from './verify.js';
import { registerCerts } from './certs.js';
import { registerDemo } from './demo.js';
import { registerPolicy } from './policy.js';
import { registerAudit } from './audit.js';

/** Registers every command; each lives in its own file under src/cli. */
export function buildProgram(): Command {
  const program = new Command('modgate')
    .description(
      'A security gateway for Go modules: a GOPROXY that verifies every .zip and .mod against the\n' +
        'checksum database, enforces Rego policies, and keeps a tamper-evident audit trail.',
    )
    .version(process.env.npm_package_version ?? '0.1.0')
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride();
  registerServe(program);
  registerConfig(program);
  registerVerify(program);
  registerCerts(program);
  registerPolicy(program);
  registerAudit(program);
  registerDemo(program);
  return program;
}

/** Runs the CLI; returns the exit code. Errors print as `error: CODE: message`. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (isModgateError(err)) {
      process.stderr.write(`error: ${err.code}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`error: INTERNAL: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
