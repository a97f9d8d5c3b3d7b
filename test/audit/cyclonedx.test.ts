import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { buildCycloneDx, goPurl, purlEncode } from '../../src/audit/cyclonedx.js';
import type { AuditRecord, DecisionEntry } from '../../src/audit/records.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const schemaDir = path.join(here, '..', 'fixtures', 'cyclonedx');

async function validator(): Promise<(data: unknown) => { ok: boolean; errors: unknown }> {
  const load = async (f: string): Promise<Record<string, unknown>> =>
    JSON.parse(await readFile(path.join(schemaDir, f), 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema(await load('spdx.schema.json'));
  ajv.addSchema(await load('jsf-0.82.schema.json'));
  const validate = ajv.compile(await load('bom-1.5.schema.json'));
  return (data) => ({ ok: validate(data) as boolean, errors: validate.errors });
}

let seq = 0;
function rec(
  module: string,
  version: string | undefined,
  over: Partial<DecisionEntry> = {},
): AuditRecord {
  seq++;
  return {
    type: 'decision',
    time: new Date(Date.UTC(2024, 6, 1, 0, seq)).toISOString(),
    requestId: `r${seq}`,
    client: { id: 'c', method: 'token', groups: [], address: '127.0.0.1' },
    kind: 'zip',
    module,
    ...(version ? { version } : {}),
    decision: 'allow',
    codes: [],
    policyRevision: 'p',
    cache: 'miss',
    seq,
    prev: '0'.repeat(64),
    ...over,
  } as AuditRecord;
}

async function* stream(rs: AuditRecord[]): AsyncGenerator<AuditRecord> {
  yield* rs;
}

t.test('purls for Go modules', async (t) => {
  t.equal(
    goPurl('github.com/gorilla/context', 'v1.1.1'),
    'pkg:golang/github.com/gorilla/context@v1.1.1',
  );
  t.equal(goPurl('golang.org/x/mod', 'v0.14.0'), 'pkg:golang/golang.org/x/mod@v0.14.0');
  t.equal(
    goPurl('example', 'v1.0.0'),
    'pkg:golang/example@v1.0.0',
    'a one-element path has no namespace',
  );
  t.equal(
    goPurl('github.com/docker/docker', 'v20.10.7+incompatible'),
    'pkg:golang/github.com/docker/docker@v20.10.7%2Bincompatible',
  );
  t.equal(
    goPurl('github.com/BurntSushi/toml', 'v1.3.2'),
    'pkg:golang/github.com/BurntSushi/toml@v1.3.2',
    'case is kept',
  );
  t.equal(goPurl('example.com/a b/c@d', 'v1'), 'pkg:golang/example.com/a%20b/c%40d@v1');
  t.equal(purlEncode('~._-aZ9/:é'), '~._-aZ9%2F%3A%C3%A9');
  t.equal(goPurl('example.com/m'), 'pkg:golang/example.com/m');
});

t.test('SBOM of served modules validates against the CycloneDX 1.5 schema', async (t) => {
  const validate = await validator();
  const sha = 'AB'.repeat(32);
  const records = [
    rec('github.com/acme/lib', 'v1.2.3', { evidence: { h1: 'h1:abc=', zipSha256: sha } }),
    rec('github.com/acme/lib', 'v1.2.3', {
      cache: 'hit',
      evidence: { h1: 'h1:abc=', zipSha256: sha },
    }),
    rec('github.com/acme/lib', 'v1.2.3', { kind: 'mod', evidence: { h1: 'h1:modhash=' } }),
    rec('github.com/acme/lib', 'v1.2.4', { decision: 'warn', codes: ['W'] }),
    rec('github.com/docker/docker', 'v20.10.7+incompatible', {
      evidence: { zipSha256: 'not-hex' },
    }),
    rec('evil.example/pkg', 'v0.0.1', { decision: 'deny', codes: ['DENY'] }),
    rec('github.com/acme/lib', undefined, { kind: 'list' }),
    {
      type: 'completion',
      requestId: 'r1',
      outcome: 'ok',
      bytes: 1,
      durationMs: 1,
      status: 200,
      seq: 99,
      prev: '0'.repeat(64),
      time: '2024-07-01T00:00:00Z',
    } as AuditRecord,
  ];
  const bom = await buildCycloneDx(stream(records), {
    now: new Date('2024-08-01T00:00:00Z'),
    since: new Date('2024-07-01T00:00:00Z'),
    toolVersion: '0.1.0',
  });
  const res = validate(bom);
  t.equal(res.ok, true, JSON.stringify(res.errors));
  t.same(
    bom.components.map((c) => c.purl),
    [
      'pkg:golang/github.com/acme/lib@v1.2.3',
      'pkg:golang/github.com/acme/lib@v1.2.4',
      'pkg:golang/github.com/docker/docker@v20.10.7%2Bincompatible',
    ],
    'denied and versionless requests are not components',
  );
  const lib = bom.components[0];
  t.same(lib?.hashes, [{ alg: 'SHA-256', content: sha.toLowerCase() }]);
  t.same(
    lib?.properties?.filter((p) => p.name === 'go:h1'),
    [{ name: 'go:h1', value: 'h1:abc=' }],
    'the zip hash only',
  );
  t.same(
    lib?.properties?.filter((p) => p.name === 'go:mod-h1'),
    [{ name: 'go:mod-h1', value: 'h1:modhash=' }],
    'the go.mod hash under its own name',
  );
  t.same(bom.metadata.tools.components, [
    { type: 'application', name: 'modgate', version: '0.1.0' },
  ]);
  t.equal(bom.components[2]?.hashes, undefined, 'malformed hashes are left out');
  t.match(bom.serialNumber, /^urn:uuid:[0-9a-f-]{36}$/);
  t.match(bom.metadata.properties, [
    { name: 'modgate:periodStart', value: '2024-07-01T00:00:00.000Z' },
  ]);

  const broken = JSON.parse(JSON.stringify(bom)) as {
    components: { hashes?: { alg: string }[] }[];
  };
  (broken.components[0]?.hashes as { alg: string }[])[0] = { alg: 'SHA-257' };
  t.equal(validate(broken).ok, false, 'the schema check can fail');
  const empty = await buildCycloneDx(stream([]));
  t.equal(validate(empty).ok, true);
  t.same(empty.components, []);
});
