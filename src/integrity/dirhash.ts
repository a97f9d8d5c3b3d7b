/**
 * The "h1:" directory hash of go.sum (golang.org/x/mod/sumdb/dirhash Hash1):
 * base64(sha256(summary)), where the summary has one line per file, sorted by
 * name in byte order: hex(sha256(content)), two spaces, the name, a newline.
 *
 * Error codes:
 * | code              | when                                   |
 * |-------------------|----------------------------------------|
 * | HASH_NAME_INVALID | a file name contains a newline         |
 */
import { createHash } from 'node:crypto';
import { ModgateError } from '../errors.js';

export interface FileDigest {
  name: string;
  /** The sha256 of the file content, as 32 bytes or 64 hex characters. */
  sha256: Buffer | string;
}

function hexDigest(d: Buffer | string): string {
  const hex = typeof d === 'string' ? d.toLowerCase() : d.toString('hex');
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TypeError('sha256 digest must be 32 bytes');
  return hex;
}

/** Hash1 over files given by their names and content digests. */
export function hash1FromDigests(files: readonly FileDigest[]): string {
  const rows = files.map((f) => ({
    key: Buffer.from(f.name, 'utf8'),
    name: f.name,
    hex: hexDigest(f.sha256),
  }));
  rows.sort((a, b) => Buffer.compare(a.key, b.key));
  const h = createHash('sha256');
  for (const r of rows) {
    if (r.name.includes('\n')) {
      throw new ModgateError(
        'HASH_NAME_INVALID',
        'dirhash: filenames with newlines are not supported',
        { name: r.name },
      );
    }
    h.update(`${r.hex}  ${r.name}\n`, 'utf8');
  }
  return `h1:${h.digest('base64')}`;
}

export function sha256(data: Buffer | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Hash1 over files given with their content. */
export function hash1(files: ReadonlyArray<{ name: string; data: Buffer | string }>): string {
  return hash1FromDigests(files.map((f) => ({ name: f.name, sha256: sha256(f.data) })));
}

/** The go.sum hash of a go.mod file (the `/go.mod h1:` line). */
export function hashGoMod(content: Buffer | string): string {
  return hash1FromDigests([{ name: 'go.mod', sha256: sha256(content) }]);
}
