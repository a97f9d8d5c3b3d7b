import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { compileData } from '../../src/policy/data.js';
import { buildInput, nextBoundary } from '../../src/policy/input.js';
import type { DecisionRequest } from '../../src/contracts.js';
import { repoRoot } from '../helpers/testdata.js';

const data = compileData({
  sources: { allow: ['example.com', 'github.com/acme/*'], deny: ['example.com/bad'] },
  banned: [{ module: 'example.com/lib', versions: '< v1.2.0', reason: 'old' }],
  minReleaseAgeHours: 24,
  cooldownExempt: ['example.com/fast'],
  groups: { contractors: ['github.com/acme/public'] },
  waivers: [
    { module: 'example.com/lib', versions: 'v1.1.0', reason: 'r', expires: '2026-07-01T00:00:00Z' },
  ],
});
const now = new Date('2026-06-01T00:00:00Z');
const identity = { id: 'u', method: 'bearer' as const, groups: ['contractors'] };
const req = (over: Partial<DecisionRequest>): DecisionRequest => ({
  kind: 'zip',
  module: 'example.com/lib',
  version: 'v1.1.0',
  identity,
  facts: {},
  ...over,
});

t.test('every input buildInput makes is valid against policies/input.schema.json', async (t) => {
  const schema = JSON.parse(
    await readFile(path.join(repoRoot, 'policies', 'input.schema.json'), 'utf8'),
  ) as object;
  // Formats are checked by hand below (ajv-formats is not a dependency).
  const ajv = new Ajv({ allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema);
  const inputs = [
    buildInput(req({}), data, now),
    buildInput(req({ kind: 'list', version: 'v0.0.0-20200101000000-abcdefabcdef' }), data, now),
    buildInput(req({ kind: 'latest', version: undefined }), data, now),
    buildInput(
      req({ kind: 'sumdb', version: undefined, identity: { ...identity, method: 'anonymous' } }),
      data,
      now,
    ),
    buildInput(
      req({
        version: 'v2.0.0+incompatible',
        identity: { ...identity, extra: 'dropped' } as unknown as DecisionRequest['identity'],
        facts: {
          publishTime: '2026-05-31T00:00:00Z',
          retracted: true,
          deprecated: 'use v2',
          zipSize: 10,
          fileCount: 1,
          checksum: { verified: false, method: 'none' },
        },
      }),
      data,
      now,
    ),
  ];
  for (const input of inputs) {
    t.ok(validate(input), JSON.stringify(validate.errors));
    t.equal(new Date(input.request.time).toISOString(), input.request.time, 'RFC 3339 time');
  }
});

t.test('version facts and matches are precomputed with Go semantics', async (t) => {
  const pseudo = buildInput(req({ version: 'v1.2.4-0.20200101000000-abcdefabcdef' }), data, now);
  t.match(pseudo.module, {
    major: 'v1',
    prerelease: '-0.20200101000000-abcdefabcdef',
    pseudo: true,
    incompatible: false,
    base: 'v1.2.3',
  });
  t.same(pseudo.match.banned, [], 'v1.2.4-0.… is above v1.2.0');
  const inc = buildInput(req({ version: 'v2.0.0+incompatible' }), data, now);
  t.match(inc.module, { major: 'v2', pseudo: false, incompatible: true, base: 'v2.0.0' });
  const old = buildInput(req({}), data, now);
  t.same(old.match.banned, [{ versions: '< v1.2.0', reason: 'old' }]);
  t.same(old.match.waivers, [
    { reason: 'r', expires: '2026-07-01T00:00:00Z', expiresEpoch: 1782864000 },
  ]);
  t.equal(old.match.allowed, true);
  t.equal(old.match.deniedBy, '');
  t.equal(old.match.groupAllowed, false, 'a contractor outside its group patterns');
  t.equal(old.request.epoch, 1780272000);
  t.equal(
    buildInput(req({ module: 'example.com/bad/x' }), data, now).match.deniedBy,
    'example.com/bad',
  );
  t.equal(buildInput(req({ module: 'other.example/x' }), data, now).match.allowed, false);
  t.equal(
    buildInput(req({ module: 'github.com/acme/public/x' }), data, now).match.groupAllowed,
    true,
  );
  t.equal(buildInput(req({ module: 'example.com/fast/x' }), data, now).match.cooldownExempt, true);
  t.same(
    buildInput(req({ version: undefined }), data, now).match.banned,
    [],
    'no version, no bans',
  );
});

t.test('nextBoundary: the earliest future waiver expiry or cool-down end', async (t) => {
  const young = buildInput(req({ facts: { publishTime: '2026-05-31T12:00:00Z' } }), data, now);
  t.equal(nextBoundary(young, data), Date.parse('2026-06-01T12:00:00Z') / 1000, 'cool-down end');
  const old = buildInput(req({ facts: { publishTime: '2026-01-01T00:00:00Z' } }), data, now);
  t.equal(nextBoundary(old, data), Date.parse('2026-07-01T00:00:00Z') / 1000, 'waiver expiry');
  const none = buildInput(req({ version: 'v1.3.0', facts: {} }), data, now);
  t.equal(nextBoundary(none, data), Infinity);
});
