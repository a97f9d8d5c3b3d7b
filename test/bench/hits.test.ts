import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { processTree } from '../../bench/hits/proctree.js';
import type { Load } from '../../bench/hits/load.js';
import type { Measured } from '../../bench/hits/plan.js';
import { fmtSpread, median, num, ratios, spread } from '../../bench/hits/stats.js';
import { peersTable } from '../../bench/hits/table.js';
import { targets } from '../../bench/hits/targets.js';
import { artifacts, writeAthensTree, writeProxyTree } from '../../bench/hits/trees.js';
import { verdict } from '../../bench/report.js';
import { makeModule } from '../../src/demo/upstream.js';
import { stopChild } from '../helpers/child.js';

t.test('median, spread and per-round ratios', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
  t.same(spread([5, NaN, 1, 3]), { median: 3, min: 1, max: 5 });
  // Round by round: 10/5, 30/10, and the round with a failed run (0) is left out.
  t.same(ratios([10, 30, 0], [5, 10, 7]), { median: 2.5, min: 2, max: 3 });
  t.equal(num(45_678), '45.7k');
  t.equal(num(123_456), '123k');
  t.equal(num(275.4), '275');
  t.equal(num(0.0771), '0.077');
  t.equal(num(99.99999), '100', 'rounding carries over to the next format');
  t.equal(num(9_999.7), '10.0k');
  t.equal(fmtSpread({ median: 2, min: 1, max: 3 }, 'ms'), '2.00 ms (1.00–3.00)');
  t.equal(fmtSpread(spread([])), '—');
});

t.test('processTree finds a child of this process', async (t) => {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => stopChild(child, 'SIGKILL'));
  t.ok(child.pid);
  const tree = processTree(process.pid);
  t.ok(tree.includes(process.pid));
  t.ok(tree.includes(child.pid!), 'the spawned child is in the tree');
  t.notOk(processTree(child.pid!).includes(process.pid), 'a parent is not in its child’s tree');
});

function loadOf(rps: number, cpuPerReqUs: number, p50 = 1): Load {
  const seconds = 3;
  const requests = rps * seconds;
  return {
    rps,
    requests,
    seconds,
    p50,
    p99: p50 * 2,
    errors: 0,
    cpu: (requests * cpuPerReqUs) / 1e6,
  };
}

function measured(): Measured {
  const three = (rps: number, us: number, p50 = 1): Load[] =>
    [1, 1.1, 0.9].map((k) => loadOf(rps * k, us, p50));
  return {
    rounds: 3,
    seconds: 3,
    samples: {
      'info.http': {
        modgate: three(10_000, 100),
        goproxy: three(40_000, 25),
        nginx: three(100_000, 10),
        'modgate-noaudit': three(11_000, 90),
      },
      'mod.http': {
        modgate: three(10_000, 30),
        goproxy: three(10_000, 25),
        'modgate-noaudit': three(20_000, 20),
      },
      'info.http.1': {
        modgate: three(900, 100, 1.0),
        'modgate-noaudit': three(9_000, 90, 0.08),
        goproxy: three(20_000, 25, 0.05),
      },
    },
    fsync: [0.5, 0.4, 0.6],
    missing: { athens: 'not built (set ATHENS_SRC to its source folder)' },
    about: { modgate: 'this checkout' },
    generator: 'wrk',
    problems: ['round 2, zip.http, nginx: 3 errors of 9000'],
  };
}

t.test('targets: ratios per round, PASS/MISS, and no verdict without the peer', async (t) => {
  const byId = new Map(targets(measured()).map((r) => [r.id, r]));
  const cpu = byId.get('hits.cpu.info')!;
  t.equal(cpu.value, 4, 'modgate 100 µs against goproxy 25 µs');
  t.equal(verdict(cpu), 'MISS');
  t.equal(verdict(byId.get('hits.cpu.mod')!), 'PASS', '30 µs / 25 µs = 1.2 <= 1.5');
  t.equal(byId.get('hits.rps.info.http.goproxy')!.value, 0.25);
  t.equal(verdict(byId.get('hits.rps.mod.http.goproxy')!), 'PASS');
  const audit = byId.get('hits.audit.info')!;
  t.ok(Math.abs(audit.value - (1 - 10 / 11)) < 1e-9, 'audit cost is 1 - on/off');
  t.equal(verdict(audit), 'PASS');
  t.equal(verdict(byId.get('hits.audit.mod')!), 'MISS', 'half the rate is a cost of 0.5');
  const athens = byId.get('hits.rps.info.http.athens')!;
  t.equal(athens.target, undefined, 'no target without Athens');
  t.equal(verdict(athens), '');
  t.match(athens.note, /not built/);
  const p50 = byId.get('hits.p50.audit')!;
  t.equal(p50.target, 0.58, 'audit off p50 plus the median fsync');
  t.equal(verdict(p50), 'MISS');
  const zip = byId.get('hits.rps.zip.http.nginx')!;
  t.ok(Number.isNaN(zip.value), 'no samples, no figure');
  t.equal(verdict(zip), '');
});

t.test('the peers table names every server, its figures and why one is absent', async (t) => {
  const text = peersTable(measured());
  const rows = text.split('\n');
  t.match(
    rows[0],
    /\| modgate +\| goproxy\/goproxy +\| Athens +\| nginx \(static limit\) +\| modgate, audit off/,
  );
  const info = rows.find((r) => r.startsWith('| `.info`, HTTP, req/s'))!;
  t.match(
    info,
    /\| 10\.0k \(9000–11\.0k\) +\| 40\.0k \(36\.0k–44\.0k\) +\| not built +\| 100k \(90\.0k–110k\)/,
  );
  const cpu = rows.find((r) => r.startsWith('| CPU per `.info` hit, HTTP '))!;
  t.match(cpu, /\| 100 µs +\| 25\.0 µs +\|/);
  const https = rows.find((r) => r.startsWith('| `.info`, HTTPS'))!;
  t.match(https, /\| — +\| — +\| — +\|/, 'Athens is not on HTTPS rows; no samples is a dash');
  t.match(text, /Athens: not built \(set ATHENS_SRC/);
  t.match(text, /round 2, zip\.http, nginx: 3 errors/);
  t.match(text, /fsync of this disk .*0\.50 ms \(0\.40–0\.60\)/);
});

t.test('the same files in a GOPROXY tree and in Athens’s disk layout', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-hits-trees-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const m = await makeModule('example.com/Upper', 'v1.0.0', { 'a.txt': 'a' });
  await writeProxyTree(path.join(dir, 'tree'), m);
  await writeAthensTree(path.join(dir, 'athens'), m);
  const arts = artifacts(m);
  t.same(
    arts.map((a) => a.path),
    [
      'example.com/!upper/@v/v1.0.0.info',
      'example.com/!upper/@v/v1.0.0.mod',
      'example.com/!upper/@v/v1.0.0.zip',
    ],
  );
  for (const a of arts) t.same(await readFile(path.join(dir, 'tree', a.path)), a.bytes);
  const v = path.join(dir, 'athens', 'example.com/Upper', 'v1.0.0');
  t.equal(await readFile(path.join(v, 'v1.0.0.info'), 'utf8'), m.info);
  t.equal(await readFile(path.join(v, 'go.mod'), 'utf8'), m.mod);
  t.same(await readFile(path.join(v, 'source.zip')), m.zip);
});
