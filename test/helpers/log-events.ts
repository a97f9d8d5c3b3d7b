import { Writable } from 'node:stream';
import pino from 'pino';

/**
 * A logger whose lines a test can wait for: the gateway logs its reloads, so
 * a test waits for "policy reloaded" instead of sleeping and hoping.
 */
export function logEvents(): {
  logger: pino.Logger;
  next(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
} {
  const waiters: Array<{ msg: string; resolve: (line: Record<string, unknown>) => void }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const line = JSON.parse(text) as Record<string, unknown>;
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.msg === line.msg) waiters.splice(i, 1)[0]!.resolve(line);
        }
      }
      cb();
    },
  });
  return {
    logger: pino({ level: 'info' }, stream),
    next(msg, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        // A bound, so a missing event fails the test with its name rather than the file's timeout.
        const timer = setTimeout(() => reject(new Error(`no "${msg}" log line`)), timeoutMs);
        waiters.push({
          msg,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
  };
}
