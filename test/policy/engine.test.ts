import t from 'tap';
import { bundle } from '../helpers/bundle.js';
import type { Test } from 'tap';
import { cp, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { PolicyEngine, type RawDecision, type ReloadEvent } from '../../src/policy/engine.js';
import { buildInput } from '../../src/policy/input.js';
import type { DecisionRequest, ModuleFacts } from '../../src/contracts.js';
import { repoRoot } from '../helpers/testdata.js';
import { testdir } from '../helpers/testdir.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const anon = { id: 'anon', method: 'anonymous' as const, groups: [] as string[] };
const verified: ModuleFacts = {
  publishTime: '2026-01-01T00:00:00Z',
  retracted: false,
  zipSize: 1000,
  fileCount: 3,
  checksum: { verified: true, method: 'sumdb' },
};

async function engineWith(t: Test, data: Record<string, unknown>): Promise<PolicyEngine> {
  const dataFile = path.join(testdir(t), 'data.yaml');
  await writeFile(dataFile, YAML.stringify(data));
  const engine = await PolicyEngine.load({ path: path.join(repoRoot, 'policies'), dataFile });
  t.teardown(() => engine.close());
  return engine;
}

function decide(
  engine: PolicyEngine,
  req: Partial<DecisionRequest> & { module: string },
  now = NOW,
): RawDecision {
  const full: DecisionRequest = {
    kind: 'zip',
    version: 'v1.0.0',
    identity: anon,
    facts: verified,
    ...req,
  };
  return engine.evaluate(buildInput(full, engine.data, now));
}

const codes = (d: RawDecision) => d.deny.map((r) => r.code).sort();
const warns = (d: RawDecision) => d.warn.map((r) => r.code).sort();

async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 25) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

t.test('the shipped data allows an ordinary verified zip', async (t) => {
  const engine = await PolicyEngine.load({ path: path.join(repoRoot, 'policies') });
  t.teardown(() => engine.close());
  t.same(decide(engine, { module: 'example.com/m' }), { allow: true, deny: [], warn: [] });
  t.match(engine.policyRevision, /^[0-9a-f]{16}$/);
  t.match(engine.dataRevision, /^[0-9a-f]{16}$/);
  t.equal(
    engine.sourceRevision,
    (await readFile(path.join(repoRoot, 'policies', 'build', 'REVISION'), 'utf8')).trim(),
    'the Rego source hash written by build-policy.sh',
  );
});

t.test('sources: SOURCE_DENIED and SOURCE_NOT_ALLOWED for every kind', async (t) => {
  const engine = await engineWith(t, {
    sources: { allow: ['example.com/team', 'github.com/acme/*'], deny: ['example.com/team/bad'] },
  });
  for (const kind of ['zip', 'mod', 'info', 'list', 'latest', 'sumdb'] as const) {
    t.same(codes(decide(engine, { kind, module: 'example.com/team/bad/x' })), ['SOURCE_DENIED']);
    t.same(codes(decide(engine, { kind, module: 'other.example/m' })), ['SOURCE_NOT_ALLOWED']);
    t.ok(decide(engine, { kind, module: 'example.com/team/good' }).allow, kind);
    t.ok(decide(engine, { kind, module: 'github.com/acme/repo/v2' }).allow, kind);
  }
  t.match(
    decide(engine, { module: 'example.com/team/bad' }).deny[0]!.message,
    /example\.com\/team\/bad/,
  );
});

t.test(
  'GROUP_NOT_ALLOWED: group members fetch only their modules; others are unrestricted',
  async (t) => {
    const engine = await engineWith(t, { groups: { contractors: ['github.com/acme/public'] } });
    const contractor = { id: 'c1', method: 'bearer' as const, groups: ['contractors'] };
    const staff = { id: 's1', method: 'bearer' as const, groups: ['staff'] };
    const d = decide(engine, { module: 'github.com/acme/secret', identity: contractor });
    t.same(codes(d), ['GROUP_NOT_ALLOWED']);
    t.match(d.deny[0]!.message, /groups of c1/);
    t.ok(decide(engine, { module: 'github.com/acme/public/sub', identity: contractor }).allow);
    t.ok(decide(engine, { module: 'github.com/acme/secret', identity: staff }).allow);
    t.same(
      codes(
        decide(engine, { kind: 'mod', module: 'github.com/acme/secret', identity: contractor }),
      ),
      ['GROUP_NOT_ALLOWED'],
      'group rules apply to every kind',
    );
  },
);

t.test(
  'VERSION_BANNED: exact and ranges with Go semver; .mod and .info stay allowed',
  async (t) => {
    const engine = await engineWith(t, {
      banned: [
        { module: 'example.com/lib', versions: 'v1.0.1', reason: 'exact' },
        { module: 'example.com/lib', versions: '>= v1.4.0 < v1.4.5', reason: 'CVE-2026-1' },
        { module: 'example.com/old', versions: '< v1.2.3', reason: 'too old' },
      ],
    });
    const banned = (module: string, version: string, kind: DecisionRequest['kind'] = 'zip') =>
      codes(decide(engine, { module, version, kind })).includes('VERSION_BANNED');
    t.ok(banned('example.com/lib', 'v1.0.1'));
    t.notOk(banned('example.com/lib', 'v1.0.2'));
    t.ok(banned('example.com/lib', 'v1.4.0'));
    t.ok(banned('example.com/lib', 'v1.4.4'));
    t.notOk(banned('example.com/lib', 'v1.4.5'));
    t.ok(banned('example.com/lib', 'v1.4.5-rc.1'), 'a prerelease of v1.4.5 sorts before it');
    t.ok(banned('example.com/old', 'v1.2.2'));
    t.ok(
      banned('example.com/old', 'v0.0.0-20200101000000-abcdefabcdef'),
      'pseudo-versions compare by Go rules',
    );
    t.notOk(banned('example.com/old', 'v1.2.3'));
    t.ok(banned('example.com/lib/sub', 'v1.0.1'), 'module patterns match paths below them');
    t.ok(banned('example.com/lib', 'v1.4.1', 'list'), 'list entries are filtered');
    t.notOk(banned('example.com/lib', 'v1.4.1', 'mod'));
    t.notOk(banned('example.com/lib', 'v1.4.1', 'info'));
    t.match(
      decide(engine, { module: 'example.com/lib', version: 'v1.4.2' }).deny[0]!.message,
      'example.com/lib@v1.4.2 is banned (>= v1.4.0 < v1.4.5): CVE-2026-1',
    );
  },
);

t.test('MIN_RELEASE_AGE: cool-down with per-path exceptions', async (t) => {
  const engine = await engineWith(t, {
    minReleaseAgeHours: 72,
    cooldownExempt: ['example.com/trusted'],
  });
  const young = { ...verified, publishTime: '2026-05-31T12:00:00Z' };
  t.same(codes(decide(engine, { module: 'example.com/m', facts: young })), ['MIN_RELEASE_AGE']);
  t.same(codes(decide(engine, { kind: 'list', module: 'example.com/m', facts: young })), [
    'MIN_RELEASE_AGE',
  ]);
  t.ok(decide(engine, { kind: 'mod', module: 'example.com/m', facts: young }).allow);
  t.ok(decide(engine, { module: 'example.com/trusted/x', facts: young }).allow, 'exempt');
  t.ok(decide(engine, { module: 'example.com/m' }).allow, 'old enough');
  t.ok(
    decide(engine, { module: 'example.com/m', facts: young }, new Date('2026-06-03T12:00:00Z'))
      .allow,
    'allowed once 72 hours have passed',
  );
  t.notOk(
    decide(engine, { module: 'example.com/m', facts: young }, new Date('2026-06-03T11:59:59Z'))
      .allow,
  );
});

t.test('VERSION_RETRACTED, PSEUDO_VERSION_DENIED, INCOMPATIBLE_DENIED', async (t) => {
  const deny = await engineWith(t, {
    denyRetracted: true,
    pseudoVersions: 'deny',
    incompatible: 'deny',
  });
  const pseudo = 'v0.0.0-20200101000000-abcdefabcdef';
  t.same(
    codes(decide(deny, { module: 'example.com/m', facts: { ...verified, retracted: true } })),
    ['VERSION_RETRACTED'],
  );
  t.same(codes(decide(deny, { module: 'example.com/m', version: pseudo })), [
    'PSEUDO_VERSION_DENIED',
  ]);
  t.same(codes(decide(deny, { module: 'example.com/m', version: 'v2.0.0+incompatible' })), [
    'INCOMPATIBLE_DENIED',
  ]);
  t.ok(decide(deny, { kind: 'info', module: 'example.com/m', version: pseudo }).allow);
  const warn = await engineWith(t, { pseudoVersions: 'warn', incompatible: 'warn' });
  const p = decide(warn, { module: 'example.com/m', version: pseudo });
  t.ok(p.allow);
  t.same(warns(p), ['PSEUDO_VERSION']);
  t.same(warns(decide(warn, { module: 'example.com/m', version: 'v2.0.0+incompatible' })), [
    'INCOMPATIBLE',
  ]);
  const allow = await engineWith(t, {});
  t.ok(decide(allow, { module: 'example.com/m', facts: { ...verified, retracted: true } }).allow);
  t.same(decide(allow, { module: 'example.com/m', version: pseudo }).warn, []);
});

t.test('ZIP_TOO_LARGE_POLICY and CHECKSUM_UNVERIFIED apply to zips', async (t) => {
  const engine = await engineWith(t, { maxZipBytes: 5000 });
  t.same(
    codes(decide(engine, { module: 'example.com/m', facts: { ...verified, zipSize: 5001 } })),
    ['ZIP_TOO_LARGE_POLICY'],
  );
  t.ok(decide(engine, { module: 'example.com/m', facts: { ...verified, zipSize: 5000 } }).allow);
  const unverified = { ...verified, checksum: { verified: false, method: 'none' as const } };
  const d = decide(engine, { module: 'example.com/m', facts: unverified });
  t.same(codes(d), ['CHECKSUM_UNVERIFIED']);
  t.match(d.deny[0]!.message, /method none/);
  t.ok(decide(engine, { kind: 'mod', module: 'example.com/m', facts: unverified }).allow);
});

t.test('a waiver lifts version denials until it expires, with a WAIVED warning', async (t) => {
  const engine = await engineWith(t, {
    banned: [{ module: 'example.com/lib', versions: '*', reason: 'CVE' }],
    minReleaseAgeHours: 24,
    waivers: [
      {
        module: 'example.com/lib',
        versions: '>= v1.2.0 < v1.3.0',
        reason: 'INC-7',
        expires: '2026-06-02T00:00:00Z',
      },
    ],
  });
  const young = { ...verified, publishTime: '2026-06-01T11:00:00Z' };
  const live = decide(engine, { module: 'example.com/lib', version: 'v1.2.5', facts: young });
  t.ok(live.allow);
  t.same(warns(live), ['WAIVED', 'WAIVED']);
  t.match(live.warn[0]!.message, /waived until 2026-06-02T00:00:00Z: INC-7/);
  t.same(codes(decide(engine, { module: 'example.com/lib', version: 'v1.3.0', facts: young })), [
    'MIN_RELEASE_AGE',
    'VERSION_BANNED',
  ]);
  const justBefore = new Date('2026-06-01T23:59:59Z');
  t.ok(decide(engine, { module: 'example.com/lib', version: 'v1.2.5' }, justBefore).allow);
  const atExpiry = new Date('2026-06-02T00:00:00Z');
  const expired = decide(engine, { module: 'example.com/lib', version: 'v1.2.5' }, atExpiry);
  t.same(codes(expired), ['VERSION_BANNED'], 'an expired waiver stops applying by itself');
  t.same(expired.warn, []);
  const source = await engineWith(t, {
    sources: { deny: ['example.com/lib'] },
    waivers: [
      { module: 'example.com/lib', versions: '*', reason: 'x', expires: '2030-01-01T00:00:00Z' },
    ],
  });
  t.same(
    codes(decide(source, { module: 'example.com/lib' })),
    ['SOURCE_DENIED'],
    'not source rules',
  );
});

t.test('invalid data is refused with POLICY_DATA_INVALID', async (t) => {
  const policies = path.join(repoRoot, 'policies');
  const cases: Array<[string, unknown]> = [
    ['threshold as a string', { minReleaseAgeHours: '24' }],
    ['negative size', { maxZipBytes: -1 }],
    ['unknown mode', { pseudoVersions: 'block' }],
    ['boolean as a string', { denyRetracted: 'yes' }],
    ['bad range', { banned: [{ module: 'a.example/m', versions: '>= 1.2' }] }],
    ['ban without versions', { banned: [{ module: 'a.example/m' }] }],
    [
      'non-RFC 3339 expiry',
      { waivers: [{ module: 'a.example/m', versions: '*', reason: 'r', expires: 'next week' }] },
    ],
    ['source list of numbers', { sources: { allow: [1] } }],
    ['groups as a list', { groups: ['a'] }],
    ['a list at the top', ['a']],
  ];
  for (const [name, data] of cases) {
    const dataFile = path.join(testdir(t), 'data.json');
    await writeFile(dataFile, JSON.stringify(data));
    await t.rejects(
      PolicyEngine.load({ path: policies, dataFile }),
      { code: 'POLICY_DATA_INVALID' },
      name,
    );
  }
  const dataFile = path.join(testdir(t), 'data.yaml');
  await writeFile(dataFile, 'banned: [\n');
  await t.rejects(PolicyEngine.load({ path: policies, dataFile }), { code: 'POLICY_DATA_INVALID' });
});

t.test(
  'fail closed: a corrupt policy does not load; a bad decision is POLICY_ERROR for everything',
  async (t) => {
    const dir = testdir(t);
    const policies = path.join(dir, 'policies');
    await cp(path.join(repoRoot, 'policies'), policies, { recursive: true });
    await writeFile(path.join(policies, 'build', 'policy.wasm'), Buffer.from('\0asm corrupt'));
    await t.rejects(PolicyEngine.load({ path: policies }), { code: 'POLICY_LOAD_FAILED' });
    for (const kind of ['malformed', 'undefined']) {
      const engine = await PolicyEngine.load({
        path: path.join(repoRoot, 'test', 'fixtures', `policies-${kind}`),
      });
      for (const k of ['zip', 'mod', 'info', 'list', 'latest', 'sumdb'] as const) {
        const d = decide(engine, { kind: k, module: 'example.com/m' });
        t.equal(d.allow, false, `${kind} ${k}`);
        t.same(codes(d), ['POLICY_ERROR'], `${kind} ${k}`);
      }
      engine.close();
    }
    // An engine that throws while evaluating (a trap in the wasm, say).
    const engine = await PolicyEngine.load({ path: path.join(repoRoot, 'policies') });
    const current = (engine as unknown as { current: { policy: { evaluate: () => unknown } } })
      .current;
    current.policy.evaluate = () => {
      throw new Error('unreachable executed');
    };
    const d = decide(engine, { module: 'example.com/m' });
    t.same(codes(d), ['POLICY_ERROR']);
    t.match(d.deny[0]!.message, /policy engine error: unreachable executed/);
    engine.close();
  },
);

t.test(
  'hot reload: data and wasm changes swap in; bad files keep the last good ones',
  async (t) => {
    const dir = testdir(t);
    const policies = path.join(dir, 'policies');
    await cp(path.join(repoRoot, 'policies'), policies, { recursive: true });
    const events: ReloadEvent[] = [];
    const engine = (await PolicyEngine.load({ path: policies }, (e) => events.push(e))).watch(
      20,
      100,
    );
    t.teardown(() => engine.close());
    const rev0 = engine.dataRevision;
    t.ok(decide(engine, { module: 'example.com/lib' }).allow);

    await writeFile(
      path.join(policies, 'data.yaml'),
      YAML.stringify({
        banned: [{ module: 'example.com/lib', versions: '*', reason: 'reloaded' }],
      }),
    );
    t.ok(await waitFor(() => engine.dataRevision !== rev0), 'data reloaded');
    t.same(codes(decide(engine, { module: 'example.com/lib' })), ['VERSION_BANNED']);
    const rev1 = engine.dataRevision;

    await writeFile(path.join(policies, 'data.yaml'), 'minReleaseAgeHours: soon\n');
    t.ok(await waitFor(() => events.some((e) => !e.ok)), 'the bad data is reported');
    t.equal(engine.dataRevision, rev1, 'and the last good data stays');
    t.same(codes(decide(engine, { module: 'example.com/lib' })), ['VERSION_BANNED']);

    // An atomic replace (write elsewhere, rename over) is seen too.
    const tmp = path.join(dir, 'next.yaml');
    await writeFile(tmp, YAML.stringify({ sources: { deny: ['example.com'] } }));
    await rename(tmp, path.join(policies, 'data.yaml'));
    t.ok(
      await waitFor(
        () => codes(decide(engine, { module: 'example.com/lib' }))[0] === 'SOURCE_DENIED',
      ),
    );

    const policyRev = engine.policyRevision;
    await writeFile(path.join(policies, 'build', 'policy.wasm'), 'not wasm');
    t.ok(
      await waitFor(() => events.filter((e) => !e.ok).length >= 2),
      'the corrupt wasm is reported',
    );
    t.equal(engine.policyRevision, policyRev, 'the last good policy stays');
    t.same(codes(decide(engine, { module: 'example.com/lib' })), ['SOURCE_DENIED']);

    await cp(
      path.join(repoRoot, 'test', 'fixtures', 'policies-malformed', 'build', 'policy.wasm'),
      path.join(policies, 'build', 'policy.wasm'),
    );
    t.ok(await waitFor(() => engine.policyRevision !== policyRev), 'a new compiled policy loads');
    t.same(codes(decide(engine, { module: 'example.com/lib' })), ['POLICY_ERROR']);
  },
);

t.test('hot reload through a swapped symlink (as a Kubernetes ConfigMap updates)', async (t) => {
  const dir = testdir(t, {
    v1: { 'data.yaml': 'banned: []\n' },
    v2: { 'data.yaml': 'sources: {deny: [example.com]}\n' },
  });
  await symlink(path.join(dir, 'v1'), path.join(dir, '..data'));
  const conf = path.join(dir, 'conf');
  await cp(path.join(repoRoot, 'policies', 'build'), path.join(dir, 'policies', 'build'), {
    recursive: true,
  });
  await symlink(path.join(dir, '..data', 'data.yaml'), conf);
  const engine = (
    await PolicyEngine.load({ path: path.join(dir, 'policies'), dataFile: conf })
  ).watch(20, 100);
  t.teardown(() => engine.close());
  t.ok(decide(engine, { module: 'example.com/lib' }).allow);
  await symlink(path.join(dir, 'v2'), path.join(dir, '..data_tmp'));
  await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  t.ok(await waitFor(() => !decide(engine, { module: 'example.com/lib' }).allow), 'reloaded');
});

t.test(
  'an operator bundle: wasm, data.json and the manifest revision; data overridable',
  async (t) => {
    const wasm = await readFile(path.join(repoRoot, 'policies', 'build', 'policy.wasm'));
    const dir = testdir(t);
    const file = path.join(dir, 'bundle.tar.gz');
    await writeFile(
      file,
      await bundle({
        '/.manifest': JSON.stringify({ revision: 'ops-2026.06', roots: [''] }),
        '/policy.wasm': wasm,
        '/data.json': JSON.stringify({ settings: { sources: { deny: ['evil.example'] } } }),
        '/modgate.rego': 'package modgate',
      }),
    );
    const engine = await PolicyEngine.load({ path: file });
    t.equal(engine.sourceRevision, 'ops-2026.06');
    t.same(codes(decide(engine, { module: 'evil.example/x' })), ['SOURCE_DENIED']);
    engine.close();
    const dataFile = path.join(dir, 'override.yaml');
    await writeFile(dataFile, 'sources: {deny: [good.example]}\n');
    const overridden = await PolicyEngine.load({ path: file, dataFile });
    t.ok(
      decide(overridden, { module: 'evil.example/x' }).allow,
      'the data file replaces data.json',
    );
    t.same(codes(decide(overridden, { module: 'good.example/x' })), ['SOURCE_DENIED']);
    overridden.close();
    await writeFile(file, await bundle({ '/policy.wasm': wasm, '/data.json': '{not json' }));
    await t.rejects(PolicyEngine.load({ path: file }), { code: 'POLICY_LOAD_FAILED' });
  },
);
