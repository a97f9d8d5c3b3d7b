import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { isModgateError } from '../../src/errors.js';
import { hashGoMod } from '../../src/integrity/dirhash.js';
import {
  checkZipEntries,
  hashZipFile,
  verifyModuleZip,
  MAX_GO_MOD,
  MAX_LICENSE,
  MAX_ZIP_FILE,
} from '../../src/integrity/zip.js';
import { parseTxtar } from '../helpers/txtar.js';
import { conformance, readJson, td } from '../helpers/testdata.js';
import { makeZip, patchUncompressedSize, type ZipMember } from '../helpers/zipmaker.js';

let work = '';
let seq = 0;
async function zipFile(members: ZipMember[] | Buffer): Promise<string> {
  const file = path.join(work, `z${seq++}.zip`);
  await writeFile(file, Buffer.isBuffer(members) ? members : await makeZip(members));
  return file;
}

async function outcome(
  p: Promise<unknown>,
): Promise<{ code: string; message: string } | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (!isModgateError(err)) throw err;
    return { code: err.code, message: err.message };
  }
}

interface Header {
  path: string;
  version: string;
  hash: string;
  wantErr: string;
}

/** Reads a txtar case; a module path that is not UTF-8 becomes a string holding a lone surrogate. */
async function readCase(
  rel: string,
): Promise<{ h: Header; files: Array<{ name: string; data: string }> }> {
  const bytes = await readFile(td('xmod', rel));
  const text = bytes.toString('utf8');
  const ar = parseTxtar(text);
  const h: Header = { path: '', version: '', hash: '', wantErr: '' };
  for (const line of bytes.toString('latin1').split('\n')) {
    const m = /^(path|version|hash|wantErr)=(.*)$/.exec(line);
    if (!m) continue;
    const raw = Buffer.from(m[2]!.replace(/\s+#.*$/, ''), 'latin1');
    const dec = new TextDecoder('utf-8', { fatal: false }).decode(raw);
    h[m[1] as keyof Header] =
      raw.toString('utf8') === dec && !dec.includes('\ufffd') ? dec : '\udcff';
  }
  return { h, files: ar.files };
}

// The stable code each of Go's per-file errors maps to.
function codeFor(err: string): string {
  if (err.includes('path does not have prefix')) return 'ZIP_PATH_PREFIX';
  if (err.includes('malformed file path') || err.includes('file path is not clean'))
    return 'ZIP_PATH_INVALID';
  if (err.includes('multiple entries')) return 'ZIP_DUPLICATE';
  if (err.includes('case-insensitive')) return 'ZIP_CASE_COLLISION';
  if (err.includes('both a file and a directory')) return 'ZIP_FILE_DIR_CONFLICT';
  if (err.includes('go.mod file not in module root directory')) return 'ZIP_GOMOD_NOT_ROOT';
  if (err.includes('go.mod files must have lowercase names')) return 'ZIP_GOMOD_CASE';
  if (/(go\.mod|LICENSE) file too large/.test(err)) return 'ZIP_FILE_TOO_LARGE';
  if (err.includes('malformed module path')) return 'MODULE_PATH_INVALID';
  if (err.includes('invalid version') || err.includes('not canonical')) return 'VERSION_INVALID';
  if (err.includes('total uncompressed size')) return 'ZIP_UNCOMPRESSED_TOO_LARGE';
  if (err.includes('module zip file is too large')) return 'ZIP_TOO_LARGE';
  if (err.includes('larger than declared size')) return 'ZIP_INVALID';
  if (err.includes('not a valid zip file')) return 'ZIP_INVALID';
  throw new Error(`no code for ${err}`);
}

const counts: Record<string, [number, number]> = {};
function tally(t: Test, set: string, ok: boolean, msg: string): void {
  const c = (counts[set] ??= [0, 0]);
  c[1]++;
  if (ok) c[0]++;
  t.ok(ok, `${set}: ${msg}`);
}

t.before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modgate-zipconf-'));
});
t.teardown(async () => {
  await rm(work, { recursive: true, force: true });
  t.comment(`pass counts: ${JSON.stringify(counts)}`);
});

t.test('zip.json unzip: each txtar file one entry', async (t) => {
  conformance(t);
  const d = await readJson<any>('xmod-tables', 'zip.json');
  for (const r of d.results.unzip) {
    const { h, files } = await readCase(r.file);
    const file = await zipFile(files.map((f) => ({ name: f.name, data: f.data })));
    tally(t, 'unzip-hashzip', (await hashZipFile(file)) === r.hashZipOfInput, `HashZip ${r.file}`);
    const got = await outcome(verifyModuleZip(file, { path: h.path, version: h.version }));
    if (r.wantErr) {
      const wantCode = codeFor(r.checkZip.invalid?.[0]?.err ?? r.err ?? r.wantErr);
      const textOk =
        h.path === '\udcff'
          ? !!got?.message.includes('invalid UTF-8')
          : !!got?.message.includes(r.wantErr);
      tally(
        t,
        'unzip',
        got?.code === wantCode && textOk,
        `${r.file}: ${got?.code} ${got?.message}`,
      );
    } else {
      const rep = await verifyModuleZip(file, { path: h.path, version: h.version });
      tally(t, 'unzip', rep.h1 === r.wantHash && rep.h1 === h.hash, `${r.file}: ${rep.h1}`);
    }
  }
});

t.test('zip.json check_zip: classification of every entry', async (t) => {
  conformance(t);
  const d = await readJson<any>('xmod-tables', 'zip.json');
  for (const r of d.results.check_zip) {
    const { files } = await readCase(r.file);
    const mod = { path: r.path, version: r.version };
    const members = files
      .filter((f) => f.name !== 'want')
      .map((f) => ({ name: f.name, data: f.data }));
    const cf = checkZipEntries(
      mod,
      members.map((m) => ({ name: m.name, size: Buffer.byteLength(m.data) })),
    );
    const want = r.result;
    const invalid = cf.invalid.map((f) => ({ err: f.err, path: f.path }));
    const sameLists =
      JSON.stringify(cf.valid) === JSON.stringify(want.valid ?? []) &&
      JSON.stringify(invalid) === JSON.stringify(want.invalid ?? []);
    const codesOk = cf.invalid.every((f) => f.code === codeFor(f.err));
    const got = await outcome(verifyModuleZip(await zipFile(members), mod));
    const errOk =
      want.err === null
        ? got === undefined
        : !!got && got.message === want.err && got.code === codeFor(want.invalid[0].err);
    tally(
      t,
      'check_zip',
      sameLists && codesOk && errOk,
      `${r.file} ${JSON.stringify({ cf, got })}`,
    );
  }
});

/** create / create_from_dir / check_files / check_dir: the files Go keeps, zipped, must verify the same way. */
t.test('zip.json create-side sets replayed through the verifier', async (t) => {
  conformance(t);
  const d = await readJson<any>('xmod-tables', 'zip.json');
  for (const set of ['create', 'create_from_dir', 'check_files', 'check_dir']) {
    for (const r of d.results[set]) {
      const { h, files } = await readCase(r.file);
      const mod = r.path
        ? { path: h.path, version: h.version }
        : { path: 'example.com/m', version: 'v1.0.0' };
      const res = r.checkFiles ?? r.checkDir ?? r.result;
      const strip = (p: string): string => p.replace(/^\$work\//, '');
      const data = new Map(files.map((f) => [f.name, f.data]));
      const kept = [...(res.valid ?? []), ...(res.invalid ?? []).map((f: any) => f.path)].map(
        strip,
      );
      const members = kept.map((n) => ({
        name: `${mod.path}@${mod.version}/${n}`,
        data: data.get(n) ?? '',
      }));
      const got = await outcome(verifyModuleZip(await zipFile(members), mod));
      const wantErr = r.wantErr || (res.invalid?.length ? res.invalid[0].err : '');
      let ok: boolean;
      if (wantErr) {
        const code = codeFor(res.invalid?.[0]?.err ?? r.err ?? wantErr);
        ok =
          !!got &&
          got.code === code &&
          (h.path === '\udcff'
            ? got.message.includes('invalid UTF-8')
            : got.message.includes(wantErr));
      } else if (r.wantHash) {
        ok =
          got === undefined &&
          (await verifyModuleZip(await zipFile(members), mod)).h1 === r.wantHash;
      } else ok = got === undefined;
      tally(t, set, ok, `${r.file}: ${got ? `${got.code} ${got.message}` : 'ok'}`);
    }
  }
});

function zeros(n: number): Readable {
  let left = n;
  const chunk = Buffer.alloc(1 << 20);
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const k = Math.min(left, chunk.length);
      left -= k;
      this.push(k === chunk.length ? chunk : chunk.subarray(0, k));
    },
  });
}

t.test('zip.json size limits', async (t) => {
  conformance(t);
  const d = await readJson<any>('xmod-tables', 'zip.json');
  t.same(d.limits, { MaxGoMod: MAX_GO_MOD, MaxLICENSE: MAX_LICENSE, MaxZipFile: MAX_ZIP_FILE });
  const [modPath, version] = d.sizeLimits.module.split('@');
  const mod = { path: modPath, version };
  for (const c of d.sizeLimits.tests) {
    const members = c.files.map((f: any) => ({
      name: `${d.sizeLimits.module}/${f.name}`,
      stream: zeros(f.size),
      size: f.size,
    }));
    const got = await outcome(verifyModuleZip(await zipFile(members), mod));
    const want = c.wantUnzipErr || c.wantErr;
    const ok = want ? got?.code === codeFor(want) && got.message.includes(want) : got === undefined;
    tally(t, 'sizeLimits', ok, `${c.desc}: ${got ? got.code : 'ok'}`);
  }
  const m = { path: 'example.com/m', version: 'v1.0.0' };
  for (const c of d.sizeLimits.unzipSpecial) {
    let file: string;
    if (c.zipFileSize) {
      file = path.join(work, `${c.desc}.zip`);
      const fh = await open(file, 'w');
      await fh.truncate(c.zipFileSize);
      await fh.close();
    } else {
      const zip = await makeZip([
        { name: 'example.com/m@v1.0.0/go.mod', data: Buffer.alloc(0x0bad) },
      ]);
      file = await zipFile(patchUncompressedSize(zip, 0xac));
    }
    const got = await outcome(verifyModuleZip(file, m));
    const ok =
      got?.code === codeFor(c.wantErr) &&
      (got.message.includes(c.wantErr) || (!!c.wantErrAlt && got.message.includes(c.wantErrAlt)));
    tally(t, 'unzipSpecial', ok, `${c.desc}: ${got?.code} ${got?.message}`);
    await rm(file);
  }
});

t.test('real module zips (gosum/proxy) against published go.sum hashes', async (t) => {
  conformance(t);
  const index = await readJson<any[]>('gosum', 'proxy_index.json');
  const vcs = (await readJson<any>('xmod-tables', 'zip_vcs.json')).entries as any[];
  const csv = (await readFile(td('go', 'zip_sums.csv'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => l.split(','));
  for (const e of index) {
    const base = td('gosum', 'proxy', e.escapedPath, '@v', e.escapedVersion);
    const rep = await verifyModuleZip(
      `${base}.zip`,
      { path: e.module, version: e.version },
      { keepGoMod: true },
    );
    const mod = await readFile(`${base}.mod`);
    const entries = (await readdir(path.dirname(base))).length > 0;
    tally(
      t,
      'gosum-proxy',
      rep.h1 === e.h1 && rep.fileCount === e.zipFiles.length && entries,
      `${e.module}@${e.version} h1`,
    );
    tally(
      t,
      'gosum-proxy-gomod',
      hashGoMod(mod) === e.goModH1,
      `${e.module}@${e.version} go.mod h1`,
    );
    tally(
      t,
      'gosum-proxy-gomod',
      (!!rep.goMod && hashGoMod(rep.goMod) === e.goModH1) || e.goModSynthesized,
      `${e.module} zip go.mod`,
    );
    const v = vcs.find((x) => x.module === e.module && x.version === e.version);
    if (v) tally(t, 'zip_vcs', rep.h1 === v.wantContentHash, `${e.module}@${e.version} (TestVCS)`);
    const row = csv.find((r) => r[0] === e.module && r[1] === e.version);
    if (row) {
      const sha = createHash('sha256')
        .update(await readFile(`${base}.zip`))
        .digest('hex');
      tally(t, 'zip_sums.csv', rep.h1 === row[2] && sha === row[3], `${e.module}@${e.version}`);
    }
  }
});

t.test('cmd/go test-proxy fixtures (go/mod)', async (t) => {
  conformance(t);
  const fixtures = await readJson<any[]>('go', 'mod_fixture_sums.json');
  for (const f of fixtures) {
    const ar = parseTxtar(await readFile(td('go', 'mod', f.file), 'utf8'));
    const prefix = `${f.module}@${f.version}/`;
    const members = ar.files
      .map((x) => ({ name: prefix + x.name, data: x.data }))
      .filter((x) => (f.zipEntries ?? []).includes(x.name));
    const file = await zipFile(members);
    const [zipLine, modLine] = f.goSum as string[];
    tally(
      t,
      'go-mod-fixtures',
      (await hashZipFile(file)) === zipLine!.split(' ')[2],
      `${f.file} zip h1`,
    );
    tally(
      t,
      'go-mod-fixtures',
      hashGoMod(Buffer.from(f.mod)) === modLine!.split(' ')[2],
      `${f.file} go.mod h1`,
    );
    const got = await outcome(verifyModuleZip(file, { path: f.module, version: f.version }));
    const bad = (f.zipEntries ?? []).some((n: string) => n.includes('//'));
    const want = f.checkErr !== '<nil>' ? 'VERSION_INVALID' : bad ? 'ZIP_PATH_INVALID' : undefined;
    tally(t, 'go-mod-fixtures', got?.code === want, `${f.file} verify: ${got?.code ?? 'ok'}`);
  }
});
