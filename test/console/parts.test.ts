import t from 'tap';
import Fastify from 'fastify';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listSegments } from '../../src/audit/segments.js';
import { registerConsole, TrailReader } from '../../src/console/index.js';
import { VerifyJobs } from '../../src/console/integrity.js';
import { loadAssets } from '../../src/console/static.js';
import { decodeCursor, parseRecordId } from '../../src/console/trail.js';
import { isModgateError } from '../../src/errors.js';
import { sendError } from '../../src/http/send-error.js';
import { generateTrail } from '../helpers/console-trail.js';
import { startTestGateway } from '../helpers/gateway.js';
import { testdir } from '../helpers/testdir.js';

async function settle(jobs: VerifyJobs): Promise<void> {
  await jobs.settled();
}

t.test('assets: known types and plain names only', async (t) => {
  const dir = testdir(t, {
    'index.html': '<!doctype html>',
    'app.js': 'export {}',
    'notes.txt': 'no',
    'we ird.js': 'no',
    sub: { 'x.js': 'no' },
  });
  t.same([...loadAssets(dir).keys()].sort(), ['app.js', 'index.html']);
  t.equal(loadAssets(path.join(dir, 'missing')).size, 0);
});

t.test('an unbuilt console answers 503 CONSOLE_UNAVAILABLE with its headers', async (t) => {
  const app = Fastify();
  app.setErrorHandler((err, _req, reply) => sendError(reply, err));
  const data = path.join(testdir(t), 'data');
  const trail = await generateTrail(data, 50, 2);
  await registerConsole(app, {
    trail: new TrailReader(path.join(data, 'audit')),
    verifierKey: trail.verifierKey,
    status: async () => ({}),
    toolVersion: '0.0.0',
    assetsDir: path.join(data, 'nothing-built'),
  });
  t.teardown(() => app.close());
  const r = await app.inject('/console/');
  t.equal(r.statusCode, 503);
  t.match(r.body, /^CONSOLE_UNAVAILABLE: /);
  t.match(r.headers['content-security-policy'], /default-src 'self'/);
});

t.test('verify now: a broken chain is reported, a failed run says why', async (t) => {
  const data = path.join(testdir(t), 'data');
  const trail = await generateTrail(data, 300, 2);
  const dir = path.join(data, 'audit');
  let tampered = 0;
  for (const seg of await listSegments(dir)) {
    const text = await readFile(seg.file, 'utf8');
    if (tampered || !text.includes('"decision":"allow"')) continue;
    await writeFile(seg.file, text.replace('"decision":"allow"', '"decision":"deny"'));
    tampered++;
  }
  t.equal(tampered, 1);
  const reader = new TrailReader(dir);
  const jobs = new VerifyJobs(() => reader.chains(), trail.verifierKey);
  t.equal(jobs.last, undefined);
  jobs.start();
  await settle(jobs);
  t.equal(jobs.last!.state, 'done');
  t.equal(jobs.last!.verdicts[0]!.ok, false);
  t.match(jobs.last!.verdicts[0]!.firstBad, { seq: Number });

  const failing = new VerifyJobs(() => Promise.reject(new Error('no folder')), trail.verifierKey);
  const run = failing.start();
  await settle(failing);
  t.match(run, { state: 'failed', error: 'no folder' });
  t.not(failing.start().id, run.id, 'a new run after one ended');
  await settle(failing);
  t.equal(await reader.record('w9', 1), undefined, 'no such chain');
  await mkdir(path.join(data, 'empty'));
  t.equal(await new TrailReader(path.join(data, 'empty')).record('', 1), undefined);
});

t.test('cursor and record id parsing refuse what they did not make', async (t) => {
  const codeOf = (fn: () => unknown) => {
    try {
      fn();
      return 'none';
    } catch (err) {
      return isModgateError(err) ? err.code : 'other';
    }
  };
  for (const c of [
    Buffer.from('[]').toString('base64url'),
    Buffer.from('{"t":"2026-01-01T00:00:00Z","r":"","s":0}').toString('base64url'),
    Buffer.from(`{"t":"2026-01-01T00:00:00Z","r":"${'x'.repeat(200)}","s":1}`).toString(
      'base64url',
    ),
    'bm90IGpzb24',
  ])
    t.equal(
      codeOf(() => decodeCursor(c)),
      'CONSOLE_QUERY_INVALID',
      c,
    );
  t.same(parseRecordId('w1:a:12'), { replica: 'w1:a', seq: 12 });
  t.equal(
    codeOf(() => parseRecordId(':0')),
    'CONSOLE_QUERY_INVALID',
  );
});

t.test('the console needs the gateway own audit trail in a folder', async (t) => {
  await t.rejects(
    startTestGateway(testdir(t), { console: { enabled: true }, audit: { enabled: false } }),
    { code: 'CONFIG_INVALID', message: /console.enabled needs/ },
  );
});

t.test(
  'pages over several chains (worker processes) resume by time, replica and seq',
  async (t) => {
    const root = testdir(t);
    const audit = path.join(root, 'audit');
    await mkdir(path.join(audit, 'chains'), { recursive: true });
    for (const w of ['w1', 'w2']) {
      await generateTrail(path.join(root, w), 400, 3);
      await rename(path.join(root, w, 'audit'), path.join(audit, 'chains', w));
    }
    const reader = new TrailReader(audit);
    const want: string[] = [];
    for await (const r of await reader.records({ types: ['decision'] }))
      want.push(`${r.replica}:${r.seq}`);
    t.ok(want.length > 700);
    const got: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      const p = await reader.page(
        { types: ['decision'] },
        { limit: 37, ...(cursor ? { cursor } : {}) },
      );
      got.push(...p.records.map((r) => `${r.replica}:${r.seq}`));
      cursor = p.next;
      if (!cursor) break;
    }
    t.same(got, want, 'every record once, in the merged order');
    const one = await reader.record('w2', 5);
    t.match(one, { replica: 'w2', seq: 5 });
  },
);
