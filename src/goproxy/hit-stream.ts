import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { ModgateError } from '../errors.js';

export interface Expected {
  sha256: string;
  size: number;
}

/** sha256 and length of a buffer against the evidence. */
export function matches(bytes: Buffer, want: Expected): boolean {
  return (
    bytes.length === want.size && createHash('sha256').update(bytes).digest('hex') === want.sha256
  );
}

/** Settles when the answer may complete (its decision record is durable); rejects when it must not. */
export type Release = Promise<void>;

/**
 * Passes a stored artifact through while hashing it. The newest chunk is
 * held back until the next one arrives, and the last one until the hash is
 * checked and `release` settles: on a mismatch, or when the release rejects
 * (the decision record could not be made durable), the stream fails before
 * the final bytes leave, so a client never receives a complete (Content-Length
 * long) body that is tampered or unrecorded. `onVerified` runs once the whole
 * body hashed right, before the last chunk is passed on.
 */
export function verifyingStream(
  source: Readable,
  want: Expected,
  onMismatch: (reason: string) => Promise<void>,
  release: Release = DONE,
  onVerified?: () => Promise<void>,
): Readable {
  const hash = createHash('sha256');
  let size = 0;
  let held: Buffer | undefined;
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      const out = held;
      held = chunk;
      if (size > want.size) return fail('is longer than its evidence', cb);
      cb(null, out);
    },
    flush(cb) {
      if (size !== want.size) return fail(`has ${size} bytes, its evidence ${want.size}`, cb);
      if (hash.digest('hex') !== want.sha256)
        return fail('does not hash to the sha256 of its evidence', cb);
      const verified = onVerified ? onVerified().catch(() => undefined) : DONE;
      Promise.all([release, verified]).then(
        () => cb(null, held),
        (err: unknown) => cb(err as Error),
      );
    },
  });
  function fail(reason: string, cb: (err: Error) => void): void {
    held = undefined;
    source.unpipe(check);
    source.destroy();
    onMismatch(reason).then(
      () => cb(tampered(reason)),
      () => cb(tampered(reason)),
    );
  }
  source.on('error', (err) => check.destroy(err));
  closeWith(source, check);
  return source.pipe(check);
}

const DONE: Release = Promise.resolve();

/**
 * Passes already checked bytes through, holding the newest chunk back until
 * the next one arrives and the last one until `release` settles; a rejected
 * release fails the stream before its final bytes.
 */
export function holdLast(source: Readable, release: Release): Readable {
  let held: Buffer | undefined;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const prev = held;
      held = chunk;
      cb(null, prev);
    },
    flush(cb) {
      release.then(
        () => cb(null, held),
        (err: unknown) => cb(err as Error),
      );
    },
  });
  source.on('error', (err) => out.destroy(err));
  closeWith(source, out);
  return source.pipe(out);
}

/**
 * The source (an open file) is closed with the stream it feeds: a pipe does
 * not destroy its source when the reader goes (a client that left), and a
 * paused file stream would keep its descriptor open.
 */
function closeWith(source: Readable, out: Readable): void {
  out.once('close', () => source.destroy());
}

/** Hashes a whole stored artifact; resolves with the reason of a mismatch, or null. */
export async function checkWhole(source: Readable, want: Expected): Promise<string | null> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
    if (size > want.size) {
      source.destroy();
      return 'is longer than its evidence';
    }
  }
  if (size !== want.size) return `has ${size} bytes, its evidence ${want.size}`;
  return hash.digest('hex') === want.sha256 ? null : 'does not hash to the sha256 of its evidence';
}

export function tampered(reason: string): ModgateError {
  return new ModgateError(
    'CACHE_TAMPERED',
    `SECURITY ERROR: a cached artifact ${reason}; it is quarantined and will be fetched again`,
  );
}

/**
 * Passes verified bytes on their way into the store and fails the stream,
 * before its end reaches the store, when they no longer hash to what was
 * verified (a spool file changed in between): the store then commits nothing.
 */
export function sameAsVerified(want: Expected): Transform {
  const hash = createHash('sha256');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      if (size === want.size && hash.digest('hex') === want.sha256) return cb();
      cb(
        new ModgateError(
          'STORAGE_UNAVAILABLE',
          'the spooled download changed after it was verified; nothing was stored',
        ),
      );
    },
  });
}
