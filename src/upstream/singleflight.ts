/**
 * Single-flight: concurrent calls with the same key share one execution.
 * The entry is dropped when the work settles, so a later call starts afresh.
 */
export class SingleFlight<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  get size(): number {
    return this.inflight.size;
  }

  do(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.inflight.get(key);
    if (running) return running;
    const p = work().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }
}
