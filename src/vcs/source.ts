/**
 * A vcs route's module source: answers GOPROXY requests (list, latest,
 * query, .info, .mod, .zip) by running the real go command against version
 * control with GOPROXY=direct, each run in a module cache of its own whose
 * cache/vcs (the clones) is the route's shared, bounded clone cache. What it
 * returns is checked by the gateway like any upstream's answer.
 */
import { mkdir, mkdtemp, rm, symlink, open } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ModgateError, isModgateError } from '../errors.js';
import type { GitSourceConfig } from '../config/types.js';
import type { ModuleSource, SourceResponse } from '../goproxy/source.js';
import type { ProxyRequest } from '../goproxy/paths.js';
import { evictClones, oversizedClone, removeClone } from './clones.js';
import { classify, scrubber } from './errors.js';
import type { GitHome } from './home.js';
import { Slots } from './limit.js';
import { checkRequest, goArgs, readAnswer, type Answer } from './ops.js';
import { runGo } from './run.js';

export interface VcsSourceOptions {
  pattern: string;
  git: GitSourceConfig;
  /** The route's own folder (clones, go caches, runs); created if missing. */
  dir: string;
  home: GitHome;
  /** The environment PATH and proxy settings are taken from. */
  env?: NodeJS.ProcessEnv;
  onSpawn?: (pgid: number) => void;
  /** This process's own runs folder under <dir>/runs (several processes share a route's folder). */
  runsName?: string;
}

interface Flight {
  ctl: AbortController;
  promise: Promise<Answer>;
  refs: number;
}

const PASS_THROUGH = [
  'PATH',
  'GIT_SSL_CAINFO',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'HTTPS_PROXY',
  'https_proxy',
  'HTTP_PROXY',
  'http_proxy',
  'NO_PROXY',
  'no_proxy',
];

export class VcsSource implements ModuleSource {
  readonly name: string;
  private readonly slots: Slots;
  private readonly flights = new Map<string, Flight>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly scrub: (s: string) => string;
  private readonly vcsDir: string;
  private closed = false;
  private tidying = false;
  private readonly runsDir: string;

  constructor(private readonly o: VcsSourceOptions) {
    this.name = `vcs:${o.pattern}`;
    this.slots = new Slots(o.git.concurrency);
    this.vcsDir = path.join(o.dir, 'vcs');
    this.runsDir = path.join(o.dir, 'runs', ...(o.runsName ? [o.runsName] : []));
    this.scrub = scrubber(o.home.secrets, {
      [this.runsDir]: '$GOMODCACHE',
      [o.dir]: '$ROUTE',
      [o.home.dir]: '$HOME',
    });
  }

  /** Creates the route's folders and clears what a crash left of earlier runs. */
  async init(): Promise<void> {
    // Only this process's runs: another process's may be in use.
    await rm(this.runsDir, { recursive: true, force: true });
    for (const d of ['vcs', 'runs', 'gopath', 'gocache', 'tmp', 'work'])
      await mkdir(path.join(this.o.dir, d), { recursive: true, mode: 0o700 });
    await mkdir(this.runsDir, { recursive: true, mode: 0o700 });
  }

  /** go commands running now (tests and metrics). */
  get active(): number {
    return this.slots.active;
  }

  async get(req: ProxyRequest, signal: AbortSignal): Promise<SourceResponse> {
    checkRequest(req);
    if (this.closed) throw new ModgateError('SHUTTING_DOWN', 'modgate is shutting down');
    const key = JSON.stringify(req);
    const flight = this.flights.get(key) ?? this.start(key, req);
    flight.refs++;
    try {
      const answer = await raceAbort(flight.promise, signal);
      return await this.respond(answer);
    } finally {
      if (--flight.refs === 0) {
        if (this.flights.get(key) === flight) this.flights.delete(key);
        flight.ctl.abort(
          new ModgateError('CLIENT_GONE', 'every client waiting for this work went away'),
        );
        // The answer's files go once every waiter holds its own open file.
        const a = await flight.promise.catch(() => undefined);
        if (a?.run) await rm(a.run, { recursive: true, force: true });
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const reason = new ModgateError('SHUTTING_DOWN', 'modgate is shutting down');
    for (const f of this.flights.values()) f.ctl.abort(reason);
    await Promise.allSettled([...this.running]);
    await this.o.home.dispose().catch(() => undefined);
  }

  private start(key: string, req: ProxyRequest): Flight {
    const ctl = new AbortController();
    const promise = this.run(req, ctl.signal);
    promise.catch(() => undefined);
    const flight: Flight = { ctl, promise, refs: 0 };
    this.flights.set(key, flight);
    const done = promise.then(
      () => undefined,
      () => {
        if (this.flights.get(key) === flight) this.flights.delete(key);
      },
    );
    this.running.add(done);
    void done.finally(() => this.running.delete(done));
    return flight;
  }

  private async run(req: ProxyRequest, signal: AbortSignal): Promise<Answer> {
    const release = await this.slots.acquire(signal);
    const run = await mkdtemp(path.join(this.runsDir, 'run-'));
    let tooBig: string | undefined;
    try {
      await mkdir(path.join(run, 'cache'));
      await symlink(this.vcsDir, path.join(run, 'cache', 'vcs'));
      const max = this.o.git.maxRepoBytes;
      const res = await runGo({
        bin: this.o.git.goBinary,
        args: goArgs(req),
        env: this.env(run),
        cwd: path.join(this.o.dir, 'work'),
        route: this.o.pattern,
        timeoutMs: this.o.git.timeoutMs,
        signal,
        maxOutputBytes: 4 << 20,
        watchdog: {
          everyMs: 1000,
          check: async () => {
            tooBig = await oversizedClone(this.vcsDir, max);
            return (
              tooBig &&
              `route ${this.o.pattern}: a clone passed the ${max}-byte cap (git.maxRepoBytes)`
            );
          },
        },
        ...(this.o.onSpawn ? { onSpawn: this.o.onSpawn } : {}),
      });
      const answer = await readAnswer(req, res, run, this.o.pattern, (text) =>
        classify(text, this.o.pattern, this.scrub),
      );
      if (!answer.run) await rm(run, { recursive: true, force: true });
      return answer;
    } catch (err) {
      await rm(run, { recursive: true, force: true });
      if (tooBig && isModgateError(err, 'VCS_TOO_LARGE')) await removeClone(this.vcsDir, tooBig);
      throw err;
    } finally {
      release();
      void this.tidy();
    }
  }

  private async respond(a: Answer): Promise<SourceResponse> {
    if (a.file === undefined)
      return {
        upstream: this.name,
        status: a.status,
        body: withDump(Readable.from([a.body ?? Buffer.alloc(0)])),
      };
    // Opened before the run folder may go: the open file outlives its name.
    const fh = await open(a.file, 'r');
    return { upstream: this.name, status: 200, body: withDump(fh.createReadStream()) };
  }

  /** The clone cache bound, applied when nothing of this route runs. */
  private async tidy(): Promise<void> {
    if (this.tidying || this.slots.active > 0 || this.closed) return;
    this.tidying = true;
    try {
      const big = await oversizedClone(this.vcsDir, this.o.git.maxRepoBytes);
      if (big) await removeClone(this.vcsDir, big);
      await evictClones(this.vcsDir, this.o.git.cacheRepos);
    } finally {
      this.tidying = false;
    }
  }

  private env(run: string): Record<string, string> {
    const base = this.o.env ?? process.env;
    const env: Record<string, string> = {};
    for (const k of PASS_THROUGH) if (base[k] !== undefined) env[k] = base[k];
    const d = (n: string): string => path.join(this.o.dir, n);
    return {
      ...env,
      ...this.o.home.env,
      ...(this.o.git.caFile ? { GIT_SSL_CAINFO: this.o.git.caFile } : {}),
      GOPATH: d('gopath'),
      GOMODCACHE: run,
      GOCACHE: d('gocache'),
      TMPDIR: d('tmp'),
      GOFLAGS: '',
      GOPROXY: 'direct',
      GOSUMDB: 'off',
      GONOSUMDB: this.o.pattern,
      GOPRIVATE: this.o.pattern,
      GONOPROXY: this.o.pattern,
      GOINSECURE: '',
      GOVCS: '*:git',
      GOTOOLCHAIN: 'local',
      GOENV: 'off',
      GOTELEMETRY: 'off',
      GOWORK: 'off',
      GO111MODULE: 'on',
      GIT_TERMINAL_PROMPT: '0',
      GCM_INTERACTIVE: 'never',
      LANG: 'C',
      LC_ALL: 'C',
    };
  }
}

function withDump<T extends Readable>(r: T): T & { dump(): Promise<void> } {
  return Object.assign(r, {
    dump: async () => {
      r.destroy();
    },
  });
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
