import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModgateError } from '../errors.js';
import { buildInput } from '../policy/input.js';
import { parseRequirements } from '../policy/requirements.js';
import { withConfig } from './options.js';
import { mapLimit } from './pool.js';
import { factsNote, isFactGap, report } from './policy-report.js';
import { ANON, context, decide, type EvalOpts } from './policy-context.js';
import { sarif } from './policy-sarif.js';
import { modgateVersion } from './version.js';

/** Lookups at once: enough to hide latency, few enough not to flood a gateway. */
const JOBS = 8;

function common(cmd: Command): Command {
  return withConfig(cmd)
    .option('--policy <path>', 'policies folder (with build/policy.wasm) or an opa bundle .tar.gz')
    .option('--data <file>', "policy data, YAML or JSON (default: the policy folder's data.yaml)")
    .option(
      '--gateway <url>',
      'a running modgate to fetch facts from (publish time, retraction); default: the upstream serve would use',
    )
    .option(
      '--offline',
      'fetch no facts: rules that need a missing fact fail closed with FACT_UNAVAILABLE',
    )
    .option('--ca <file>', 'extra CA certificate (PEM) to trust for --gateway, e.g. certs/ca.pem')
    .option('--token <token>', 'token for --gateway (default $MODGATE_TOKEN)')
    .option(
      '--vulndb <source>',
      'vulnerability database: a URL in the v1 layout (e.g. a modgate /vuln/ mirror), a vulndb.zip or a folder; default: vulndb.source when vulndb.enabled',
    )
    .option(
      '--no-licenses',
      'download no zip: licenses are not read (license rules then fail closed with FACT_UNAVAILABLE)',
    );
}

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('evaluate and test the Rego policy, and pre-flight go.mod/go.sum files in CI');
  common(policy.command('eval'))
    .description(
      'print the decision and the input document for one module version (exit 0 allow, 1 deny)',
    )
    .requiredOption('--module <path>', 'module path')
    .requiredOption('--version <version>', 'module version')
    .option('--kind <kind>', 'request kind: zip, mod, info or list', 'zip')
    .action(
      async (
        o: EvalOpts & { module: string; version: string; kind: 'zip' | 'mod' | 'info' | 'list' },
      ) => {
        const ctx = await context(o);
        try {
          const { decision, facts, licenseNote } = await decide(ctx, o.module, o.version, o.kind);
          if (licenseNote) process.stderr.write(`note: licenses not read: ${licenseNote}\n`);
          const note = factsNote(ctx, decision.deny.some(isFactGap) ? 1 : 0);
          if (note) process.stderr.write(`note: ${note}\n`);
          const input = buildInput(
            { kind: o.kind, module: o.module, version: o.version, identity: ANON, facts },
            ctx.gate.engineDataCompiled(),
            new Date(),
          );
          process.stdout.write(`${JSON.stringify({ decision, input }, null, 2)}\n`);
          process.exitCode = decision.allow ? 0 : 1;
        } finally {
          await ctx.close();
        }
      },
    );
  common(policy.command('check <file>'))
    .description(
      'evaluate every requirement of a go.mod or go.sum (CI pre-flight): exit 1 on any denial',
    )
    .option('--format <fmt>', 'text, json or sarif (GitHub and GitLab code scanning)', 'text')
    .option('--jobs <n>', `requirements checked at once (default ${JOBS}, at most 32)`)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  modgate policy check go.sum\n' +
        '  modgate policy check go.sum --gateway https://modgate.corp.example --ca certs/ca.pem --token "$MODGATE_TOKEN"\n' +
        '  modgate policy check go.mod --offline --format json\n' +
        '  modgate policy check go.sum --vulndb https://modgate.corp.example/vuln --format sarif > modgate.sarif\n' +
        '  modgate policy check go.sum --vulndb ./vulndb.zip --offline   # air-gapped\n' +
        '\nFacts (publish time, retraction, deprecation) come from --gateway, else from the upstream serve\n' +
        'would use (GOPROXY, go env GOPROXY, the config). Licenses are read from each zip once it is\n' +
        'verified: against its go.sum line, the checksum database, or by the gateway that served it.\n' +
        'Requests say x-modgate-purpose: preflight, so a gateway\n' +
        'records them as pre-flight traffic. Exit 1 on any denial.',
    )
    .action(async (file: string, o: EvalOpts & { format: string; jobs?: string }) => {
      if (!['text', 'json', 'sarif'].includes(o.format))
        throw new ModgateError('USAGE', `--format must be text, json or sarif, got ${o.format}`);
      const jobs = o.jobs === undefined ? JOBS : Number(o.jobs);
      if (!Number.isInteger(jobs) || jobs < 1 || jobs > 32)
        throw new ModgateError(
          'USAGE',
          `--jobs must be a whole number from 1 to 32, got ${o.jobs}`,
        );
      const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new ModgateError('FILE_UNREADABLE', `cannot read ${file}: ${e.code ?? e.message}`);
      });
      const reqs = parseRequirements(file, text);
      const ctx = await context(o);
      try {
        const results = await mapLimit(reqs, jobs, async (r) => {
          const vulns = ctx.vulnFacts?.(r.module, r.version).vulns;
          const e = await decide(ctx, r.module, r.version, r.kind, r.h1);
          const { h1: _h1, ...req } = r;
          return {
            ...req,
            ...e.decision,
            ...(vulns?.length ? { vulns } : {}),
            ...(e.facts.licenses ? { licenses: e.facts.licenses } : {}),
            ...(e.licenseNote ? { licenseNote: e.licenseNote } : {}),
            ...(e.facts.deprecated ? { deprecated: e.facts.deprecated } : {}),
          };
        });
        const denied = results.filter((r) => !r.allow);
        // A license not read says why on its own line; the note covers the facts source as a whole.
        const gaps = results.filter((r) =>
          r.deny.some(
            (d) => isFactGap(d) && (ctx.noFacts || !d.message.endsWith(': license unknown')),
          ),
        ).length;
        const note = factsNote(ctx, gaps);
        if (o.format === 'sarif')
          process.stdout.write(
            `${JSON.stringify(sarif(file, text, results, modgateVersion()), null, 2)}\n`,
          );
        else if (o.format === 'json')
          process.stdout.write(
            `${JSON.stringify({ file, checked: results.length, denied: denied.length, ...(note ? { factsUnavailable: { requirements: gaps, note } } : {}), results }, null, 2)}\n`,
          );
        else process.stdout.write(report(file, results, note, ctx.noLicenses));
        process.exitCode = denied.length ? 1 : 0;
      } finally {
        await ctx.close();
      }
    });
  policy
    .command('test [dir]')
    .description(
      'run the Rego unit tests with `opa test` (installs opa v1.22.2 with go install when missing)',
    )
    .action((dir: string | undefined) => {
      const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
      const opa = spawnSync('bash', [path.join(root, 'scripts', 'install-opa.sh')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      }).stdout.trim();
      if (!opa)
        throw new ModgateError(
          'OPA_UNAVAILABLE',
          'the opa CLI is not available and could not be installed',
        );
      const r = spawnSync(opa, ['test', dir ?? path.join(root, 'policies'), '-v'], {
        stdio: 'inherit',
      });
      process.exitCode = r.status ?? 1;
    });
}
