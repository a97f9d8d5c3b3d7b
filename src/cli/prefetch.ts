import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import type { ModgateConfig } from '../config/types.js';
import { ModgateError } from '../errors.js';
import { parseGoSumdb } from '../integrity/sumdb/gosumdb.js';
import { createRouter } from '../upstream-wiring.js';
import { splitHostPort } from '../wiring.js';
import { GatewayClient } from '../prefetch/gateway-client.js';
import { importExport } from '../prefetch/import.js';
import { parseInput, parseModuleList, targets } from '../prefetch/inputs.js';
import { ProgressLine } from '../prefetch/progress.js';
import { runPrefetch } from '../prefetch/run.js';
import { exitCode } from '../prefetch/summary.js';
import { collect, configFrom, withConfig } from './options.js';

const PREFETCH_HELP = `
Fills a running gateway's cache through its front door: for each module version, GETs .info,
.mod and .zip (only .info and .mod for go.sum lines that name only the /go.mod), so each is
authenticated, verified, decided by policy and recorded in the audit trail with the identity of
the token and purpose "prefetch". Inputs: go.sum and go.mod files (every require), module lists
(one path@version a line; --list) and --module. Network errors and 5xx answers that are not
refusals are retried (--retries). Progress (count, bytes, rate, ETA) goes to stderr when it is
a terminal. The summary (--summary, written atomically as it goes) lists every artifact as
fetched, refused or failed with the gateway's status, error code and reason; a run that finds
one skips what is already fetched (and, with --export, still exported) and asks again for the
rest. --export DIR writes a GOPROXY tree, modgate-export.json and the checksum-database
evidence for \`modgate import DIR\` on an air-gapped gateway (docs/upstreams.md).

Exit codes:
  0  every artifact fetched (and exported, with --export)
  1  usage, input or config error: one line, error: CODE: message
  2  some artifact failed (network, 5xx, authentication), or export evidence is missing
  3  some artifact was refused (policy, integrity, not found), none failed

Examples:
  modgate prefetch go.sum --gateway https://modgate.corp.example --token-file token.txt
  modgate prefetch go.sum other/go.mod --module golang.org/x/text@v0.14.0 --export /media/usb/export
  MODGATE_TOKEN=... modgate prefetch --list modules.txt --concurrency 4`;

const IMPORT_HELP = `
Loads an export written by \`modgate prefetch --export\` into this gateway's data folder, with
the gateway stopped (import takes the data folder's lock; it refuses while serve runs). Nothing
in DIR is trusted: every artifact goes through the gateway's own fetch, verify, decide and
record path with DIR as its only upstream and checksum database: zip rules, the h1 of the zip
and go.mod against the checksum-database evidence in DIR (the signed head verified with the
configured sumdb key, each record proven by tiles) or the TOFU ledger for private modules, the
policy, and an audit record with purpose "import". Refused artifacts are not stored. The
verified tree head, tiles and lookups go into the gateway's checksum-database state, so that
its /sumdb/ relay answers the go command offline.

Exit codes:
  0  every artifact imported
  1  usage, export or config error (DATA_DIR_BUSY: a gateway runs on the data folder)
  3  some artifact was refused (listed on stderr; the rest was imported)

Examples:
  modgate import /media/usb/export --config /etc/modgate/modgate.yaml`;

interface PrefetchFlags {
  config?: string;
  gateway?: string;
  tokenFile?: string;
  ca?: string;
  module?: string[];
  list?: string[];
  concurrency: string;
  timeout: string;
  retries: string;
  summary: string;
  export?: string;
}

export function registerPrefetch(program: Command): void {
  withConfig(program.command('prefetch'))
    .description('fill a gateway cache from go.sum/go.mod files or a module list (and export it)')
    .argument('[files...]', 'go.sum, go.mod or module-list files')
    .option(
      '--gateway <url>',
      'the gateway (default: the config publicUrl, else its listen address)',
    )
    .option('--token-file <file>', 'file holding the bearer token (default $MODGATE_TOKEN)')
    .option(
      '--ca <file>',
      'CA certificate (PEM) to trust (default $SSL_CERT_FILE, else certs/ca.pem beside tls.certFile)',
    )
    .option('--module <path@version>', 'a module version (repeatable)', collect)
    .option('--list <file>', 'a module list file, one path@version a line (repeatable)', collect)
    .option('--concurrency <n>', 'requests at once', '8')
    .option('--timeout <ms>', 'deadline of each request', '300000')
    .option('--retries <n>', 'retries after a network error or a 5xx that is not a refusal', '2')
    .option('--summary <file>', 'the resumable summary', 'prefetch-summary.json')
    .option('--export <dir>', 'also write a GOPROXY tree and evidence for modgate import')
    .addHelpText('after', PREFETCH_HELP)
    .action(async (files: string[], o: PrefetchFlags) => {
      process.exitCode = await prefetch(files, o);
    });
  withConfig(program.command('import'))
    .description('verify an export and load it into the data folder (gateway stopped)')
    .argument('<dir>', 'the folder written by modgate prefetch --export')
    .option('--data <dir>', 'data folder (default: the config dataDir)')
    .addHelpText('after', IMPORT_HELP)
    .action(async (dir: string, o: { config?: string; data?: string }) => {
      process.exitCode = await runImport(dir, o);
    });
}

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ModgateError('USAGE', `--${name} must be an integer from ${min} to ${max}, not ${v}`);
  return n;
}

/** The gateway's URL: --gateway, else publicUrl, else the listen address (0.0.0.0 as loopback). */
export function gatewayUrl(config: ModgateConfig, flag?: string): string {
  if (flag) return flag.replace(/\/+$/, '');
  if (config.publicUrl) return config.publicUrl.replace(/\/+$/, '');
  const { host, port } = splitHostPort(config.listen);
  const h =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `${config.tls.insecureHttp ? 'http' : 'https'}://${h}:${port}`;
}

function caFile(config: ModgateConfig, flag?: string): string | undefined {
  if (flag) return flag;
  if (process.env.SSL_CERT_FILE) return process.env.SSL_CERT_FILE;
  const local = path.join(path.dirname(config.tls.certFile), 'ca.pem');
  return existsSync(local) ? local : undefined;
}

async function prefetch(files: string[], o: PrefetchFlags): Promise<number> {
  const concurrency = int('concurrency', o.concurrency, 1, 256);
  const deadlineMs = int('timeout', o.timeout, 100, 86_400_000);
  const retries = int('retries', o.retries, 0, 10);
  const config = await configFrom(o);
  const pairs: Array<[string, string, 'mod' | 'zip']> = [];
  for (const f of files) pairs.push(...parseInput(f, await readFile(f, 'utf8')));
  for (const f of o.list ?? []) pairs.push(...parseModuleList(f, await readFile(f, 'utf8')));
  for (const m of o.module ?? []) pairs.push(...parseModuleList('--module', m));
  const wanted = targets(pairs);
  if (wanted.length === 0)
    throw new ModgateError(
      'USAGE',
      'nothing to prefetch: name go.sum/go.mod files, --list or --module',
    );
  const token = o.tokenFile
    ? (await readFile(o.tokenFile, 'utf8')).trim()
    : process.env.MODGATE_TOKEN?.trim() || undefined;
  const ca = caFile(config, o.ca);
  const gateway = new GatewayClient(gatewayUrl(config, o.gateway), {
    deadlineMs,
    retries,
    ...(token ? { token } : {}),
    ...(ca ? { caFile: ca } : {}),
  });
  const spec = parseGoSumdb(config.sumdb);
  const router = createRouter(config);
  const total = wanted.reduce((n, t) => n + t.kinds.length, 0);
  const progress = new ProgressLine(total);
  try {
    const r = await runPrefetch({
      gateway,
      targets: wanted,
      concurrency,
      summaryFile: o.summary,
      ...(o.export ? { exportDir: o.export } : {}),
      ...(spec.off ? {} : { sumdb: { name: spec.name, verifierKey: spec.verifierKey } }),
      skipsSumdb: (m) => router.skipsSumdb(m),
      progress,
    });
    const c = r.summary.counts;
    process.stderr.write(
      `prefetch: ${c.fetched} fetched, ${c.refused} refused, ${c.failed} failed of ${r.summary.artifacts.length} artifacts (summary: ${o.summary})\n`,
    );
    if (r.manifest)
      process.stderr.write(
        `export: ${r.manifest.modules.length} module version(s) in ${o.export}${r.manifest.sumdb ? ` with ${r.manifest.sumdb} evidence` : ''}\n`,
      );
    for (const m of r.noEvidence)
      process.stderr.write(
        `export: no checksum-database evidence for ${m.module}@${m.version}: ${m.reason}\n`,
      );
    const code = exitCode(r.summary);
    return code === 0 && r.noEvidence.length ? 2 : code;
  } finally {
    await gateway.close();
  }
}

async function runImport(dir: string, o: { config?: string; data?: string }): Promise<number> {
  const config = await configFrom(o, { dataDir: o.data });
  const logger = pino({ level: 'error' }, pino.destination(2));
  let refused = 0;
  let imported = 0;
  await importExport(config, dir, logger, (x) => {
    if (x.status === 'imported') return void imported++;
    refused++;
    process.stderr.write(
      `refused: ${x.module}@${x.version} .${x.kind}: ${x.httpStatus} ${x.code ?? ''} ${(x.reason ?? '').split('\n').join(' | ')}\n`,
    );
  });
  process.stderr.write(
    `import: ${imported} artifact(s) imported, ${refused} refused into ${config.dataDir}\n`,
  );
  return refused ? 3 : 0;
}
