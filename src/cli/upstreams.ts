import type { Command } from 'commander';
import pino from 'pino';
import { ModgateError } from '../errors.js';
import { parseGoSumdb } from '../integrity/sumdb/gosumdb.js';
import {
  DEFAULT_SAMPLE_MODULES,
  measureUpstreams,
  rank,
  type UpstreamMeasure,
} from '../routing/measure.js';
import { buildUpstream, configuredUpstreams } from '../upstream-wiring.js';
import { collect, configFrom, withConfig } from './options.js';

const HELP = `
Measures every configured upstream (the public chain and each proxy route) from here, over
the same pinned client as serve: connection setup (TCP and TLS), time to first byte and error
rate over --samples requests of @v/list, throughput on one zip of known size, @v/list freshness
of the sample modules compared between the upstreams, and whether each upstream's
/sumdb/<name>/supported answers. Progress goes to stderr when it is a terminal.

Exit codes:
  0  at least one upstream answered (the table ends with a recommendation)
  1  usage or config error: one line, error: CODE: message
  2  every upstream failed

Examples:
  modgate upstreams probe --config modgate.yaml
  modgate upstreams probe --json --samples 10 --module golang.org/x/text`;

export function registerUpstreams(program: Command): void {
  const upstreams = program.command('upstreams').description('measure the configured upstreams');
  withConfig(upstreams.command('probe'))
    .description('measure every configured upstream and recommend an order')
    .option('--json', 'print the measurements as JSON')
    .option('--samples <n>', 'requests per upstream for time to first byte and errors', '5')
    .option('--module <path>', 'sample module (repeatable; default a small built-in list)', collect)
    .option('--upstream <list>', 'upstreams to measure, GOPROXY syntax (default: the config)')
    .addHelpText('after', HELP)
    .action(async (o: ProbeFlags) => {
      process.exitCode = await probe(o);
    });
}

interface ProbeFlags {
  config?: string;
  json?: boolean;
  samples: string;
  module?: string[];
  upstream?: string;
}

async function probe(o: ProbeFlags): Promise<number> {
  const samples = Number(o.samples);
  if (!Number.isInteger(samples) || samples < 1 || samples > 1000)
    throw new ModgateError(
      'USAGE',
      `--samples must be an integer from 1 to 1000, not ${o.samples}`,
    );
  const config = await configFrom(o, { upstream: o.upstream });
  const urls = configuredUpstreams(config);
  if (urls.length === 0)
    throw new ModgateError('UPSTREAM_NONE', 'no upstream is configured: set upstream or GOPROXY');
  const spec = parseGoSumdb(config.sumdb);
  // serve's start-up warnings (optional pinning, plain HTTP) are not the
  // probe's output: only errors reach stderr.
  const logger = pino({ level: 'error' }, pino.destination(2));
  const upstream = await buildUpstream(config, logger);
  const tty = Boolean(process.stderr.isTTY);
  const steps = urls.length * (samples > 0 ? 4 : 3);
  let n = 0;
  try {
    const ms = await measureUpstreams({
      client: upstream.client,
      upstreams: urls,
      modules: o.module?.length ? o.module : DEFAULT_SAMPLE_MODULES,
      samples,
      sumdbName: spec.off ? null : spec.name,
      onStep: (what) => {
        if (tty) process.stderr.write(`\r\x1b[K[${++n}/${steps}] ${what}`);
      },
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const best = rank(ms);
    process.stdout.write(
      o.json
        ? `${JSON.stringify({ upstreams: ms, recommended: best.map((m) => m.upstream) }, null, 2)}\n`
        : table(ms, best),
    );
    return best.length ? 0 : 2;
  } finally {
    await upstream.close();
  }
}

function table(ms: UpstreamMeasure[], best: UpstreamMeasure[]): string {
  const head = ['upstream', 'connect', 'ttfb p50', 'ttfb p95', 'errors', 'zip', 'missing', 'sumdb'];
  const rows = ms.map((m) => [
    m.upstream,
    m.connectMs === null ? '-' : `${m.connectMs} ms`,
    m.ttfbMs.median === null ? '-' : `${m.ttfbMs.median} ms`,
    m.ttfbMs.p95 === null ? '-' : `${m.ttfbMs.p95} ms`,
    `${m.errors}/${m.samples}`,
    m.zip ? `${(m.zip.bytesPerSecond / 1048576).toFixed(1)} MiB/s` : '-',
    String(Object.values(m.lists).reduce((k, l) => k + (l ? l.missing.length : 0), 0)) +
      (Object.values(m.lists).some((l) => !l) ? ' (no list)' : ''),
    m.sumdb
      ? m.sumdb.supported
        ? 'yes'
        : `no${m.sumdb.status ? ` (${m.sumdb.status})` : ''}`
      : 'off',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [line(head), ...rows.map(line)];
  const zips = new Set(ms.map((m) => m.zip?.sha256).filter(Boolean));
  if (zips.size > 1)
    out.push(
      '',
      'WARNING: the upstreams served different bytes for the same zip: they are not equivalent',
    );
  for (const m of ms) if (m.firstError) out.push(`${m.upstream}: ${m.firstError}`);
  out.push('', recommendation(best, zips.size <= 1));
  return `${out.join('\n')}\n`;
}

function recommendation(best: UpstreamMeasure[], same: boolean): string {
  if (best.length === 0) return 'recommendation: none: every upstream failed';
  const order = best.map((m) => m.upstream);
  const lines = [`recommendation: upstream: ${order.join('|')}`];
  if (order.length > 1 && same)
    lines.push(
      `  and route among them by score: mirrors: { groups: [{ members: [${order.join(', ')}], equivalent: true }] }`,
    );
  return lines.join('\n');
}
