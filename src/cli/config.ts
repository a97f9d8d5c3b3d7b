import type { Command } from 'commander';
import YAML from 'yaml';
import { configFrom, withConfig } from './options.js';
import { createRedactor, redactConfig } from '../config/redact.js';
import type { ModgateConfig } from '../config/types.js';
import { parseGoSumdb } from '../integrity/sumdb/gosumdb.js';
import { createRouter } from '../upstream-wiring.js';

/** What serve will actually use: the upstream chain without direct/off, and the checksum database. */
export function effectiveOf(config: ModgateConfig): { upstream: string; sumdb: string } {
  const chain = createRouter(config).publicUpstreams;
  const upstream = chain
    .map((e, i) => (i === 0 ? e.url : `${chain[i - 1]!.fallBackOnError ? '|' : ','}${e.url}`))
    .join('');
  const db = parseGoSumdb(config.sumdb);
  // The effective chain is printed: it must not carry the userinfo of a configured URL.
  const redact = createRedactor(config);
  return {
    upstream: redact(upstream || '(none: modules outside private routes get 404)'),
    sumdb: db.off
      ? 'off (every module is verified by trust on first use only)'
      : redact(`${db.name}${db.url ? ` at ${db.url}` : ' (through the upstreams, else directly)'}`),
  };
}

export function registerConfig(program: Command): void {
  const config = program
    .command('config')
    .description('check or print the effective configuration');
  withConfig(
    config
      .command('check')
      .description(
        'run every check serve makes at start (schema, pins, upstreams, sumdb, TLS files, audit key, policy); writes nothing',
      ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  modgate config check --config modgate.yaml\n  MODGATE_PINS=\'{"proxy.corp.example":["sha256/..."]}\' modgate config check\n',
    )
    .action(async (opts: { config?: string }) => {
      const cfg = await configFrom(opts);
      const { validateForServe } = await import('../wiring.js');
      await validateForServe(cfg);
      const e = effectiveOf(cfg);
      process.stdout.write(
        `config ok: serve would start (upstream ${e.upstream}; checksum database ${e.sumdb})\n`,
      );
    });
  withConfig(
    config
      .command('print')
      .description(
        'print the effective config (defaults, Go env, file, MODGATE_*, flags) with secrets redacted',
      ),
  )
    .option('--format <fmt>', 'yaml or json', 'yaml')
    .addHelpText(
      'after',
      '\nExamples:\n  modgate config print\n  modgate config print --config modgate.yaml --format json\n' +
        '\nThe YAML starts with comments naming the effective upstream (direct and off dropped) and checksum\n' +
        'database; the JSON carries them as "effective".',
    )
    .action(async (opts: { config?: string; format: string }) => {
      const cfg = await configFrom(opts);
      const effective = effectiveOf(cfg);
      const shown = redactConfig(cfg) as Record<string, unknown>;
      process.stdout.write(
        opts.format === 'json'
          ? `${JSON.stringify({ ...shown, effective }, null, 2)}\n`
          : `# effective upstream: ${effective.upstream}\n# checksum database: ${effective.sumdb}\n${YAML.stringify(shown)}`,
      );
    });
}
