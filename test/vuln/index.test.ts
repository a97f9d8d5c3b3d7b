import t from 'tap';
import { VulnIndex, goTagToSemver, osvVersion } from '../../src/vuln/index.js';
import { checkSnapshot } from '../../src/vuln/layout.js';
import { parseEntry } from '../../src/vuln/osv.js';
import { dbFiles, osvJson, type EntrySpec } from './helpers/db.js';

const entries: EntrySpec[] = [
  {
    id: 'GO-2026-0001',
    aliases: ['CVE-2026-1', 'GHSA-aaaa-bbbb-cccc'],
    affected: [
      {
        module: 'example.com/a',
        ranges: [
          [{ introduced: '0' }, { fixed: '1.2.0' }, { introduced: '1.5.0' }, { fixed: '1.5.3' }],
        ],
      },
    ],
  },
  {
    id: 'GO-2026-0002',
    affected: [{ module: 'example.com/a', ranges: [[{ introduced: '1.5.1' }]] }],
  },
  {
    id: 'GO-2026-0003',
    withdrawn: '2026-01-01T00:00:00Z',
    affected: [{ module: 'example.com/b', ranges: [[{ introduced: '0' }]] }],
  },
  {
    id: 'GO-2026-0004',
    affected: [
      { module: 'example.com/c', ranges: [[{ introduced: '1.0.0' }, { last_affected: '1.3.0' }]] },
    ],
  },
  { id: 'GO-2026-0005', affected: [{ module: 'example.com/d' }] },
  {
    id: 'GO-2026-0006',
    affected: [
      {
        module: 'stdlib',
        ranges: [
          [
            { introduced: '0' },
            { fixed: '1.21.5' },
            { introduced: '1.22.0-0' },
            { fixed: '1.22.1' },
          ],
        ],
      },
      { module: 'toolchain', ranges: [[{ introduced: '0' }, { fixed: '1.21.5' }]] },
    ],
  },
  {
    id: 'GO-2026-0007',
    affected: [
      {
        module: 'example.com/e',
        ranges: [[{ introduced: '2.0.0+incompatible' }, { fixed: '2.3.0+incompatible' }]],
      },
    ],
  },
];

const index = new VulnIndex(checkSnapshot(dbFiles(entries)).entries, '2026-01-01T00:00:00Z');
const ids = (m: string, v: string): string[] => index.lookup(m, v).map((f) => f.id);

t.test('SEMVER ranges: introduced, fixed, re-introduced', async (t) => {
  t.same(ids('example.com/a', 'v1.0.0'), ['GO-2026-0001']);
  t.same(ids('example.com/a', 'v1.2.0'), [], 'fixed is exclusive');
  t.same(
    ids('example.com/a', 'v1.2.0-rc.1'),
    ['GO-2026-0001'],
    'a prerelease sorts before its release',
  );
  t.same(ids('example.com/a', 'v1.5.0'), ['GO-2026-0001'], 'introduced is inclusive');
  t.same(ids('example.com/a', 'v1.5.2'), ['GO-2026-0001', 'GO-2026-0002']);
  t.same(ids('example.com/a', 'v1.5.3'), ['GO-2026-0002']);
  t.same(ids('example.com/a', 'v9.0.0'), ['GO-2026-0002'], 'no fix: affected ever after');
  t.same(
    ids('example.com/a', 'v1.3.0-0.20200101000000-abcdefabcdef'),
    [],
    'pseudo-versions compare as semver',
  );
  t.same(ids('example.org/none', 'v1.0.0'), []);
});

t.test('fixed is the earliest fix past the version that is not itself affected', async (t) => {
  t.equal(index.lookup('example.com/a', 'v1.0.0')[0]!.fixed, 'v1.2.0');
  t.equal(index.lookup('example.com/a', 'v1.5.1')[0]!.fixed, 'v1.5.3');
  t.equal(index.lookup('example.com/a', 'v1.5.1')[1]!.fixed, '', 'no fix known');
});

t.test('aliases, withdrawn, last_affected, all versions, +incompatible', async (t) => {
  t.same(index.lookup('example.com/a', 'v1.0.0')[0]!.aliases, [
    'CVE-2026-1',
    'GHSA-aaaa-bbbb-cccc',
  ]);
  t.same(index.idsForAlias('CVE-2026-1'), ['GO-2026-0001']);
  t.equal(index.entry('GO-2026-0001')?.id, 'GO-2026-0001');
  const w = index.lookup('example.com/b', 'v1.0.0');
  t.equal(w.length, 1);
  t.equal(w[0]!.withdrawn, '2026-01-01T00:00:00Z', 'withdrawn entries are listed, flagged');
  t.same(ids('example.com/c', 'v1.3.0'), ['GO-2026-0004'], 'last_affected is inclusive');
  t.same(ids('example.com/c', 'v1.3.1'), []);
  t.same(ids('example.com/d', 'v0.0.1'), ['GO-2026-0005'], 'no ranges: every version');
  t.same(ids('example.com/e', 'v2.1.0+incompatible'), ['GO-2026-0007']);
  t.same(ids('example.com/e', 'v2.3.0+incompatible'), []);
});

t.test('stdlib and toolchain read Go tags and semver', async (t) => {
  t.same(ids('stdlib', 'go1.21.4'), ['GO-2026-0006']);
  t.same(ids('stdlib', 'v1.21.4'), ['GO-2026-0006']);
  t.same(ids('stdlib', 'go1.21.5'), []);
  t.same(ids('stdlib', 'go1.22rc1'), ['GO-2026-0006']);
  t.same(ids('stdlib', 'go1.22.1'), []);
  t.same(ids('toolchain', 'go1.20'), ['GO-2026-0006']);
  t.equal(goTagToSemver('go1'), 'v1.0.0');
  t.equal(goTagToSemver('go1.22rc1'), 'v1.22.0-rc.1');
  t.equal(goTagToSemver('v1.2.3'), 'v1.2.3');
  t.equal(osvVersion('go1.2.3'), 'v1.2.3');
});

t.test('hostile entries are refused with VULNDB_INVALID', async (t) => {
  const good = osvJson(entries[0]!);
  const cases: Array<[string, unknown]> = [
    ['not json', '{'],
    ['array', []],
    ['bad id', { ...good, id: '../../etc/passwd' }],
    ['bad modified', { ...good, modified: 'yesterday' }],
    ['bad aliases', { ...good, aliases: 'CVE' }],
    [
      'limit event',
      {
        ...good,
        affected: [
          { package: { name: 'm' }, ranges: [{ type: 'SEMVER', events: [{ limit: '1' }] }] },
        ],
      },
    ],
    [
      'two kinds in one event',
      {
        ...good,
        affected: [
          {
            package: { name: 'm' },
            ranges: [{ type: 'SEMVER', events: [{ introduced: '0', fixed: '1' }] }],
          },
        ],
      },
    ],
    ['no package', { ...good, affected: [{}] }],
  ];
  for (const [name, body] of cases)
    t.throws(
      () => parseEntry(typeof body === 'string' ? body : JSON.stringify(body)),
      { code: 'VULNDB_INVALID' },
      name,
    );
  t.throws(
    () => parseEntry(JSON.stringify(good), 'GO-2026-9999'),
    { code: 'VULNDB_INVALID' },
    'id differs from its file',
  );
});

t.test('a copy whose files disagree is refused', async (t) => {
  const base = dbFiles(entries);
  const edit = (f: (m: Map<string, Buffer>) => void): Map<string, Buffer> => {
    const m = new Map(base);
    f(m);
    return m;
  };
  t.throws(
    () => checkSnapshot(edit((m) => m.delete('ID/GO-2026-0001.json'))),
    { code: 'VULNDB_INVALID' },
    'missing entry',
  );
  t.throws(
    () => checkSnapshot(edit((m) => m.set('ID/GO-2026-0099.json', Buffer.from('{}')))),
    { code: 'VULNDB_INVALID' },
    'unlisted file',
  );
  t.throws(
    () => checkSnapshot(edit((m) => m.set('index/modules.json', Buffer.from('[]')))),
    { code: 'VULNDB_INVALID' },
    'modules index disagrees',
  );
  t.throws(
    () =>
      checkSnapshot(
        edit((m) => m.set('index/db.json', Buffer.from('{"modified":"2025-01-01T00:00:00Z"}'))),
      ),
    { code: 'VULNDB_INVALID' },
    'entry newer than the database',
  );
  t.throws(
    () =>
      checkSnapshot(
        edit((m) =>
          m.set(
            'ID/GO-2026-0001.json',
            Buffer.from(
              JSON.stringify({ ...osvJson(entries[0]!), modified: '2025-06-01T00:00:00Z' }),
            ),
          ),
        ),
      ),
    { code: 'VULNDB_INVALID' },
    'entry modified differs from index/vulns.json',
  );
});
