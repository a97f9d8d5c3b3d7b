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
import { mapLimit } from './pool.js';
import { factsNote, isFactGap, report } from './policy-report.js';
import type { ModgateConfig } from '../config/types.js';
import { buildUpstream, createDispatcher, createRouter } from '../upstream-wiring.js';
import { noAudit } from '../contracts.js';
import type { VulnService } from '../vuln/service.js';
import { createVulnService, vulnFacts } from '../vuln/setup.js';
import { sarif } from './policy-sarif.js';
import { modgateVersion } from './version.js';

interface EvalOpts {
  config?: string;
  policy?: string;
  data?: string;
  gateway?: string;
  offline?: boolean;
  ca?: string;
  token?: string;
  vulndb?: string;
}

/** Lookups at once: enough to hide latency, few enough not to flood a gateway. */
const JOBS = 8;

const ANON = { id: 'cli', method: 'anonymous' as const, groups: [] as string[] };

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
    );
}

/** The vulnerability database for one run: --vulndb, else the config's when enabled; synced once. */
async function vulnContext(
  o: EvalOpts,
  config: ModgateConfig,
): Promise<{ service?: VulnService; close(): Promise<void> }> {
  const source = o.vulndb ?? (config.vulndb.enabled ? config.vulndb.source : undefined);
  if (!source) return { close: async () => {} };
  const cfg = { ...config, vulndb: { ...config.vulndb, enabled: true, source } };
  const up = /^https?:\/\//i.test(source)
    ? await buildUpstream(cfg, pino({ level: 'silent' }))
    : undefined;
  const service = createVulnService(cfg, { audit: noAudit, ...(up ? { client: up.client } : {}) });
  try {
    await service.sync();
  } catch (err) {
    await up?.close();
    throw err;
  }
  return { service, close: async () => (await service.close(), await up?.close()) };
}

interface Context {
  gate: RegoGate;
  facts?: GatewayFacts;
  /** Why no facts are fetched at all (offline, no upstream). */
  noFacts?: string;
  vulnFacts?: (module: string, version: string) => Pick<ModuleFacts, 'vulns' | 'vulndb'>;
  close(): Promise<void>;
}

async function context(o: EvalOpts): Promise<Context> {
  const config = await configFrom(o, {
    'policy.path': o.policy,
    'policy.dataFile': o.data,
    'policy.mode': 'enforce',
  });
  const vulns = await vulnContext(o, config);
  const { gate, engine } = await createGate(config, pino({ level: 'silent' }), {
    watch: false,
    inProcess: true,
    ...(vulns.service ? { vulns: vulnFacts(vulns.service) } : {}),
  });
  const src = await factsSource(o, config);
  return {
    gate,
    ...src,
    ...(vulns.service ? { vulnFacts: vulnFacts(vulns.service) } : {}),
    close: async () => (
      engine.close(),
      await src.facts?.close(),
      await src.dispatcher?.close(),
      await vulns.close()
    ),
  };
}

/**
 * Facts come from --gateway (a modgate, trusted with --ca), else from the
 * config's first http(s) upstream (GOPROXY, `go env GOPROXY`, the config file),
 * reached as serve reaches it: through the pinned dispatcher.
 */
async function factsSource(
  o: EvalOpts,
  config: ModgateConfig,
): Promise<{ facts?: GatewayFacts; noFacts?: string; dispatcher?: { close(): Promise<void> } }> {
  if (o.offline) return { noFacts: 'offline (--offline)' };
  if (o.gateway) {
    const token = o.token ?? process.env.MODGATE_TOKEN;
    return {
      facts: new GatewayFacts(o.gateway.replace(/\/+$/, ''), {
        ...(o.ca ? { ca: o.ca } : {}),
        ...(token ? { token } : {}),
      }),
    };
  }
  const first = createRouter(config).publicUpstreams.find((e) => /^https?:\/\//.test(e.url));
  if (!first)
    return {
      noFacts:
        'no upstream to ask: GOPROXY (environment or go env), upstream in the config and --gateway name no http(s) proxy',
    };
  const dispatcher = await createDispatcher(config, pino({ level: 'silent' }));
  const facts = new GatewayFacts(first.url.replace(/\/+$/, ''), {
    dispatcher,
    ...(o.token ? { token: o.token } : {}),
  });
  return { facts, dispatcher };
}

const COOLDOWN_GAP = 'publish time (cool-down)';

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
  if (facts) f = await facts.forVersion(module, version);
  const d = gate.evaluate({ kind, module, version, identity: ANON, facts: f });
  const raw = gate.engineData();
  if ((kind === 'zip' || kind === 'list') && (raw.minReleaseAgeHours ?? 0) > 0 && !f.publishTime)
    unavailable.push(COOLDOWN_GAP);
  if ((kind === 'zip' || kind === 'list') && raw.denyRetracted && f.retracted === undefined)
    unavailable.push('retraction');
  const deny = [
    // The policy's own PUBLISH_TIME_UNKNOWN says what the gap below says.
    ...d.deny.filter(
      (r) => !(r.code === 'PUBLISH_TIME_UNKNOWN' && unavailable.includes(COOLDOWN_GAP)),
    ),
    ...unavailable.map((what) => ({
      code: 'FACT_UNAVAILABLE',
      message: `${module}@${version}: ${what} unknown`,
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
        '\nFacts (publish time, retraction) come from --gateway, else from the upstream serve would use\n' +
        '(GOPROXY, go env GOPROXY, the config). Requests say x-modgate-purpose: preflight, so a gateway\n' +
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
          return {
            ...r,
            ...(await decide(ctx.gate, ctx.facts, r.module, r.version, r.kind)).decision,
            ...(vulns?.length ? { vulns } : {}),
          };
        });
        const denied = results.filter((r) => !r.allow);
        const gaps = results.filter((r) => r.deny.some(isFactGap)).length;
        const note = factsNote(ctx, gaps);
        if (o.format === 'sarif')
          process.stdout.write(
            `${JSON.stringify(sarif(file, text, results, modgateVersion()), null, 2)}\n`,
          );
        else if (o.format === 'json')
          process.stdout.write(
            `${JSON.stringify({ file, checked: results.length, denied: denied.length, ...(note ? { factsUnavailable: { requirements: gaps, note } } : {}), results }, null, 2)}\n`,
          );
        else process.stdout.write(report(file, results, note));
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
