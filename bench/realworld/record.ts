/**
 * The recorder: fetches the real-world module set once, through the go
 * command's own channel (the first proxy of `go env GOPROXY`) and a recording
 * relay on loopback, into the replay folder. The go command and then modgate
 * download the whole set through the relay, so the replay holds what both ask
 * for: .info, .mod, .zip, list and @latest answers, the signed tree head, and
 * the lookups and tiles that verify the set against it.
 *
 * Runs on its own (`npm run bench:record`), and from the realworld scenario
 * when the replay is missing. Writes into <replay>.partial and renames it when
 * complete, so an interrupted recording is never replayed (a new run resumes it).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import { escapePath, escapeVersion } from '../../src/integrity/module.js';
import { isolatedGoEnv, timedDownload } from './gocmd.js';
import {
  PROJECT,
  SUMDB_NAME,
  goEnvUpstream,
  replayDir,
  zipSet,
  type ModuleVersion,
} from './project.js';
import { startRelay, type Relay } from './relay.js';
import { startModgate } from './servers.js';
import { bodyFile, loadManifest, type Manifest, type SetZip } from './store.js';

const run = promisify(execFile);
const log = (s: string): void => void process.stderr.write(`record: ${s}\n`);

/** The project's own go.sum, from its module zip as the go command downloads it through the relay. */
async function projectGoSum(relay: Relay, tmp: string): Promise<string> {
  const home = await mkdtemp(path.join(tmp, 'project-'));
  const { stdout } = await run(
    'go',
    ['mod', 'download', '-json', `${PROJECT.module}@${PROJECT.version}`],
    { cwd: home, env: isolatedGoEnv(home, relay.url), maxBuffer: 1 << 20 },
  );
  const info = JSON.parse(stdout) as { Dir: string; Sum: string };
  if (info.Sum !== PROJECT.h1)
    throw new Error(`${PROJECT.module}@${PROJECT.version} is ${info.Sum}, expected ${PROJECT.h1}`);
  return readFile(path.join(info.Dir, 'go.sum'), 'utf8');
}

function zipPath(m: ModuleVersion): string {
  return `/${escapePath(m.path)}/@v/${escapeVersion(m.version)}.zip`;
}

function entryCount(file: string): Promise<number> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error(`cannot open ${file}`));
      const n = zip.entryCount;
      zip.close();
      resolve(n);
    }),
  );
}

async function describeSet(work: string, relay: Relay, set: ModuleVersion[]): Promise<SetZip[]> {
  const out: SetZip[] = [];
  for (const m of set) {
    const urlPath = zipPath(m);
    const a = relay.answers.get(urlPath);
    if (a?.status !== 200) throw new Error(`${m.path}@${m.version}: zip was not recorded`);
    out.push({ ...m, urlPath, size: a.size, files: await entryCount(bodyFile(work, urlPath)) });
  }
  return out;
}

export async function record(): Promise<Manifest> {
  const dir = replayDir();
  const done = await loadManifest(dir);
  if (done) return done;
  const work = `${dir}.partial`;
  const tmp = await mkdtemp(path.join(tmpdir(), 'modgate-record-'));
  const relay = await startRelay(work, goEnvUpstream());
  try {
    const set = zipSet(await projectGoSum(relay, tmp));
    log(`${PROJECT.module}@${PROJECT.version}: ${set.length} module versions with zips`);
    log(
      `go mod download through the relay: ${(await timedDownload(relay.url, set, tmp)).toFixed(1)} s`,
    );
    const gw = await startModgate(relay.url, path.join(tmp, 'modgate'));
    try {
      log(`again through modgate: ${(await timedDownload(gw.url, set, tmp)).toFixed(1)} s`);
    } finally {
      await gw.stop();
    }
    const latest = `/sumdb/${SUMDB_NAME}/latest`;
    if (relay.answers.get(latest)?.status !== 200) throw new Error('no signed tree head recorded');
    const manifest: Manifest = {
      module: PROJECT.module,
      version: PROJECT.version,
      recorded: new Date().toISOString(),
      head: await readFile(bodyFile(work, latest), 'utf8'),
      set: await describeSet(work, relay, set),
      answers: Object.fromEntries([...relay.answers].sort(([a], [b]) => a.localeCompare(b))),
    };
    await writeFile(path.join(work, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(work, dir);
    log(`${relay.forwarded()} answers recorded into ${dir}`);
    return manifest;
  } finally {
    await relay.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await record();
