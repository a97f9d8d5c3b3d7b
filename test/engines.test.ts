import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Fastify from 'fastify';
import { repoRoot } from './helpers/testdata.js';

type Version = [number, number, number];

function parse(v: string): Version {
  const [a = 0, b = 0, c = 0] = v
    .replace(/^v/, '')
    .split('.')
    .map((x) => (x === '*' || x === 'x' ? 0 : Number(x)));
  return [a, b, c];
}

function cmp(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** One comparator of an npm range, as used in engines fields (>=, ^, bare or starred versions). */
function admits(comparator: string, v: Version): boolean {
  const m = /^(>=|>|<=|<|\^|~|=)?\s*v?([0-9x*][0-9.x*]*)$/.exec(comparator.trim());
  if (!m) throw new Error(`unsupported engines comparator ${JSON.stringify(comparator)}`);
  const [, op = '', raw = ''] = m;
  if (raw === '*') return true;
  const want = parse(raw);
  const parts = raw.split('.').filter((p) => p !== '*' && p !== 'x').length;
  if (op === '>=') return cmp(v, want) >= 0;
  if (op === '>') return cmp(v, want) > 0;
  if (op === '<') return cmp(v, want) < 0;
  if (op === '<=') return cmp(v, want) <= 0;
  if (op === '^') return v[0] === want[0] && cmp(v, want) >= 0;
  if (op === '~') return v[0] === want[0] && v[1] === want[1] && cmp(v, want) >= 0;
  // A bare "20" or "20.x" is the whole major (or minor) line.
  return want.slice(0, parts).every((n, i) => v[i] === n);
}

function satisfies(range: string, version: string): boolean {
  const v = parse(version);
  return range.split('||').some((alt) =>
    alt
      .trim()
      .replace(/(>=|<=|>|<|\^|~|=)\s+/g, '$1')
      .split(/\s+/)
      .filter(Boolean)
      .every((c) => admits(c, v)),
  );
}

t.test('the range check itself', async (t) => {
  t.ok(satisfies('>=20.19.0', '20.19.0'));
  t.notOk(satisfies('>=22', '20.20.2'));
  t.ok(satisfies('^20.17.0 || >=22.9.0', '20.19.0'));
  t.notOk(satisfies('^20.19.0 || ^22.12.0 || >=23', '20.18.1'));
  t.ok(satisfies('18 || 20 || >=22', '20.19.0'));
  t.notOk(satisfies('20 || >=22', '21.0.0'));
  t.ok(satisfies('>=16 || 14 >=14.17', '20.19.0'));
  t.ok(satisfies('>= 6', '20.19.0'));
  t.ok(satisfies('10.* || >= 12.*', '20.19.0'));
});

t.test('every installed package supports the oldest Node that engines admits', async (t) => {
  const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as {
    engines: { node: string };
  };
  const floor = /^>=\s*(\d+\.\d+\.\d+)$/.exec(pkg.engines.node)?.[1];
  if (!floor) throw new Error(`engines.node must be a plain >= floor, not ${pkg.engines.node}`);
  t.ok(satisfies(pkg.engines.node, process.version), `this Node ${process.version} is admitted`);
  const lock = JSON.parse(await readFile(path.join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
  };
  const refused: string[] = [];
  let checked = 0;
  for (const [where, entry] of Object.entries(lock.packages)) {
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (!range || where === '') continue;
    checked++;
    if (!satisfies(range, floor)) refused.push(`${where}@${entry.version} wants node ${range}`);
  }
  t.ok(checked > 100, `${checked} engines fields checked`);
  t.same(refused, [], `no package refuses Node ${floor} (npm ci would warn EBADENGINE)`);
});

t.test("inject() cookies go through light-my-request's cookie encoder", async (t) => {
  const app = Fastify();
  app.get('/', async (req) => req.headers.cookie ?? '');
  t.teardown(() => app.close());
  const res = await app.inject({ url: '/', cookies: { a: 'b c', n: '1' } });
  t.equal(res.body, 'a=b%20c; n=1');
});
