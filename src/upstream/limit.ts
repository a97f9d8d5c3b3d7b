import { Transform, type TransformCallback } from 'node:stream';
import { ModgateError } from '../errors.js';

/** Passes bytes through until `max` is exceeded, then fails with UPSTREAM_TOO_LARGE. */
export class SizeLimit extends Transform {
  private seen = 0;

  constructor(
    private readonly max: number,
    private readonly what: string,
  ) {
    super();
  }

  get bytes(): number {
    return this.seen;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.max) {
      cb(
        new ModgateError('UPSTREAM_TOO_LARGE', `${this.what} exceeds the ${this.max}-byte limit`, {
          max: this.max,
        }),
      );
      return;
    }
    cb(null, chunk);
  }
}
