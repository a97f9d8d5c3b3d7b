import type { Command } from 'commander';
import { ModgateError } from '../errors.js';
import { buildCycloneDx } from '../audit/cyclonedx.js';
import {
  formatRecords,
  parseTimeArg,
  type OutputFormat,
  type QueryFilter,
} from '../audit/query.js';
import { buildReport, formatReport } from '../audit/report.js';
import { assertAuditDir } from '../audit/segments.js';
import { chainRecords, listChains, type Chain } from '../audit/chains.js';
import type { AuditRecord } from '../audit/records.js';
import { auditDir, auditKeyFile } from '../audit/places.js';
import { pgRecords, runVerifyPostgres, type PgSource } from './audit-pg.js';
import { findVerifierKey, keyFileCandidates, runVerify } from './audit-verify.js';
import { modgateVersion } from './version.js';
import { collect, configFrom, withConfig } from './options.js';
import { readPasswordFile } from '../state/open.js';

interface DirOpts {
  config?: string;
  auditDir?: string;
  data?: string;
  postgres?: string;
  replica?: string[];
}

interface AuditState {
  /** The folder of an fs trail (unset with a postgres source). */
  dir: string;
  /** The replicas' chains in PostgreSQL (audit.store: postgres, or --postgres). */
  pg?: PgSource;
  keyFiles: string[];
  verifierKey?: string;
  /** The folder's chains: its own, and one per worker process (server.workers). */
  chains?: Chain[];
}

/** The audit trail and key of the gateway's config (--config, MODGATE_*, --data, --audit-dir, --postgres), as serve reads them. */
async function stateOf(o: DirOpts): Promise<AuditState> {
  const config = await configFrom(o, { 'audit.dir': o.auditDir, dataDir: o.data });
  const key = config.audit.verifierKey ? { verifierKey: config.audit.verifierKey } : {};
  if (o.postgres || (config.audit.store === 'postgres' && !o.auditDir)) {
    const url = o.postgres ?? config.state.postgres?.url;
    const replicas = o.replica?.flatMap((r) => r.split(',')).filter(Boolean);
    // The gateway's own password file applies to the gateway's own database only.
    const password = o.postgres ? undefined : readPasswordFile(config);
    return {
      dir: '',
      pg: {
        ...(url ? { url } : {}),
        ...(password ? { password } : {}),
        ...(replicas?.length ? { replicas } : {}),
      },
      keyFiles: [auditKeyFile(config)],
      ...key,
    };
  }
  const dir = auditDir(config);
  await assertAuditDir(dir);
  const explicitDir = Boolean(o.auditDir) && !o.data && !config.audit.keyFile;
  const chains = await listChains(dir);
  return {
    dir,
    chains,
    keyFiles: keyFileCandidates(dir, auditKeyFile(config), explicitDir),
    ...key,
  };
}

/** True when the trail is several chains (replicas or worker processes): records name theirs. */
function manyChains(s: AuditState): boolean {
  return Boolean(s.pg) || (s.chains ?? []).some((c) => c.replica !== undefined);
}

/** The records of the trail: in seq order (one chain), else by time across chains. */
function recordsOf(s: AuditState, filter: QueryFilter): AsyncIterable<AuditRecord> {
  if (s.pg) return pgRecords(s.pg, filter);
  return chainRecords(s.chains ?? [{ dir: s.dir }], filter);
}

function withDir(cmd: Command): Command {
  return withConfig(cmd)
    .option('--data <dir>', "the gateway's data folder (default ./data, as serve)")
    .option('--audit-dir <dir>', 'audit trail folder (default <data>/audit)')
    .option(
      '--postgres <url>',
      "read every replica's chain from this PostgreSQL database (default with audit.store: postgres: state.postgres.url, else the PG* environment)",
    )
    .option(
      '--replica <id>',
      'with a PostgreSQL trail: only this replica (repeatable, or comma-separated)',
      collect,
    );
}

function filterOpts(cmd: Command): Command {
  return cmd
    .option('--module <glob>', 'module path glob, e.g. "golang.org/x/*"')
    .option('--version <version>', 'exact version')
    .option('--client <id>', 'client identity')
    .option('--decision <d>', 'allow, deny or warn')
    .option('--code <code>', 'a decision or security code, e.g. VERSION_BANNED')
    .option('--since <time>', 'RFC 3339 time, or a duration back from now such as 24h or 30d')
    .option('--until <time>', 'RFC 3339 time, or a duration back from now');
}

function filterOf(o: Record<string, string | undefined>): QueryFilter {
  const f: QueryFilter = {};
  if (o.module) f.module = o.module;
  if (o.version) f.version = o.version;
  if (o.client) f.client = o.client;
  if (o.decision) {
    if (!['allow', 'deny', 'warn'].includes(o.decision))
      throw new ModgateError(
        'AUDIT_QUERY_INVALID',
        `unknown decision ${JSON.stringify(o.decision)}: use allow, deny or warn`,
      );
    f.decision = o.decision as QueryFilter['decision'];
  }
  if (o.code) f.code = o.code;
  if (o.since) f.since = parseTimeArg(o.since);
  if (o.until) f.until = parseTimeArg(o.until);
  return f;
}

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

function registerVerifyCmd(audit: Command): void {
  withDir(audit.command('verify'))
    .description(
      'check the hash chain and every signed checkpoint; exit 1 and the first bad record on failure',
    )
    .option(
      '--verifier-key <key>',
      "the gateway's audit verifier key (default: audit.verifierKey, else <data>/keys/audit.key)",
    )
    .option(
      '--shipped <file>',
      'checkpoints received off the box (SIEM or witness), to catch a re-signed or cut log',
    )
    .option(
      '--require-checkpoints',
      'exit 1 when no signed checkpoint vouches for the records (default: a WARNING, exit 0)',
    )
    .addHelpText(
      'after',
      examples([
        'modgate audit verify --data /var/lib/modgate',
        'modgate audit verify --audit-dir ./copy/audit --verifier-key modgate-audit+1a2b3c4d+AX...',
        'modgate audit verify --data /var/lib/modgate --shipped received.notes --require-checkpoints',
        'modgate audit verify --config modgate.yaml   # audit.store: postgres: every replica',
        'modgate audit verify --postgres postgres://auditor@db/modgate --verifier-key modgate-audit+...',
      ]) +
        '\nWith a PostgreSQL trail, or a folder with worker chains (server.workers): one verdict line per' +
        '\nchain, and BROKEN names the replica and seq.' +
        '\nExit 0: intact (an unauthenticated trail, with no checkpoint, prints a WARNING).\n' +
        'Exit 1: broken at a record, checkpoints signed by another key, or an error.',
    )
    .action(
      async (
        o: DirOpts & { verifierKey?: string; shipped?: string; requireCheckpoints?: boolean },
      ) => {
        const s = await stateOf(o);
        const key = await findVerifierKey({
          ...(o.verifierKey ? { flag: o.verifierKey } : {}),
          ...(s.verifierKey ? { configKey: s.verifierKey } : {}),
          keyFiles: s.keyFiles,
        });
        if (s.pg) {
          process.exitCode = await runVerifyPostgres({
            source: s.pg,
            key,
            ...(o.shipped ? { shipped: o.shipped } : {}),
            ...(o.requireCheckpoints ? { requireCheckpoints: true } : {}),
          });
          return;
        }
        process.exitCode = await runVerify({
          dir: s.dir,
          chains: s.chains ?? [{ dir: s.dir }],
          key,
          ...(o.shipped ? { shipped: o.shipped } : {}),
          ...(o.requireCheckpoints ? { requireCheckpoints: true } : {}),
        });
      },
    );
}

export function registerAudit(program: Command): void {
  const audit = program
    .command('audit')
    .description('verify, query and report on the tamper-evident audit trail');
  registerVerifyCmd(audit);
  filterOpts(withDir(audit.command('query')))
    .description('print matching records (json: one object per line)')
    .option('--format <fmt>', 'table, json or csv', 'table')
    .addHelpText(
      'after',
      examples([
        'modgate audit query --data /var/lib/modgate --decision deny --since 24h',
        'modgate audit query --module "golang.org/x/*" --format csv > served.csv',
        'modgate audit query --format json | head',
        'modgate audit query --config modgate.yaml --replica gw-2 --since 1h   # PostgreSQL trail',
      ]) + '\nA reader that stops early (head) ends the output quietly with exit 0.',
    )
    .action(async (o: DirOpts & Record<string, string | undefined>) => {
      const format = (o.format ?? 'table') as OutputFormat;
      if (!['table', 'json', 'csv'].includes(format))
        throw new ModgateError(
          'AUDIT_QUERY_INVALID',
          `unknown format ${format}: use table, json or csv`,
        );
      const filter = filterOf(o);
      const s = await stateOf(o);
      const replicas = { replicas: manyChains(s) };
      for await (const chunk of formatRecords(recordsOf(s, filter), format, replicas))
        process.stdout.write(chunk);
    });
  withDir(audit.command('report'))
    .description(
      'modules served (first and last seen, clients), denials by code, warnings and security events for a period',
    )
    .option('--since <time>', 'RFC 3339 time or a duration such as 30d')
    .option('--until <time>', 'RFC 3339 time or a duration')
    .option('--format <fmt>', 'table or json', 'table')
    .addHelpText(
      'after',
      examples([
        'modgate audit report --data /var/lib/modgate --since 30d',
        'modgate audit report --since 2026-01-01 --until 2026-02-01 --format json',
      ]),
    )
    .action(async (o: DirOpts & { since?: string; until?: string; format: string }) => {
      if (!['table', 'json'].includes(o.format))
        throw new ModgateError(
          'AUDIT_QUERY_INVALID',
          `unknown format ${o.format}: use table or json`,
        );
      const filter = filterOf({ since: o.since, until: o.until });
      const s = await stateOf(o);
      const rep = await buildReport(recordsOf(s, filter));
      process.stdout.write(formatReport(rep, o.format === 'json' ? 'json' : 'table'));
    });
  withDir(audit.command('export'))
    .description(
      'export the modules served in a period as a CycloneDX 1.5 SBOM (purls, SHA-256, go:h1, go:mod-h1)',
    )
    .option('--format <fmt>', 'cyclonedx', 'cyclonedx')
    .option('--since <time>', 'RFC 3339 time or a duration such as 30d')
    .option('--until <time>', 'RFC 3339 time or a duration')
    .addHelpText(
      'after',
      examples(['modgate audit export --data /var/lib/modgate --since 30d > sbom.cdx.json']),
    )
    .action(async (o: DirOpts & { format: string; since?: string; until?: string }) => {
      if (o.format !== 'cyclonedx')
        throw new ModgateError(
          'AUDIT_QUERY_INVALID',
          `unknown export format ${o.format}: use cyclonedx`,
        );
      const f = filterOf({ since: o.since, until: o.until });
      const s = await stateOf(o);
      const bom = await buildCycloneDx(recordsOf(s, f), {
        ...(f.since ? { since: f.since } : {}),
        ...(f.until ? { until: f.until } : {}),
        toolVersion: modgateVersion(),
      });
      process.stdout.write(`${JSON.stringify(bom, null, 2)}\n`);
    });
}
