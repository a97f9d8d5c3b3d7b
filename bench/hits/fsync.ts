/** The cost of one fsync on this disk, measured the way an audit append pays it. */
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { median } from './stats.js';

/** Median ms of `times` appends of 256 bytes, each followed by fsync, in a file under `dir`. */
export function fsyncMs(dir: string, times = 100): number {
  const file = path.join(dir, `fsync-probe-${process.pid}`);
  const fd = openSync(file, 'a');
  const line = Buffer.alloc(256, 0x61);
  const ms: number[] = [];
  try {
    for (let i = 0; i < times; i++) {
      const t0 = performance.now();
      writeSync(fd, line);
      fsyncSync(fd);
      ms.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return median(ms);
}
