/**
 * Checksum-database lookups kept on disk by `modgate import`
 * (`<dataDir>/sumdb/<name>/lookup/<path>@<version>`, the bytes of the
 * database's answer), read before the database is asked. They are one more
 * source of the same bytes, not a trusted one: the verifying client checks
 * each like a fresh answer (the signed head with the configured key, the
 * record's inclusion in the tree through verified tiles). This is what lets an
 * air-gapped gateway answer the go command's lookups through its /sumdb/ relay.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SumdbTransportLike } from '../integrity/sumdb/types.js';
import { writeFileAtomic } from '../storage/atomic.js';
import { mkdir } from 'node:fs/promises';

const LOOKUP = /^\/lookup\/([A-Za-z0-9!._~+/-]+)@([A-Za-z0-9!.+-]+)$/;

/** The file of a lookup path ("/lookup/M@V", escaped as on the wire), or undefined when it is not one. */
export function lookupFile(dataDir: string, name: string, lookupPath: string): string | undefined {
  const m = LOOKUP.exec(lookupPath);
  if (!m || m[1]!.split('/').some((e) => e === '' || e === '.' || e === '..')) return undefined;
  if (name.split('/').some((e) => e === '' || e === '.' || e === '..')) return undefined;
  return (
    path.join(dataDir, 'sumdb', ...name.split('/'), 'lookup', ...m[1]!.split('/')) + `@${m[2]}`
  );
}

/** Keeps a lookup answer that was verified (by `modgate import`); atomic. */
export async function keepLookup(
  dataDir: string,
  name: string,
  lookupPath: string,
  body: Buffer,
): Promise<void> {
  const file = lookupFile(dataDir, name, lookupPath);
  if (!file) return;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, body);
}

/** A transport that answers lookups kept on disk first, and everything else (and the rest) from `inner`. */
export function withLocalLookups(
  inner: SumdbTransportLike,
  dataDir: string,
  name: string,
): SumdbTransportLike {
  return {
    get: async (p: string) => {
      const file = lookupFile(dataDir, name, p);
      if (file) {
        const kept = await readFile(file).catch(() => null);
        if (kept) return kept;
      }
      return inner.get(p);
    },
  };
}
