import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { ModgateError } from '../errors.js';
import type { ModuleFacts } from '../contracts.js';
import { buildInput } from '../policy/input.js';
import type { RegoGate } from '../policy/gate.js';
import type { RawDecision } from '../policy/engine.js';
import { parseRequirements } from '../policy/requirements.js';
import { createGate } from '../wiring.js';
import { GatewayFacts } from './facts-client.js';
import { configFrom, withConfig } from './options.js';

interface EvalOpts {
  config?: string;
  policy?: string;
  data?: string;
  gateway?: string;
  offline?: boolean;
  ca?: string;
  token?: string;
}

const ANON = { id: 'cli', method: 'anonymous' as const, groups: [] as string[] };

function common(cmd: Command): Command {
  return withConfig(cmd)
    .option('--policy <path>', 'policies folder (with build/policy.wasm) or an opa bundle .tar.gz')
    .option('--data <file>', "policy data, YAML or JSON (default: the policy folder's data.yaml)")
    .option(
      '--gateway <url>',
      'a running modgate to fetch facts from (publish time, retraction); default: $GOPROXY when it is http(s)',
    )
    .option(
      '--offline',
      'fetch no facts: rules that need a missing fact fail closed with FACT_UNAVAILABLE',
    )
    .option('--ca <file>', 'extra CA certificate (PEM) to trust for --gateway, e.g. certs/ca.pem')
    .option('--token <token>', 'token for --gateway (default $MODGATE_TOKEN)');
}

async function context(
  o: EvalOpts,
): Promise<{ gate: RegoGate; facts?: GatewayFacts; close(): Promise<void> }> {
  const config = await configFrom(o, {
    'policy.path': o.policy,
    'policy.dataFile': o.data,
    'policy.mode': 'enforce',
  });
  const { gate, engine } = await createGate(config, pino({ level: 'silent' }), {
    watch: false,
    inProcess: true,
  });
  const gw = o.offline ? undefined : (o.gateway ?? firstHttpProxy(process.env.GOPROXY));
  const token = o.token ?? process.env.MODGATE_TOKEN;
  const facts = gw
    ? new GatewayFacts(gw.replace(/\/+$/, ''), {
        ...(o.ca ? { ca: o.ca } : {}),
        ...(token ? { token } : {}),
      })
    : undefined;
  return {
    gate,
    ...(facts ? { facts } : {}),
    close: async () => (engine.close(), await facts?.close()),
  };
}

function firstHttpProxy(v: string | undefined): string | undefined {
  const first = v?.split(/[,|]/)[0]?.trim();
  return first && /^https?:\/\//.test(first) ? first : undefined;
}

/** Evaluates one module version; missing facts that a rule needs deny with FACT_UNAVAILABLE. */
async function decide(
  gate: RegoGate,
  facts: GatewayFacts | undefined,
  module: string,
  version: string,
  kind: 'zip' | 'mod' | 'info' | 'list',
): Promise<{ decision: RawDecision; facts: ModuleFacts }> {
  let f: ModuleFacts = {};
  const unavailable: string[] = [];
  if (facts) f = await facts.forVersion(module, version).catch(() => ({}));
  const d = gate.evaluate({ kind, module, version, identity: ANON, facts: f });
  const raw = gate.engineData();
  if ((kind === 'zip' || kind === 'list') && (raw.minReleaseAgeHours ?? 0) > 0 && !f.publishTime)
    unavailable.push('publish time (cool-down)');
  if ((kind === 'zip' || kind === 'list') && raw.denyRetracted && f.retracted === undefined)
    unavailable.push('retraction');
  const deny = [
    ...d.deny,
    ...unavailable.map((what) => ({
      code: 'FACT_UNAVAILABLE',
      message: `${module}@${version}: ${what} unknown${facts ? '' : ' (offline)'}`,
    })),
  ];
  return { decision: { allow: deny.length === 0, deny, warn: d.warn }, facts: f };
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
          const { decision, facts } = await decide(
            ctx.gate,
            ctx.facts,
            o.module,
            o.version,
            o.kind,
          );
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
    .option('--format <fmt>', 'text or json', 'text')
    .action(async (file: string, o: EvalOpts & { format: string }) => {
      const reqs = parseRequirements(
        file,
        await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
          throw new ModgateError('FILE_UNREADABLE', `cannot read ${file}: ${e.code ?? e.message}`);
        }),
      );
      const ctx = await context(o);
      try {
        const results = [];
        for (const r of reqs)
          results.push({
            ...r,
            ...(await decide(ctx.gate, ctx.facts, r.module, r.version, r.kind)).decision,
          });
        const denied = results.filter((r) => !r.allow);
        if (o.format === 'json')
          process.stdout.write(
            `${JSON.stringify({ file, checked: results.length, denied: denied.length, results }, null, 2)}\n`,
          );
        else process.stdout.write(report(file, results));
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

function report(
  file: string,
  results: Array<{
    module: string;
    version: string;
    kind: string;
    allow: boolean;
    deny: Array<{ code: string; message: string }>;
    warn: Array<{ code: string; message: string }>;
  }>,
): string {
  const lines = [
    `modgate policy check ${file}: ${results.length} requirements, ${results.filter((r) => !r.allow).length} denied`,
    '',
  ];
  for (const r of results) {
    const mark = r.allow ? (r.warn.length ? 'WARN ' : 'ok   ') : 'DENY ';
    lines.push(`${mark} ${r.module} ${r.version}${r.kind === 'mod' ? ' (go.mod only)' : ''}`);
    for (const d of r.deny) lines.push(`        ${d.code}: ${d.message}`);
    for (const w of r.warn) lines.push(`        warning ${w.code}: ${w.message}`);
  }
  return `${lines.join('\n')}\n`;
}
