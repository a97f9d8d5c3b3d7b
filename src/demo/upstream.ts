import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { escapePath, escapeVersion, unescapePath, unescapeVersion } from '../integrity/module.js';
import { compare, prerelease } from '../integrity/semver.js';
import { isPseudoVersion } from '../integrity/pseudo.js';
import { hashGoMod } from '../integrity/dirhash.js';
import { hashZipFile } from '../integrity/zip.js';
import { parseTxtar } from './txtar.js';
import { makeModuleZip } from './modzip.js';

export interface FakeModule {
  path: string;
  version: string;
  info: string;
  mod: string;
  zip: Buffer;
}

export type Misbehaviour =
  | { kind: 'status'; status: number; times?: number }
  | { kind: 'drip'; bytesPerTick: number; tickMs: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'reset' }
  | { kind: 'wrong-length'; delta: number }
  | { kind: 'replace'; body: Buffer };

export interface FakeUpstream {
  url: string;
  /** Request counts by URL path. */
  hits: Map<string, number>;
  /** Counts of the x-modgate-purpose header values received ('' when absent). */
  purposes: Map<string, number>;
  count(pathSuffix: string): number;
  add(m: FakeModule): void;
  remove(modulePath: string, version: string): void;
  /** Misbehave on paths ending with suffix ('' = every path). */
  misbehave(suffix: string, how: Misbehaviour | null): void;
  close(): Promise<void>;
}

/** A sample GOPROXY on 127.0.0.1:0 (for tests and `modgate demo`) serving fixture and generated modules. */
export interface FakeUpstreamOptions {
  /** Serve HTTPS with this certificate chain and key. */
  tls?: { cert: string; key: string };
  /** Also serve this checksum database under /sumdb/<name>/ (as public mirrors do). */
  sumdb?: { name: string; handle(path: string): Promise<{ status: number; body: Buffer }> };
}

export async function startFakeUpstream(
  modules: FakeModule[] = [],
  opts: FakeUpstreamOptions = {},
): Promise<FakeUpstream> {
  const byKey = new Map<string, FakeModule>();
  const hits = new Map<string, number>();
  const purposes = new Map<string, number>();
  const faults = new Map<string, Misbehaviour & { used?: number }>();
  const add = (m: FakeModule): void => void byKey.set(`${m.path}@${m.version}`, m);
  modules.forEach(add);

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    hits.set(p, (hits.get(p) ?? 0) + 1);
    const purpose = String(req.headers['x-modgate-purpose'] ?? '');
    purposes.set(purpose, (purposes.get(purpose) ?? 0) + 1);
    const db = opts.sumdb;
    if (db && p.startsWith(`/sumdb/${db.name}/`)) {
      const sub = p.slice(`/sumdb/${db.name}`.length);
      if (sub === '/supported') return void res.writeHead(200).end();
      void db.handle(sub).then(
        (r) => res.writeHead(r.status).end(r.body),
        () => res.writeHead(500).end(),
      );
      return;
    }
    const body = route(p, byKey);
    const fault = [...faults.entries()].find(([s]) => p.endsWith(s))?.[1];
    if (fault && apply(fault, res, body)) return;
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${p}\n`);
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  };
  const server = opts.tls
    ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    hits,
    purposes,
    count: (suffix) =>
      [...hits.entries()].filter(([p]) => p.endsWith(suffix)).reduce((n, [, c]) => n + c, 0),
    add,
    remove: (mp, v) => void byKey.delete(`${mp}@${v}`),
    misbehave: (suffix, how) => (how ? faults.set(suffix, { ...how }) : faults.delete(suffix)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function apply(
  f: Misbehaviour & { used?: number },
  res: http.ServerResponse,
  body: Buffer | null,
): boolean {
  switch (f.kind) {
    case 'status':
      if (f.times !== undefined && (f.used ?? 0) >= f.times) return false;
      f.used = (f.used ?? 0) + 1;
      res
        .writeHead(f.status, { 'content-type': 'text/plain' })
        .end(`fake upstream says ${f.status}\n`);
      return true;
    case 'reset':
      res.socket?.destroy();
      return true;
    case 'replace':
      res.writeHead(200, { 'content-length': f.body.length }).end(f.body);
      return true;
    case 'truncate':
      if (!body) return false;
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, f.at), () => res.socket?.destroy());
      return true;
    case 'wrong-length':
      if (!body) return false;
      res.writeHead(200, { 'content-length': body.length + f.delta });
      res.end(body.subarray(0, Math.min(body.length, body.length + f.delta)));
      if (f.delta > 0) res.socket?.destroy();
      return true;
    case 'drip': {
      if (!body) return false;
      res.writeHead(200, { 'content-length': body.length });
      let off = 0;
      const tick = (): void => {
        if (res.destroyed) return;
        const next = body.subarray(off, off + f.bytesPerTick);
        off += next.length;
        if (off >= body.length) res.end(next);
        else res.write(next, () => setTimeout(tick, f.tickMs));
      };
      tick();
      return true;
    }
  }
}

function route(p: string, mods: Map<string, FakeModule>): Buffer | null {
  const at = p.lastIndexOf('/@');
  if (at < 0) return null;
  let modulePath: string;
  try {
    modulePath = unescapePath(p.slice(1, at));
  } catch {
    return null;
  }
  const rest = p.slice(at + 1);
  const versions = [...mods.values()].filter((m) => m.path === modulePath);
  if (rest === '@v/list') {
    if (versions.length === 0) return null;
    const listed = versions.filter((m) => !isPseudoVersion(m.version)).map((m) => m.version);
    return Buffer.from(
      listed
        .sort(compare)
        .map((v) => `${v}\n`)
        .join(''),
    );
  }
  if (rest === '@latest') {
    const all = versions.map((m) => m.version).sort(compare);
    const rel = all.filter((v) => prerelease(v) === '' && !isPseudoVersion(v));
    const pre = all.filter((v) => !isPseudoVersion(v));
    const best = rel.at(-1) ?? pre.at(-1) ?? all.at(-1);
    return best ? Buffer.from(mods.get(`${modulePath}@${best}`)!.info) : null;
  }
  const m = /^@v\/(.+)\.(info|mod|zip)$/.exec(rest);
  if (!m) return null;
  let version: string;
  try {
    version = unescapeVersion(m[1]!);
  } catch {
    return null;
  }
  const mod = mods.get(`${modulePath}@${version}`);
  if (!mod) return null;
  return m[2] === 'info' ? Buffer.from(mod.info) : m[2] === 'mod' ? Buffer.from(mod.mod) : mod.zip;
}

/** Builds a module from files; info and mod default to the usual shapes. */
export async function makeModule(
  modulePath: string,
  version: string,
  files: Record<string, string | Buffer> = {},
  time = '2024-01-02T03:04:05Z',
): Promise<FakeModule> {
  const gomod =
    typeof files['go.mod'] === 'string' ? (files['go.mod'] as string) : `module ${modulePath}\n`;
  const all = { 'go.mod': gomod, 'x.go': `package x\n`, ...files };
  return {
    path: modulePath,
    version,
    info: JSON.stringify({ Version: version, Time: time }),
    mod: gomod,
    zip: await makeModuleZip(modulePath, version, all),
  };
}

/** Loads cmd/go's txtar module fixtures (test/vectors/go/mod) as fake modules. */
export async function loadTxtarModules(dir: string): Promise<FakeModule[]> {
  const out: FakeModule[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.txt')).sort()) {
    const base = name.slice(0, -4);
    const i = base.lastIndexOf('_v');
    const modulePath = unescapePath(base.slice(0, i).replaceAll('_', '/'));
    const version = unescapeVersion(base.slice(i + 1));
    const ar = parseTxtar(await readFile(path.join(dir, name), 'utf8'));
    const files: Record<string, string> = {};
    let info = '';
    let mod = '';
    for (const f of ar.files) {
      if (f.name === '.info') info = f.data;
      else if (f.name === '.mod') mod = f.data;
      else files[f.name] = f.data;
    }
    out.push({
      path: modulePath,
      version,
      info,
      mod,
      zip: await makeModuleZip(modulePath, version, files),
    });
  }
  return out;
}

export { escapePath, escapeVersion };

/** The checksum-database records (zip and go.mod h1) of sample modules; zips are hashed from a scratch file in dir. */
export async function sumdbRecords(
  mods: FakeModule[],
  dir: string,
): Promise<Array<{ path: string; version: string; h1: string; modH1: string }>> {
  const out = [];
  const file = path.join(dir, `.h1-${process.pid}.zip`);
  for (const m of mods) {
    await writeFile(file, m.zip);
    out.push({
      path: m.path,
      version: m.version,
      h1: await hashZipFile(file),
      modH1: hashGoMod(m.mod),
    });
  }
  await rm(file, { force: true });
  return out;
}
