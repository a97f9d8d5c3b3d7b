/**
 * The prefetch progress line on stderr: artifacts done of the total, bytes,
 * rate and the time left, redrawn in place at most every 200 ms. Silent when
 * stderr is not a terminal (CI logs get the summary instead).
 */
export interface ProgressState {
  done: number;
  total: number;
  bytes: number;
  elapsedMs: number;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  return t >= 3600
    ? `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`
    : t >= 60
      ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`
      : `${t}s`;
}

/** "12/40 artifacts, 3.2 MB, 1.1 MB/s, ETA 25s": the ETA from the artifacts' rate so far. */
export function formatProgress(p: ProgressState): string {
  const secs = p.elapsedMs / 1000;
  const rate = secs > 0 ? p.bytes / secs : 0;
  const eta = p.done > 0 && secs > 0 ? ((p.total - p.done) * secs) / p.done : Infinity;
  return `${p.done}/${p.total} artifacts, ${formatBytes(p.bytes)}, ${formatBytes(rate)}/s, ETA ${
    p.done === p.total ? '0s' : formatDuration(eta)
  }`;
}

export class ProgressLine {
  private done = 0;
  private bytes = 0;
  private readonly started = performance.now();
  private drawn = 0;

  constructor(
    private readonly total: number,
    private readonly out: { isTTY?: boolean; write(s: string): unknown } = process.stderr,
  ) {}

  tick(bytes: number): void {
    this.done++;
    this.bytes += bytes;
    const now = performance.now();
    if (!this.out.isTTY || (now - this.drawn < 200 && this.done !== this.total)) return;
    this.drawn = now;
    this.out.write(
      `\r\x1b[K${formatProgress({ done: this.done, total: this.total, bytes: this.bytes, elapsedMs: now - this.started })}`,
    );
  }

  /** A line above the progress line. */
  note(line: string): void {
    this.out.write(`${this.out.isTTY ? '\r\x1b[K' : ''}${line}\n`);
  }

  end(): void {
    if (this.out.isTTY) this.out.write('\r\x1b[K');
  }
}
