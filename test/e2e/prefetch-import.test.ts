import t from 'tap';
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  makeModule,
  startFakeUpstream,
  sumdbRecords,
  type FakeModule,
} from '../helpers/fake-upstream.js';
import { startFakeSumdb } from '../helpers/fake-sumdb.js';
import { startTestGateway } from '../helpers/gateway.js';
import { goEnv, runGo } from '../helpers/gocmd.js';
import { modgate } from '../helpers/cli.js';
import { readRecords } from '../../src/audit/query.js';
import { testdir } from '../helpers/testdir.js';

// Go's published test key (golang.org/x/mod and cmd/go tests).
const KEYS = {
  verifier: 'localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6',
  signer:
    'PRIVATE+KEY+localhost.localdev/sumdb+00000c67+AXu6+oaVaOYuQOFrf1V59JK1owcFlJcHwwXHDfDGxSPk',
};

const env = {
  GOPROXY: 'off',
  GOSUMDB: 'off',
  GOPRIVATE: '',
  GONOSUMDB: '',
  GONOPROXY: '',
  MODGATE_CONFIG: '',
  MODGATE_TOKEN: '',
  SSL_CERT_FILE: '',
};

/** Every file under dir, relative. */
async function files(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)));
}

async function decisions(dataDir: string) {
  const out = [];
  for await (const r of readRecords(path.join(dataDir, 'audit')))
    if (r.type === 'decision') out.push(r);
  return out;
}

t.test(
  'prefetch a go.sum, export, import into an offline gateway the go command builds through',
  async (t) => {
    const dir = testdir(t);
    const mods: FakeModule[] = [
      await makeModule('example.com/alpha', 'v1.0.0', {
        'go.mod': 'module example.com/alpha\n\ngo 1.21\n',
        'x.go': 'package alpha\n\nfunc Hello() string { return "hello from alpha" }\n',
      }),
      await makeModule('example.com/beta', 'v1.2.0', {
        'go.mod': 'module example.com/beta\n\ngo 1.21\n',
      }),
      await makeModule('example.com/gamma', 'v0.3.0', {
        'go.mod': 'module example.com/gamma\n\ngo 1.21\n',
      }),
      await makeModule('example.com/delta', 'v0.1.0'),
      await makeModule('example.com/epsilon', 'v1.0.0'),
    ];
    const records = await sumdbRecords(mods, dir);
    const db = await startFakeSumdb({ keys: KEYS, records });
    const up = await startFakeUpstream(mods);
    const policyData = path.join(dir, 'policy-data.yaml');
    await writeFile(
      policyData,
      'banned:\n  - module: example.com/gamma\n    versions: v0.3.0\n    reason: known bad\n',
    );
    const dataA = path.join(dir, 'a');
    const gwA = await startTestGateway(dataA, {
      upstream: up.url,
      sumdb: `${KEYS.verifier} ${db.url}`,
      policy: { dataFile: policyData, workers: 1 },
    });
    let offline = false;
    t.teardown(async () => {
      await gwA.close();
      if (!offline) await Promise.all([up.close(), db.stop()]);
    });
    const gosum = path.join(dir, 'go.sum');
    await writeFile(
      gosum,
      records
        .flatMap((r) => [
          `${r.path} ${r.version} ${r.h1}`,
          `${r.path} ${r.version}/go.mod ${r.modH1}`,
        ])
        .join('\n') + '\n',
    );
    const cfgA = path.join(dir, 'a.yaml');
    await writeFile(cfgA, `sumdb: ${KEYS.verifier}\n`);
    const exp = path.join(dir, 'export');
    const summaryFile = path.join(dir, 'summary.json');
    const args = [
      'prefetch',
      gosum,
      '--config',
      cfgA,
      '--gateway',
      gwA.url,
      '--summary',
      summaryFile,
      '--export',
      exp,
    ];
    const first = await modgate(args, { env });
    t.equal(first.code, 3, `refused only: ${first.stderr}`);
    t.match(first.stderr, /refused: example\.com\/gamma@v0\.3\.0 \.zip: 403 POLICY_DENIED/);
    const summary = JSON.parse(await readFile(summaryFile, 'utf8'));
    t.same(summary.counts, { fetched: 14, refused: 1, failed: 0 });
    t.match(
      summary.artifacts.find(
        (e: { module: string; kind: string }) =>
          e.module === 'example.com/gamma' && e.kind === 'zip',
      ),
      {
        status: 'refused',
        httpStatus: 403,
        code: 'POLICY_DENIED',
        reason: /known bad/,
      },
    );
    const manifest = JSON.parse(await readFile(path.join(exp, 'modgate-export.json'), 'utf8'));
    t.same(
      manifest.modules.map((m: { module: string }) => m.module),
      ['example.com/alpha', 'example.com/beta', 'example.com/delta', 'example.com/epsilon'],
      'the refused module is not exported',
    );
    t.equal(manifest.modules[0].zip.h1, records[0]!.h1);
    const tree = await files(exp);
    t.notOk(
      tree.some((f) => f.includes('gamma')),
      'nothing of gamma in the export',
    );
    t.ok(tree.includes('sumdb/localhost.localdev/sumdb/latest'));
    t.ok(tree.includes('sumdb/localhost.localdev/sumdb/lookup/example.com/alpha@v1.0.0'));
    t.ok(tree.some((f) => f.startsWith('sumdb/localhost.localdev/sumdb/tile/8/0/')));
    const prefetched = (await decisions(dataA)).filter((r) => r.purpose === 'prefetch');
    t.ok(
      prefetched.some(
        (r) => r.module === 'example.com/alpha' && r.kind === 'zip' && r.decision === 'allow',
      ),
    );
    t.ok(prefetched.some((r) => r.module === 'example.com/gamma' && r.decision === 'deny'));

    // Resumed: fetched artifacts are skipped, the refused one is asked again.
    const asked = async (m: string) =>
      (await decisions(dataA)).filter((r) => r.purpose === 'prefetch' && r.module === m).length;
    const [alphaBefore, gammaBefore] = [
      await asked('example.com/alpha'),
      await asked('example.com/gamma'),
    ];
    const again = await modgate(args, { env });
    t.equal(again.code, 3, again.stderr);
    // gamma's .info and .mod were fetched, but are no longer in the export (its zip was refused).
    t.match(again.stderr, /12 artifact\(s\) already fetched, skipped; 3 to fetch/);
    t.equal(
      await asked('example.com/alpha'),
      alphaBefore,
      'fetched artifacts were not asked again',
    );
    t.equal(
      await asked('example.com/gamma'),
      gammaBefore + 3,
      'the refused module was asked again',
    );

    // Gateway B: no upstream, the database unreachable; the export is all it has.
    const dataB = path.join(dir, 'b');
    const cfgB = path.join(dir, 'b.yaml');
    const configB = {
      dataDir: dataB,
      upstream: 'off',
      // The database's host does not resolve, and this URL refuses connections at once.
      sumdb: `${KEYS.verifier} http://127.0.0.1:9`,
      policy: { dataFile: policyData, workers: 1 },
    };
    await writeFile(cfgB, JSON.stringify(configB));
    await Promise.all([up.close(), db.stop()]);
    offline = true;
    const imported = await modgate(['import', exp, '--config', cfgB], { env });
    t.equal(imported.code, 0, imported.stderr);
    t.match(imported.stderr, /12 artifact\(s\) imported, 0 refused/);
    const importedRecords = (await decisions(dataB)).filter((r) => r.purpose === 'import');
    t.ok(
      importedRecords.some(
        (r) =>
          r.module === 'example.com/alpha' &&
          r.kind === 'zip' &&
          r.decision === 'allow' &&
          r.evidence?.sumdb?.treeSize === 5,
      ),
      JSON.stringify(importedRecords),
    );

    await t.test(
      'a tampered export is refused on import: nothing of it stored, the refusal recorded',
      async (t) => {
        const bad = path.join(dir, 'bad');
        await cp(exp, bad, { recursive: true });
        const lookup = (m: string) => path.join(bad, 'sumdb/localhost.localdev/sumdb/lookup', m);
        // One zip byte (inside a file's compressed data).
        const zipFile = path.join(bad, 'example.com/alpha/@v/v1.0.0.zip');
        const zip = await readFile(zipFile);
        zip[zip.indexOf('package alpha') > 0 ? zip.indexOf('package alpha') : 60]! ^= 1;
        await writeFile(zipFile, zip);
        // A lookup record's hash, and another lookup's signed tree size.
        const rec = await readFile(lookup('example.com/beta@v1.2.0'), 'utf8');
        await writeFile(
          lookup('example.com/beta@v1.2.0'),
          rec.replace(/ h1:(.)/, (_, c: string) => ` h1:${c === 'A' ? 'B' : 'A'}`),
        );
        const note = await readFile(lookup('example.com/delta@v0.1.0'), 'utf8');
        await writeFile(
          lookup('example.com/delta@v0.1.0'),
          note.replace(
            /\ngo\.sum database tree\n(\d+)\n/,
            (_, n: string) => `\ngo.sum database tree\n${Number(n) + 1}\n`,
          ),
        );
        const data = path.join(dir, 'c');
        await writeFile(path.join(dir, 'c.yaml'), JSON.stringify({ ...configB, dataDir: data }));
        const r = await modgate(['import', bad, '--config', path.join(dir, 'c.yaml')], { env });
        t.equal(r.code, 3, r.stderr);
        const cases = [
          { module: 'example.com/alpha', code: /^(CHECKSUM_MISMATCH|ZIP_)/ },
          { module: 'example.com/beta', code: /^SUMDB_BAD_PROOF$/ },
          { module: 'example.com/delta', code: /^NOTE_/ },
        ];
        const stored = await files(path.join(data, 'store'));
        const kept = await files(path.join(data, 'sumdb'));
        const records = await decisions(data);
        for (const c of cases) {
          t.match(r.stderr, `refused: ${c.module}@`, `${c.module} refused`);
          t.notOk(
            stored.some((f) => f.startsWith(`cache/${c.module}/`) && f.includes('.zip')),
            `${c.module}: no zip stored`,
          );
          t.notOk(
            kept.some((f) => f.includes(`lookup/${c.module}@`)),
            `${c.module}: its lookup is not kept`,
          );
          const refusals = records.filter(
            (x) => x.purpose === 'import' && x.module === c.module && x.decision !== 'allow',
          );
          t.ok(
            refusals.some((x) => x.codes.some((code: string) => c.code.test(code))),
            `${c.module}: the audit trail holds the refusal (${JSON.stringify(refusals.map((x) => x.codes))})`,
          );
        }
        t.ok(
          records.some(
            (x) => x.module === 'example.com/epsilon' && x.kind === 'zip' && x.decision === 'allow',
          ),
          'the untouched module is imported',
        );
        t.ok(stored.includes('cache/example.com/epsilon/@v/v1.0.0.zip'));
      },
    );

    const gwB = await startTestGateway(dataB, configB);
    t.teardown(() => gwB.close());
    // While B runs, an import into its data folder is refused.
    const busy = await modgate(['import', exp, '--config', cfgB], { env });
    t.equal(busy.code, 1);
    t.match(busy.stderr, /^error: DATA_DIR_BUSY: /);

    const app = path.join(dir, 'app');
    await mkdir(app, { recursive: true });
    await writeFile(
      path.join(app, 'go.mod'),
      'module example.com/app\n\ngo 1.21\n\nrequire example.com/alpha v1.0.0\n',
    );
    await writeFile(
      path.join(app, 'main.go'),
      'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/alpha"\n)\n\nfunc main() { fmt.Println(alpha.Hello()) }\n',
    );
    const goenv = await goEnv(dir, {
      GOPROXY: gwB.url,
      GOSUMDB: KEYS.verifier,
      GOFLAGS: '-mod=mod -modcacherw',
      // The shared build cache indexes module-cache folders by path: a path of its own per run.
      GOMODCACHE: path.join(dir, `modcache-${process.pid}-${Date.now()}`),
    });
    const built = await runGo(['run', '.'], { cwd: app, env: goenv });
    t.equal(built.code, 0, built.stderr);
    t.match(built.stdout, /hello from alpha/);
    t.match(await readFile(path.join(app, 'go.sum'), 'utf8'), records[0]!.h1);
    const head = await readFile(
      path.join(goenv.GOPATH!, 'pkg', 'sumdb', 'localhost.localdev', 'sumdb', 'latest'),
      'utf8',
    );
    t.match(head, /^go\.sum database tree\n5\n/, 'the go command verified the tree through B');
  },
);
