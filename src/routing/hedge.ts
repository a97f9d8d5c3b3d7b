/**
 * One request to a group of equivalent mirrors, best first. After an error
 * or a 404/410 the next mirror is asked (a `|` group's rule). When the first
 * answer's headers have not come after the hedging delay, the next mirror is
 * asked as well and the first 2xx wins; the other requests are aborted and
 * their bodies dropped. The winner's bytes are verified downstream like any
 * upstream answer: routing only picks among sources of the same bytes.
 */
import { ModgateError, isModgateError } from '../errors.js';
import { toUpstreamError, type UpstreamResponse } from '../upstream/client.js';
import type { Mirror } from './group.js';

export interface RaceOptions {
  order: Mirror[];
  send: (m: Mirror, signal: AbortSignal) => Promise<UpstreamResponse>;
  /** Delay before the next mirror is also asked; undefined: no hedging. */
  hedgeMs?: (first: Mirror) => number;
  signal: AbortSignal;
}

export interface RaceResult {
  res: UpstreamResponse;
  winner: Mirror;
  /** More than one mirror was asked at once. */
  hedged: boolean;
}

interface Running {
  m: Mirror;
  ctl: AbortController;
  started: number;
}

const LOST = (): ModgateError =>
  new ModgateError('CLIENT_GONE', 'another mirror answered first (hedged request)');

export function race(o: RaceOptions): Promise<RaceResult> {
  return new Promise<RaceResult>((resolve, reject) => {
    const running = new Set<Running>();
    let next = 0;
    let done = false;
    let hedged = false;
    let timer: NodeJS.Timeout | undefined;
    let notFound: RaceResult | undefined;
    let lastErr: ModgateError | undefined;

    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      for (const r of running) r.ctl.abort(LOST());
      running.clear();
      fn();
    };
    const onAbort = (): void =>
      finish(() => reject(toUpstreamError(o.signal.reason, o.order[0]?.shown ?? '')));
    const exhausted = (): void => {
      if (running.size > 0 || done) return;
      if (next < o.order.length) return launch();
      finish(() => (lastErr || !notFound ? reject(lastErr ?? noMirror()) : resolve(notFound)));
    };
    const launch = (): void => {
      clearTimeout(timer);
      const m = o.order[next++]!;
      if (running.size > 0) hedged = true;
      const r: Running = { m, ctl: new AbortController(), started: performance.now() };
      running.add(r);
      m.breaker.begin();
      const delay = next < o.order.length ? o.hedgeMs?.(m) : undefined;
      if (delay !== undefined) timer = setTimeout(launch, delay);
      o.send(m, AbortSignal.any([o.signal, r.ctl.signal])).then(
        (res) => settled(r, res),
        (err: unknown) => failed(r, err),
      );
    };
    const settled = (r: Running, res: UpstreamResponse): void => {
      const ms = performance.now() - r.started;
      if (done || !running.delete(r)) {
        r.m.abandoned(ms);
        return void res.body.dump().catch(() => undefined);
      }
      r.m.answered(ms);
      const result = { res, winner: r.m, hedged };
      if (res.status >= 200 && res.status < 300) return finish(() => resolve(result));
      notFound = result;
      lastErr = undefined;
      exhausted();
    };
    const failed = (r: Running, err: unknown): void => {
      const ms = performance.now() - r.started;
      if (done || !running.delete(r) || o.signal.aborted) return r.m.abandoned(ms);
      const e = toUpstreamError(err, r.m.shown);
      if (isModgateError(e, 'REQUEST_INVALID')) return finish(() => reject(e));
      r.m.failed(ms);
      lastErr = e;
      exhausted();
    };

    if (o.signal.aborted) return onAbort();
    o.signal.addEventListener('abort', onAbort, { once: true });
    if (o.order.length === 0) return finish(() => reject(noMirror()));
    launch();
  });
}

function noMirror(): ModgateError {
  return new ModgateError(
    'UPSTREAM_UNAVAILABLE',
    'every mirror of the group is out of service (circuit open or quarantined)',
    { retryable: false },
  );
}
