import type { Command } from 'commander';
import { collect, configFrom, withConfig } from './options.js';
import { workerCount } from '../workers/config.js';
import { ModgateError } from '../errors.js';

interface ServeOpts {
  config?: string;
  listen?: string;
  data?: string;
  upstream?: string;
  sumdb?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecureHttp?: boolean;
  pin?: string[];
  allowHttpUpstream?: boolean;
  policy?: string;
  policyData?: string;
  policyMode?: string;
  auditDir?: string;
  workers?: string;
}

export function registerServe(program: Command): void {
  withConfig(program.command('serve').description('run the gateway'))
    .option(
      '--listen <host:port>',
      'address to listen on; port 0 picks a free port (default 127.0.0.1:8443)',
    )
    .option('--data <dir>', 'data folder: cache, sumdb state, audit trail, keys (default ./data)')
    .option(
      '--upstream <list>',
      'upstream proxies in GOPROXY syntax: URL,URL|URL (default: GOPROXY, else `go env GOPROXY`)',
    )
    .option(
      '--sumdb <spec>',
      'checksum database: "name+hash+key [URL]" (default: GOSUMDB, else sum.golang.org)',
    )
    .option('--tls-cert <file>', 'server certificate (default certs/server.pem)')
    .option('--tls-key <file>', 'server private key (default certs/server-key.pem)')
    .option('--insecure-http', 'serve plain HTTP instead of HTTPS (logs a warning)')
    .option(
      '--pin <host=sha256/BASE64>',
      'add an SPKI pin for an upstream host (repeatable)',
      collect,
    )
    .option(
      '--allow-http-upstream',
      'permit plain-HTTP upstreams (local mirrors, tests); logs a warning',
    )
    .option('--policy <path>', 'policies folder (with build/policy.wasm) or an opa bundle .tar.gz')
    .option('--policy-data <file>', 'policy data, YAML or JSON (default policies/data.yaml)')
    .option('--policy-mode <mode>', 'enforce or dry-run')
    .option('--audit-dir <dir>', 'audit trail folder (default <data>/audit)')
    .option(
      '--workers <n>',
      'server processes on the listen address: 0 = one per core when there are several (default), 1 = one process, N = a primary and N workers',
    )
    .addHelpText(
      'after',
      '\nPrecedence, lowest first: schema defaults < Go env (GOPROXY, GOSUMDB, GOPRIVATE, GONOPROXY,\n' +
        'GONOSUMDB) < config file < MODGATE_* variables < flags. See docs/configuration.md.\n' +
        '\nWith several processes (server.workers, --workers), a primary checks the config once, starts\n' +
        'the workers, restarts one that dies and drains them all on SIGTERM/SIGINT; each worker writes\n' +
        'its own audit chain (<audit dir>/chains/<replica>-wN). See docs/scale-out.md.',
    )
    .action(async (opts: ServeOpts) => {
      const config = await configFrom(opts, flagsOf(opts));
      const count = workerCount(config);
      if (count > 1) {
        const { runPrimary } = await import('../workers/primary.js');
        const { createLogger } = await import('../main.js');
        const code = await runPrimary(config, count, createLogger(config));
        process.exit(code);
      }
      // The gateway's modules load only for serve: other commands start faster.
      const { startGateway } = await import('../main.js');
      const gw = await startGateway(config);
      const stop = async (signal: string): Promise<void> => {
        gw.app.log.info({ signal }, 'shutting down: finishing in-flight responses');
        await gw.close();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop('SIGTERM'));
      process.once('SIGINT', () => void stop('SIGINT'));
      await new Promise(() => undefined);
    });
}

function flagsOf(o: ServeOpts): Record<string, unknown> {
  const pins: Record<string, string[]> = {};
  for (const p of o.pin ?? []) {
    const i = p.indexOf('=');
    if (i <= 0)
      throw new ModgateError(
        'PIN_INVALID',
        `--pin must be HOST=sha256/BASE64, got ${JSON.stringify(p)}`,
      );
    const host = p.slice(0, i);
    (pins[host] ??= []).push(p.slice(i + 1));
  }
  return {
    listen: o.listen,
    dataDir: o.data,
    upstream: o.upstream,
    sumdb: o.sumdb,
    'tls.certFile': o.tlsCert,
    'tls.keyFile': o.tlsKey,
    'tls.insecureHttp': o.insecureHttp,
    allowHttpUpstream: o.allowHttpUpstream,
    'policy.path': o.policy,
    'policy.dataFile': o.policyData,
    'policy.mode': o.policyMode,
    'audit.dir': o.auditDir,
    'server.workers': workersFlag(o.workers),
    ...(o.pin?.length ? { pins } : {}),
  };
}

function workersFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,3}$/.test(v))
    throw new ModgateError(
      'CONFIG_INVALID',
      `--workers must be a whole number, got ${JSON.stringify(v)}`,
    );
  return Number(v);
}
