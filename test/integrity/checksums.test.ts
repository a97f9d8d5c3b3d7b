import t from 'tap';
import {
  ChecksumVerifier,
  expectedHash,
  type SumdbLookup,
  type TofuLedger,
} from '../../src/integrity/checksums.js';

const ZIP = 'h1:zipzipzipzipzipzipzipzipzipzipzipzipzipzipzip=';
const MOD = 'h1:modmodmodmodmodmodmodmodmodmodmodmodmodmodmod=';
const OTHER = 'h1:otherotherotherotherotherotherotherotherothe=';
const EVIDENCE = { treeSize: 42, rootHash: 'root', recordId: 7 };

/** An in-memory checksum database that counts its lookups. */
function fakeSumdb(records: Record<string, string[]>) {
  const lookups: string[] = [];
  const db: SumdbLookup = {
    name: 'sum.golang.org',
    async lookup(m, v) {
      lookups.push(`${m}@${v}`);
      const lines = records[`${m}@${v}`];
      if (!lines) throw Object.assign(new Error('not found'), { code: 'SUMDB_NOT_FOUND' });
      return { lines, evidence: EVIDENCE };
    },
  };
  return { db, lookups };
}

function memoryTofu() {
  const m = new Map<string, { h1: string; firstSeen: string }>();
  const ledger: TofuLedger = {
    async get(k) {
      return m.get(k) ?? null;
    },
    async remember(k, h1) {
      const seen = m.get(k) ?? { h1, firstSeen: `2026-01-0${m.size + 1}T00:00:00Z` };
      m.set(k, seen);
      return seen;
    },
  };
  return { ledger, entries: m };
}

const lines = (m: string, v: string) => [`${m} ${v} ${ZIP}`, `${m} ${v}/go.mod ${MOD}`];

t.test('public modules are checked against the checksum database', async (t) => {
  const { db, lookups } = fakeSumdb({ 'example.com/m@v1.0.0': lines('example.com/m', 'v1.0.0') });
  const tofu = memoryTofu();
  const v = new ChecksumVerifier({ sumdb: db, tofu: tofu.ledger, isPrivate: () => false });
  t.same(await v.check('example.com/m', 'v1.0.0', 'zip', ZIP), {
    method: 'sumdb',
    h1: ZIP,
    sumdb: { name: 'sum.golang.org', ...EVIDENCE },
  });
  t.match(await v.check('example.com/m', 'v1.0.0', 'mod', MOD), { method: 'sumdb', h1: MOD });
  t.same(lookups, ['example.com/m@v1.0.0', 'example.com/m@v1.0.0']);
  t.equal(tofu.entries.size, 0, 'the TOFU ledger is not used for public modules');
});

t.test('a hash that differs from the checksum database is CHECKSUM_MISMATCH', async (t) => {
  const { db } = fakeSumdb({ 'example.com/m@v1.0.0': lines('example.com/m', 'v1.0.0') });
  const v = new ChecksumVerifier({ sumdb: db, tofu: memoryTofu().ledger, isPrivate: () => false });
  await t.rejects(v.check('example.com/m', 'v1.0.0', 'zip', OTHER), {
    code: 'CHECKSUM_MISMATCH',
    message: /^SECURITY ERROR: checksum mismatch for example\.com\/m@v1\.0\.0\n/,
    details: { expected: ZIP, actual: OTHER, kind: 'zip', source: 'sum.golang.org' },
  });
  await t.rejects(v.check('example.com/m', 'v1.0.0', 'mod', ZIP), {
    code: 'CHECKSUM_MISMATCH',
    message: /example\.com\/m@v1\.0\.0\/go\.mod/,
    details: { expected: MOD, actual: ZIP },
  });
});

t.test('a record without the needed hash, or for another module, is not a match', async (t) => {
  const { db } = fakeSumdb({
    'example.com/m@v1.0.0': [`example.com/m v1.0.0 ${ZIP}`],
    'example.com/n@v1.0.0': [`example.com/other v1.0.0 ${ZIP}`, 'garbage', ''],
  });
  const v = new ChecksumVerifier({ sumdb: db, tofu: memoryTofu().ledger, isPrivate: () => false });
  await t.rejects(v.check('example.com/m', 'v1.0.0', 'mod', MOD), { code: 'SUMDB_BAD_RESPONSE' });
  await t.rejects(v.check('example.com/n', 'v1.0.0', 'zip', ZIP), { code: 'SUMDB_BAD_RESPONSE' });
  await t.rejects(v.check('example.com/x', 'v1.0.0', 'zip', ZIP), { code: 'SUMDB_NOT_FOUND' });
});

t.test('private modules never reach the checksum database: TOFU instead', async (t) => {
  const { db, lookups } = fakeSumdb({});
  const tofu = memoryTofu();
  const v = new ChecksumVerifier({
    sumdb: db,
    tofu: tofu.ledger,
    isPrivate: (m) => m.startsWith('corp.example/'),
  });
  t.same(await v.check('corp.example/lib', 'v1.0.0', 'zip', ZIP), {
    method: 'tofu',
    h1: ZIP,
    firstSeen: '2026-01-01T00:00:00Z',
  });
  t.match(await v.check('corp.example/lib', 'v1.0.0', 'mod', MOD), { method: 'tofu', h1: MOD });
  t.same([...tofu.entries.keys()], ['corp.example/lib@v1.0.0', 'corp.example/lib@v1.0.0/go.mod']);
  t.match(await v.check('corp.example/lib', 'v1.0.0', 'zip', ZIP), {
    firstSeen: '2026-01-01T00:00:00Z',
  });
  await t.rejects(v.check('corp.example/lib', 'v1.0.0', 'zip', OTHER), {
    code: 'CHECKSUM_MISMATCH',
    details: { expected: ZIP, actual: OTHER, source: 'the local TOFU ledger' },
  });
  t.equal(tofu.entries.get('corp.example/lib@v1.0.0')!.h1, ZIP, 'the first hash stays');
  t.same(lookups, [], 'no lookup left modgate for a private name');
});

t.test('with the checksum database off every module is TOFU', async (t) => {
  const tofu = memoryTofu();
  const v = new ChecksumVerifier({ sumdb: null, tofu: tofu.ledger, isPrivate: () => false });
  t.match(await v.check('example.com/m', 'v1.0.0', 'zip', ZIP), { method: 'tofu' });
  await t.rejects(v.check('example.com/m', 'v1.0.0', 'zip', OTHER), { code: 'CHECKSUM_MISMATCH' });
});

t.test(
  'expectedHash picks the zip or go.mod line of exactly this module and version',
  async (t) => {
    const ls = [
      `example.com/m v1.0.0 ${ZIP}`,
      `example.com/m v1.0.0/go.mod ${MOD}`,
      `example.com/m v1.0.1 ${OTHER}`,
      `example.com/m v1.0.0 notanh1`,
    ];
    t.equal(expectedHash(ls, 'example.com/m', 'v1.0.0', 'zip'), ZIP);
    t.equal(expectedHash(ls, 'example.com/m', 'v1.0.0', 'mod'), MOD);
    t.equal(expectedHash(ls, 'example.com/m', 'v1.0.1', 'mod'), undefined);
    t.equal(expectedHash(ls, 'example.com/mm', 'v1.0.0', 'zip'), undefined);
    t.equal(
      expectedHash([`  example.com/m   v1.0.0   ${ZIP}  `], 'example.com/m', 'v1.0.0', 'zip'),
      ZIP,
    );
    t.equal(
      expectedHash([`example.com/m v1.0.0 ${ZIP} extra`], 'example.com/m', 'v1.0.0', 'zip'),
      undefined,
    );
  },
);
