import type { Command } from 'commander';
import { configFrom, withConfig } from './options.js';
import { redactConfig } from '../config/redact.js';
import YAML from 'yaml';

export function registerConfig(program: Command): void {
  const config = program
    .command('config')
    .description('check or print the effective configuration');
  withConfig(
    config.command('check').description('validate the config; every violation is reported at once'),
  ).action(async (opts: { config?: string }) => {
    await configFrom(opts);
    process.stdout.write('config ok\n');
  });
  withConfig(
    config
      .command('print')
      .description('print the effective config (defaults, env, file, flags) with secrets redacted'),
  )
    .option('--format <fmt>', 'yaml or json', 'yaml')
    .action(async (opts: { config?: string; format: string }) => {
      const effective = redactConfig(await configFrom(opts));
      process.stdout.write(
        opts.format === 'json'
          ? `${JSON.stringify(effective, null, 2)}\n`
          : YAML.stringify(effective),
      );
    });
}
