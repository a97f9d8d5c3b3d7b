import type { Command } from 'commander';
import { ModgateError } from '../errors.js';
import { readAuditKey } from '../audit/checkpoint.js';
import { buildCycloneDx } from '../audit/cyclonedx.js';
import {
  formatRecords,
  parseTimeArg,
  queryAudit,
  type OutputFormat,
  type QueryFilter,
} from '../audit/query.js';
import { buildReport, formatReport } from '../audit/report.js';
import { verifyAudit } from '../audit/verify.js';
import { auditDir, auditKeyFile } from '../wiring.js';
import { configFrom, withConfig } from './options.js';
import { Progress } from './progress.js';

interface DirOpts {
  config?: string;
  auditDir?: string;
}

async function dirOf(o: DirOpts): Promise<{ dir: string; verifierKey?: string; keyFile: string }> {
  const config = await configFrom(o, { 'audit.dir': o.auditDir });
  return {
    dir: auditDir(config),
    keyFile: auditKeyFile(config),
    ...(config.audit.verifierKey ? { verifierKey: config.audit.verifierKey } : {}),
  };
}

function withDir(cmd: Command): Command {
  return withConfig(cmd).option('--audit-dir <dir>', 'audit trail folder (default <data>/audit)');
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
  if (o.decision) f.decision = o.decision as QueryFilter['decision'];
  if (o.code) f.code = o.code;
  if (o.since) f.since = parseTimeArg(o.since);
  if (o.until) f.until = parseTimeArg(o.until);
  return f;
}

export function registerAudit(program: Command): void {
  const audit = program
    .command('audit')
    .description('verify, query and report on the tamper-evident audit trail');
  withDir(audit.command('verify'))
    .description(
      'check the hash chain and every signed checkpoint; exit 1 and the first bad record number on failure',
    )
    .option(
      '--verifier-key <key>',
      'the audit verifier key (default: audit.verifierKey, else the local key file)',
    )
    .option(
      '--shipped <file>',
      'checkpoints received off the box (SIEM or witness), to catch a re-signed or cut log',
    )
    .action(async (o: DirOpts & { verifierKey?: string; shipped?: string }) => {
      const d = await dirOf(o);
      const verifierKey =
        o.verifierKey ?? d.verifierKey ?? (await readAuditKey(d.keyFile)).verifierKey;
      const progress = new Progress(0, 'verifying');
      const r = await verifyAudit({
        dir: d.dir,
        verifierKey,
        ...(o.shipped ? { shippedCheckpoints: o.shipped } : {}),
        onProgress: () => progress.tick(),
      });
      progress.done();
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
      if (r.ok) {
        process.stdout.write(
          `audit trail intact: ${r.records} records, ${r.checkpoints} signed checkpoints, ${r.unsigned} records after the newest checkpoint\n`,
        );
        return;
      }
      const bad = r.firstBad!;
      process.stdout.write(
        `audit trail BROKEN at record ${bad.seq} (${bad.segment}, line ${bad.line}): ${bad.reason}\n`,
      );
      process.exitCode = 1;
    });
  filterOpts(withDir(audit.command('query')))
    .description('print matching records (json: one object per line)')
    .option('--format <fmt>', 'table, json or csv', 'table')
    .action(async (o: DirOpts & Record<string, string | undefined>) => {
      const format = (o.format ?? 'table') as OutputFormat;
      if (!['table', 'json', 'csv'].includes(format))
        throw new ModgateError('AUDIT_QUERY_INVALID', `unknown format ${format}`);
      const d = await dirOf(o);
      for await (const chunk of formatRecords(queryAudit(d.dir, filterOf(o)), format))
        process.stdout.write(chunk);
    });
  withDir(audit.command('report'))
    .description(
      'modules served (first and last seen, clients), denials by code and security events for a period',
    )
    .option('--since <time>', 'RFC 3339 time or a duration such as 30d')
    .option('--until <time>', 'RFC 3339 time or a duration')
    .option('--format <fmt>', 'table or json', 'table')
    .action(async (o: DirOpts & { since?: string; until?: string; format: string }) => {
      const d = await dirOf(o);
      const rep = await buildReport(
        queryAudit(d.dir, filterOf({ since: o.since, until: o.until })),
      );
      process.stdout.write(formatReport(rep, o.format === 'json' ? 'json' : 'table'));
    });
  withDir(audit.command('export'))
    .description(
      'export the modules served in a period as a CycloneDX 1.5 SBOM (purls, SHA-256, go:h1)',
    )
    .option('--format <fmt>', 'cyclonedx', 'cyclonedx')
    .option('--since <time>', 'RFC 3339 time or a duration such as 30d')
    .option('--until <time>', 'RFC 3339 time or a duration')
    .action(async (o: DirOpts & { format: string; since?: string; until?: string }) => {
      if (o.format !== 'cyclonedx')
        throw new ModgateError('AUDIT_QUERY_INVALID', `unknown export format ${o.format}`);
      const d = await dirOf(o);
      const f = filterOf({ since: o.since, until: o.until });
      const bom = await buildCycloneDx(queryAudit(d.dir, f), {
        ...(f.since ? { since: f.since } : {}),
        ...(f.until ? { until: f.until } : {}),
      });
      process.stdout.write(`${JSON.stringify(bom, null, 2)}\n`);
    });
}
