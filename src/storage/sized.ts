import { Transform } from 'node:stream';
import { ModgateError } from '../errors.js';

/**
 * Passes a body through and fails it, before its end reaches the store, when
 * it is not exactly `size` bytes: a short or long body is never committed.
 */
export function exactly(size: number, key: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > size) return cb(short(key, seen, size));
      cb(null, chunk);
    },
    flush(cb) {
      cb(seen === size ? null : short(key, seen, size));
    },
  });
}

/** The refusal of a body that is not `size` bytes long. */
export function short(key: string, seen: number, size: number): ModgateError {
  return new ModgateError(
    'STORAGE_UNAVAILABLE',
    `the body for ${key} has ${seen > size ? 'more than' : 'only'} ${seen} of its ${size} bytes; nothing was stored`,
  );
}
