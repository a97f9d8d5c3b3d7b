/**
 * Background probes of the mirrors of every group: a GET of `path` on each,
 * every `intervalMs`, scored like real traffic (an answer below 500 is a
 * success). They keep the scores of mirrors that get no traffic current, and
 * they are the half-open trial of an open circuit after its cool-off. The
 * timer and every probe in flight are stopped and awaited by close().
 */
import { ModgateError, isModgateError } from '../errors.js';
import type { UpstreamClient } from '../upstream/client.js';
import type { Mirror } from './group.js';

export class Prober {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly stop = new AbortController();

  constructor(
    private readonly client: UpstreamClient,
    private readonly mirrors: readonly Mirror[],
    private readonly o: { intervalMs: number; path: string },
  ) {}

  start(): void {
    if (this.o.intervalMs <= 0 || this.mirrors.length === 0 || this.timer) return;
    this.timer = setInterval(() => void this.round(), this.o.intervalMs);
    this.timer.unref();
  }

  /** One probe of every mirror that may be asked now; a round already running is shared. */
  round(): Promise<void> {
    if (this.stop.signal.aborted) return Promise.resolve();
    this.running ??= Promise.all(
      this.mirrors.filter((m) => m.usable()).map((m) => this.probe(m)),
    ).then(
      () => (this.running = undefined),
      () => (this.running = undefined),
    );
    return this.running;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.stop.abort(new ModgateError('SHUTTING_DOWN', 'modgate is shutting down'));
    await this.running;
  }

  private async probe(m: Mirror): Promise<void> {
    m.breaker.begin();
    const started = performance.now();
    try {
      const res = await this.client.get(m.url, this.o.path, this.stop.signal);
      await res.body.dump().catch(() => undefined);
      m.answered(performance.now() - started);
    } catch (err) {
      const ms = performance.now() - started;
      if (this.stop.signal.aborted) return m.abandoned(ms);
      const status = isModgateError(err) ? err.details.status : undefined;
      if (typeof status === 'number' && status < 500) m.answered(ms);
      else m.failed(ms);
    }
  }
}
