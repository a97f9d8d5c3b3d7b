import t from 'tap';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import yazl from 'yazl';
import { buffer } from 'node:stream/consumers';
import { ZipStreamDigester, type StreamedEntry } from '../../src/integrity/zipstream.js';
import { verifyModuleZip } from '../../src/integrity/zip.js';
import { makeModuleZip } from '../helpers/modzip.js';
import { conformance, readJson, td } from '../helpers/testdata.js';
import { testdir } from '../helpers/testdir.js';

async function stream(zip: Buffer, keep: string, chunk: number): Promise<StreamedEntry[] | null> {
  const d = new ZipStreamDigester(Buffer.from(keep));
  const parts: Buffer[] = [];
  for (let i = 0; i < zip.length; i += chunk) parts.push(zip.subarray(i, i + chunk));
  await pipeline(Readable.from(parts), d, new Writable({ write: (_c, _e, cb) => cb() }));
  return d.entries();
}

async function descriptorZip(
  mod: string,
  v: string,
  files: Record<string, Buffer>,
): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const [n, data] of Object.entries(files))
    z.addReadStream(Readable.from([data]), `${mod}@${v}/${n}`, { compress: true });
  z.end();
  return buffer(z.outputStream);
}

t.test('digests taken while streaming equal a full verification, and are used', async (t) => {
  const dir = testdir(t);
  const big = Buffer.alloc(3 << 20, 'x');
  const zips: Array<[string, Buffer]> = [
    [
      'sizes in local headers',
      await makeModuleZip('example.com/a', 'v1.0.0', {
        'go.mod': 'module example.com/a\n',
        'a.go': 'package a\n',
        'big.txt': big,
      }),
    ],
    [
      'data descriptors',
      await descriptorZip('example.com/a', 'v1.0.0', {
        'go.mod': Buffer.from('module example.com/a\n'),
        'a.go': Buffer.from('package a\n'),
        'big.txt': big,
      }),
    ],
  ];
  for (const [what, zip] of zips) {
    for (const chunk of [1, 7, 4096, 65536, 1 << 22]) {
      if (chunk === 1 && zip.length > 100_000) continue;
      const streamed = await stream(zip, 'example.com/a@v1.0.0/go.mod', chunk);
      t.ok(streamed, `${what}, ${chunk}-byte chunks: parsed`);
      const file = path.join(dir, 'z.zip');
      await writeFile(file, zip);
      const mv = { path: 'example.com/a', version: 'v1.0.0' };
      const plain = await verifyModuleZip(file, mv, { keepGoMod: true });
      const fast = await verifyModuleZip(file, mv, { streamed, keepGoMod: true });
      t.equal(fast.h1, plain.h1, `${what}, ${chunk}: same h1`);
      t.equal(fast.goMod?.toString(), 'module example.com/a\n');
      t.same(fast.goMod, plain.goMod);
    }
  }
});

t.test('real proxy zips (Go-made, data descriptors) stream to the same h1', async (t) => {
  conformance(t);
  const index = await readJson<Record<string, { h1?: string }>>('gosum', 'proxy_index.json');
  let n = 0;
  const walk = async (d: string): Promise<string[]> =>
    (
      await Promise.all(
        (await readdir(d, { withFileTypes: true })).map((e) =>
          e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)],
        ),
      )
    ).flat();
  for (const file of (await walk(td('gosum', 'proxy'))).filter((f) => f.endsWith('.zip'))) {
    const rel = path.relative(td('gosum', 'proxy'), file);
    const [escaped, ver] = rel.split('/@v/') as [string, string];
    const modPath = escaped.replace(/!([a-z])/g, (_, c: string) => c.toUpperCase());
    const version = ver.slice(0, -4).replace(/!([a-z])/g, (_, c: string) => c.toUpperCase());
    const streamed = await stream(await readFile(file), `${modPath}@${version}/go.mod`, 16384);
    t.ok(streamed, `${rel}: parsed while streaming`);
    const plain = await verifyModuleZip(file, { path: modPath, version });
    const fast = await verifyModuleZip(file, { path: modPath, version }, { streamed });
    t.equal(fast.h1, plain.h1, rel);
    n++;
  }
  t.ok(n >= 10, `${n} real zips`);
  t.ok(Object.keys(index).length > 0);
});

t.test(
  'streamed digests that disagree with the central directory are ignored; bad zips still fail',
  async (t) => {
    const dir = testdir(t);
    const zip = await makeModuleZip('example.com/a', 'v1.0.0', {
      'go.mod': 'module example.com/a\n',
      'a.go': 'package a\n',
    });
    const file = path.join(dir, 'z.zip');
    await writeFile(file, zip);
    const streamed = (await stream(zip, 'example.com/a@v1.0.0/go.mod', 100))!;
    const plain = await verifyModuleZip(file, { path: 'example.com/a', version: 'v1.0.0' });
    const shifted = streamed.map((e) => ({ ...e, sha256: '\0'.repeat(32), offset: e.offset + 1 }));
    t.equal(
      (
        await verifyModuleZip(
          file,
          { path: 'example.com/a', version: 'v1.0.0' },
          { streamed: shifted },
        )
      ).h1,
      plain.h1,
      'mismatching offsets: recomputed',
    );
    const truncated = zip.subarray(0, zip.length - 40);
    // Digests of the entries that did arrive do not make a truncated zip acceptable.
    await writeFile(file, truncated);
    await t.rejects(
      verifyModuleZip(
        file,
        { path: 'example.com/a', version: 'v1.0.0' },
        { streamed: await stream(truncated, 'x', 64) },
      ),
      { code: 'ZIP_INVALID' },
    );
    t.equal(await stream(Buffer.from('not a zip at all'), 'x', 4), null);
  },
);

t.test('many small files: each inflated once, straddling chunks or not, same h1', async (t) => {
  const dir = testdir(t);
  const files: Record<string, Buffer> = { 'go.mod': Buffer.from('module example.com/many\n') };
  for (let i = 0; i < 600; i++)
    files[`pkg${i % 7}/f${i}.go`] = Buffer.from(`package p\n// ${'x'.repeat(i * 13)}\n`);
  // One entry large enough to take the streaming inflater, among the small ones.
  files['big/data.txt'] = Buffer.from(
    Array.from({ length: 40_000 }, (_, i) => `${i * 7919}`).join(','),
  );
  const zip = await descriptorZip('example.com/many', 'v1.0.0', files);
  const file = path.join(dir, 'many.zip');
  await writeFile(file, zip);
  const mv = { path: 'example.com/many', version: 'v1.0.0' };
  const plain = await verifyModuleZip(file, mv);
  for (const chunk of [97, 4096, 65536, zip.length]) {
    const streamed = await stream(zip, 'x', chunk);
    t.equal(streamed?.length, Object.keys(files).length, `${chunk}-byte chunks: every entry`);
    let inflated = 0;
    const fast = await verifyModuleZip(file, mv, { streamed, onInflated: (n) => (inflated += n) });
    t.equal(fast.h1, plain.h1, `${chunk}-byte chunks: same h1`);
    t.equal(inflated, 0, `${chunk}-byte chunks: nothing inflated again`);
  }
});

t.test('corrupt deflate data: no streamed digests, and the zip is refused', async (t) => {
  const dir = testdir(t);
  const zip = Buffer.from(
    await descriptorZip('example.com/a', 'v1.0.0', {
      'go.mod': Buffer.from('module example.com/a\n'),
      'a.go': Buffer.from(`package a\n// ${'abc'.repeat(500)}\n`),
    }),
  );
  // The second entry's deflate data starts after its 30-byte header and name.
  const at = zip.indexOf('a.go') + 'a.go'.length;
  zip.fill(0xff, at, at + 8);
  for (const chunk of [13, 65536]) t.equal(await stream(zip, 'x', chunk), null, `${chunk}`);
  const file = path.join(dir, 'bad.zip');
  await writeFile(file, zip);
  await t.rejects(verifyModuleZip(file, { path: 'example.com/a', version: 'v1.0.0' }), {
    code: 'ZIP_INVALID',
  });
});

t.test(
  'kept files: their verified content, null when over the cap, refused when they changed',
  async (t) => {
    const dir = testdir(t);
    const mv = { path: 'example.com/a', version: 'v1.0.0' };
    const zip = await makeModuleZip('example.com/a', 'v1.0.0', {
      'go.mod': 'module example.com/a\n',
      LICENSE: 'the license text\n',
      'COPYING.txt': 'x'.repeat(5000),
      'sub/LICENSE': 'not at the root\n',
    });
    const file = path.join(dir, 'a.zip');
    await writeFile(file, zip);
    const keep = {
      match: (n: string) => /^example\.com\/a@v1\.0\.0\/(LICENSE|COPYING\.txt)$/.test(n),
      maxBytes: 4096,
    };
    const streamed = (await stream(zip, 'x', 1000))!;
    for (const [what, opts] of [
      ['from the stream', { streamed, keep }],
      ['read again', { keep }],
    ] as const) {
      const rep = await verifyModuleZip(file, mv, opts);
      t.same(
        rep.kept?.map((k) => [
          k.name.slice(mv.path.length + mv.version.length + 2),
          k.data?.toString(),
        ]),
        [
          ['COPYING.txt', undefined],
          ['LICENSE', 'the license text\n'],
        ].sort((a, b) => zipOrder(zip, a[0]!) - zipOrder(zip, b[0]!)),
        `${what}: the root files asked for, the over-long one without content`,
      );
    }
    // A digest that went into h1 but is not what the file now holds: the kept content is refused.
    const lic = streamed.findIndex((e) => e.offset === zipOrder(zip, 'LICENSE') - 30);
    t.ok(lic >= 0);
    const forged = streamed.map((e, i) => (i === lic ? { ...e, sha256: 'z'.repeat(32) } : e));
    await t.rejects(verifyModuleZip(file, mv, { streamed: forged, keep }), {
      code: 'ZIP_INVALID',
      message: /LICENSE changed after it was verified/,
    });
  },
);

/** Where an entry's name first appears in the zip (its local header comes before the directory). */
function zipOrder(zip: Buffer, rel: string): number {
  return zip.indexOf(`example.com/a@v1.0.0/${rel}`);
}
