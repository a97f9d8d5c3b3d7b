import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { modgate } from '../helpers/cli.js';
import { testdir } from '../helpers/testdir.js';

t.setTimeout(600_000);

const M = 'example.com/probed';

t.test('upstreams probe measures, compares and recommends', async (t) => {
  const old = await makeModule(M, 'v1.0.0');
  const fresh = await makeModule(M, 'v1.1.0');
  const a = await startFakeUpstream([old, fresh], {
    sumdb: { name: 'sum.golang.org', handle: async () => ({ status: 404, body: Buffer.alloc(0) }) },
  });
  const b = await startFakeUpstream([old]);
  const bad = await startFakeUpstream([old]);
  bad.misbehave('', { kind: 'status', status: 500 });
  t.teardown(() => Promise.all([a.close(), b.close(), bad.close()]));
  const dir = testdir(t);
  const cfg = path.join(dir, 'modgate.yaml');
  await writeFile(
    cfg,
    [
      `upstream: "${a.url}|${b.url}|${bad.url}"`,
      'allowHttpUpstream: true',
      'pinning: optional',
      'sumdb: sum.golang.org',
      'http: { retries: 0 }',
    ].join('\n'),
  );
  const args = ['upstreams', 'probe', '--config', cfg, '--samples', '3', '--module', M];
  const json = await modgate([...args, '--json'], { cwd: dir });
  t.equal(json.code, 0, json.stderr);
  t.equal(json.stderr, '', 'no progress when stderr is not a terminal');
  const out = JSON.parse(json.stdout) as {
    upstreams: Array<{
      upstream: string;
      errors: number;
      connectMs: number | null;
      ttfbMs: { median: number | null };
      zip: { version: string; bytes: number; sha256: string } | null;
      lists: Record<string, { versions: number; missing: string[] } | null>;
      sumdb: { supported: boolean; status?: number } | null;
    }>;
    recommended: string[];
  };
  const [ma, mb, mbad] = out.upstreams;
  t.equal(ma!.upstream, a.url);
  t.same(ma!.lists[M], { versions: 2, missing: [] });
  t.same(mb!.lists[M], { versions: 1, missing: ['v1.1.0'] }, 'b lags behind a');
  t.equal(mbad!.errors, 3, 'every sample of the failing upstream failed');
  t.equal(mbad!.lists[M], null);
  t.ok(ma!.connectMs !== null && ma!.ttfbMs.median !== null, 'connect and first byte measured');
  t.equal(ma!.zip?.version, 'v1.0.0', 'the newest version both carry');
  t.equal(ma!.zip?.bytes, old.zip.length, 'the zip of known size');
  t.equal(ma!.zip?.sha256, mb!.zip?.sha256, 'same bytes from both');
  t.equal(ma!.sumdb?.supported, true, "a's checksum database relay answers");
  t.equal(mb!.sumdb?.supported, false);
  t.same(out.recommended, [a.url, b.url], 'fresh first, the failing one left out');
  t.equal(a.count(`/${M}/@v/list`) >= 3, true, 'the samples reached the upstream');

  const text = await modgate(args, { cwd: dir });
  t.equal(text.code, 0);
  t.match(text.stdout, /^upstream\s+connect\s+ttfb p50/);
  t.match(text.stdout, `recommendation: upstream: ${a.url}|${b.url}`);
  t.match(text.stdout, 'equivalent: true');
  t.match(text.stdout, `${bad.url}: UPSTREAM_BAD_STATUS`);
});

t.test('exit 2 when every upstream fails, 1 on usage errors', async (t) => {
  const bad = await startFakeUpstream([]);
  bad.misbehave('', { kind: 'status', status: 503 });
  t.teardown(() => bad.close());
  const env = { MODGATE_ALLOW_HTTP_UPSTREAM: 'true', MODGATE_PINNING: 'optional' };
  const all = await modgate(
    ['upstreams', 'probe', '--upstream', bad.url, '--samples', '2', '--module', M],
    { env: { ...env, MODGATE_HTTP__RETRIES: '0' }, cwd: testdir(t) },
  );
  t.equal(all.code, 2, all.stderr);
  t.match(all.stdout, 'recommendation: none: every upstream failed');
  const usage = await modgate(['upstreams', 'probe', '--upstream', bad.url, '--samples', '0'], {
    env,
    cwd: testdir(t),
  });
  t.equal(usage.code, 1);
  t.match(usage.stderr, /^error: USAGE: --samples/);
});
