import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { ModgateError, asModgateError } from '../errors.js';
import { hashGoMod } from '../integrity/dirhash.js';
import { verifyModuleZip } from '../integrity/zip.js';
import { expectedHash } from '../integrity/checksums.js';
import { buildUpstream, createRouter, setupSumdb } from '../upstream-wiring.js';
import { FsBlobStore } from '../storage/fs.js';
import { configFrom, withConfig } from './options.js';
import { Progress } from './progress.js';
import type { UpstreamClient } from '../upstream/client.js';

export function registerVerify(program: Command): void {
  const verify = program
    .command('verify')
    .description('verify module zips, go.mod files and go.sum files');
  verify
    .command('zip <file>')
    .description("check a module zip against the go command's rules and print its h1 hash")
    .requiredOption('--module <path>', 'module path (unescaped, e.g. github.com/BurntSushi/toml)')
    .requiredOption('--version <version>', 'canonical version, e.g. v1.2.3')
    .addHelpText(
      'after',
      '\nOn success the h1: hash is printed alone on the last line (exit 0); otherwise `error: CODE: message` (exit 1).',
    )
    .action(async (file: string, o: { module: string; version: string }) => {
      const report = await verifyModuleZip(file, { path: o.module, version: o.version });
      for (const w of report.warnings) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write(
        `${report.fileCount} files, ${report.uncompressedSize} bytes uncompressed\n${report.h1}\n`,
      );
    });
  verify
    .command('mod <file>')
    .description('print the h1 hash of a go.mod file (the "/go.mod h1:" of go.sum)')
    .action(async (file: string) => {
      const data = await readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new ModgateError(
          'FILE_UNREADABLE',
          `cannot read ${file}: ${err.code ?? err.message}`,
        );
      });
      process.stdout.write(`${hashGoMod(data)}\n`);
    });
  withConfig(verify.command('gosum <file>'))
    .description(
      'check every line of a go.sum against the checksum database, through the verified client',
    )
    .option(
      '--sumdb <spec>',
      'checksum database: "name+hash+key [URL]" (default: GOSUMDB, else sum.golang.org)',
    )
    .option('--upstream <list>', 'proxies to reach the database through, GOPROXY syntax')
    .option('--data <dir>', 'data folder holding the verified tree head (default ./data)')
    .action(
      async (
        file: string,
        o: { config?: string; sumdb?: string; upstream?: string; data?: string },
      ) => {
        process.exitCode = await verifyGoSum(file, o);
      },
    );
}

async function verifyGoSum(
  file: string,
  o: { config?: string; sumdb?: string; upstream?: string; data?: string },
): Promise<number> {
  const config = await configFrom(o, { sumdb: o.sumdb, upstream: o.upstream, dataDir: o.data });
  const router = createRouter(config);
  const logger = pino({ level: 'warn' }, pino.destination(2));
  // The same pinned client as `serve`: pins, https rule, credentials, redirect rules.
  const upstream = await buildUpstream(config, logger);
  try {
    return await checkLines(file, config, router, upstream.client, logger);
  } finally {
    await upstream.close();
  }
}

async function checkLines(
  file: string,
  config: Awaited<ReturnType<typeof configFrom>>,
  router: ReturnType<typeof createRouter>,
  client: UpstreamClient,
  logger: pino.Logger,
): Promise<number> {
  const { client: db } = setupSumdb(
    config,
    client,
    router,
    new FsBlobStore(path.join(config.dataDir, 'store')),
    logger,
  );
  if (!db)
    throw new ModgateError('SUMDB_OFF', 'the checksum database is off: nothing to verify against');
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const progress = new Progress(lines.length, 'verifying');
  let bad = 0;
  let skipped = 0;
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    progress.tick();
    if (f.length !== 3) {
      progress.note(`malformed line: ${line}`);
      bad++;
      continue;
    }
    const [mod, ver] = f as [string, string, string];
    if (router.skipsSumdb(mod)) {
      skipped++;
      continue;
    }
    const isMod = ver.endsWith('/go.mod');
    const version = isMod ? ver.slice(0, -'/go.mod'.length) : ver;
    try {
      const { lines: want } = await db.lookup(mod, version);
      const expected = expectedHash(want, mod, version, isMod ? 'mod' : 'zip');
      if (expected !== f[2]) {
        bad++;
        progress.note(
          `SECURITY ERROR: ${mod} ${ver}: go.sum has ${f[2]}, ${db.name} has ${expected ?? 'nothing'}`,
        );
      }
    } catch (err) {
      bad++;
      const e = asModgateError(err);
      progress.note(`${mod} ${ver}: ${e.code}: ${e.message.split('\n')[0]}`);
    }
  }
  progress.done();
  process.stdout.write(
    `${lines.length} lines: ${lines.length - bad - skipped} verified, ${bad} failed, ${skipped} private (skipped)\n`,
  );
  return bad === 0 ? 0 : 1;
}
