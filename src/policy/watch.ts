import { statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

/** The files a policy source is read from: what a reload must notice. */
export interface WatchedSource {
  path: string;
  dataFile?: string;
}

export function isBundle(p: string): boolean {
  return p.endsWith('.tar.gz') || p.endsWith('.tgz');
}

export function watchedFiles(src: WatchedSource): string[] {
  const files = isBundle(src.path) ? [src.path] : [path.join(src.path, 'build', 'policy.wasm')];
  const data = src.dataFile ?? (isBundle(src.path) ? undefined : path.join(src.path, 'data.yaml'));
  return data ? [...files, data] : files;
}

/** What identifies each watched file's current content cheaply (stat follows symlinks). */
export function fingerprints(src: WatchedSource): Map<string, string> {
  return new Map(
    watchedFiles(src).map((f) => {
      try {
        const st = statSync(f);
        return [f, `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`];
      } catch {
        return [f, 'missing'];
      }
    }),
  );
}

/**
 * Calls onChange when a policy source's files change: file-system events on
 * their folders (debounced), and a stat poll every pollMs as a backstop for
 * what events miss (network file systems, a symlink swapped by a ConfigMap
 * update). Only a change of a file's identity, size or mtime counts.
 */
export class SourceWatcher {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private poller: NodeJS.Timeout | undefined;
  private seen: Map<string, string>;

  constructor(
    private readonly src: WatchedSource,
    private readonly onChange: () => void,
  ) {
    this.seen = fingerprints(src);
  }

  /** Takes the files' current state as seen (called when a load starts reading them). */
  mark(): void {
    this.seen = fingerprints(this.src);
  }

  start(debounceMs: number, pollMs: number): void {
    for (const dir of new Set(watchedFiles(this.src).map((f) => path.dirname(f)))) {
      try {
        const w = watch(dir, { persistent: false }, () => {
          clearTimeout(this.timer);
          this.timer = setTimeout(() => this.check(), debounceMs);
        });
        w.on('error', () => undefined);
        this.watchers.push(w);
      } catch {
        // No events for this folder: the poll still sees changes.
      }
    }
    if (pollMs > 0) {
      this.poller = setInterval(() => this.check(), pollMs);
      this.poller.unref();
    }
  }

  private check(): void {
    const now = fingerprints(this.src);
    if ([...now].some(([f, fp]) => this.seen.get(f) !== fp)) {
      this.seen = now;
      this.onChange();
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.poller);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}
