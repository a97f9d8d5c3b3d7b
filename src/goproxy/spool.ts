import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ModgateError } from '../errors.js';
import { matchPathMajor, splitPathVersion } from '../integrity/module.js';
import { SizeLimit } from '../upstream/limit.js';

/**
 * Streams a body to a local spool file with a size cap, hashing as it goes.
 * The spool is modgate's own scratch space for verification, not the store:
 * it is not fsynced, since the verified bytes are then put into the store,
 * which makes them durable (and visible) only whole.
 */
export async function spool(
  body: NodeJS.ReadableStream,
  file: string,
  max: number,
  what: string,
  inspect?: Transform,
  signal?: AbortSignal,
): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const limit = new SizeLimit(max, what);
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const sink = createWriteStream(file, { flags: 'wx', mode: 0o644 });
  const opts = signal ? { signal } : {};
  await (inspect
    ? pipeline(body, limit, tap, inspect, sink, opts)
    : pipeline(body, limit, tap, sink, opts));
  return { sha256: hash.digest('hex'), size: limit.bytes };
}

export async function readSmall(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * An .info for a canonical version that suits the module path must name that
 * version (as the go command demands); its Time, if present, is RFC 3339.
 */
export function checkInfo(
  raw: Buffer,
  module: string,
  version: string,
): { Version?: string; Time?: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ModgateError('INFO_INVALID', `upstream .info for ${version} is not JSON`);
  }
  const info = doc as { Version?: unknown; Time?: unknown };
  const [, pathMajor] = splitPathVersion(module);
  const mustMatch = matchPathMajor(version, pathMajor);
  if (typeof doc !== 'object' || doc === null || (mustMatch && info.Version !== version)) {
    throw new ModgateError(
      'INFO_INVALID',
      `upstream .info names version ${JSON.stringify(info?.Version)}, not ${version}`,
    );
  }
  if (info.Time !== undefined && (typeof info.Time !== 'string' || !RFC3339.test(info.Time))) {
    throw new ModgateError(
      'INFO_INVALID',
      `upstream .info for ${version} has a Time that is not RFC 3339`,
    );
  }
  return info as { Version?: string; Time?: string };
}
