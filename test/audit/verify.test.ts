import t, { type Test } from 'tap';
import { appendFile, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkpointText, loadOrCreateAuditKey, type AuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import {
  canonicalRecord,
  recordHash,
  sha256Hex,
  type AuditRecord,
  type DecisionEntry,
} from '../../src/audit/records.js';
import { listSegments } from '../../src/audit/segments.js';
import { verifyAudit, type VerifyProgress } from '../../src/audit/verify.js';
import { generateKeyPair, parseSignerKey, signNote } from '../../src/integrity/note.js';
import { testdir } from '../helpers/testdir.js';

function decision(i: number): DecisionEntry {
  return {
    type: 'decision',
    time: new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString(),
    requestId: `req-${i}`,
    client: { id: 'c1', method: 'token', groups: [], address: '127.0.0.1' },
    kind: 'mod',
    module: 'example.com/m',
    version: `v1.0.${i}`,
    decision: i % 4 === 0 ? 'deny' : 'allow',
    codes: i % 4 === 0 ? ['POLICY_DENY'] : [],
    policyRevision: 'p1',
    cache: 'hit',
  };
}

interface Trail {
  dir: string;
  key: AuditKey;
  /** seq of the mid-way checkpoint */
  midCp: number;
}

/** start(1), decisions 2..21, checkpoint at 21, checkpoint record 22, decisions 23..32, stop 33, final checkpoint 33. */
async function trail(t: Test, opts: { maxSegmentBytes?: number } = {}): Promise<Trail> {
  const root = testdir(t);
  const key = await loadOrCreateAuditKey(path.join(root, 'audit.key'));
  const dir = path.join(root, 'audit');
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0, ...opts });
  for (let i = 0; i < 20; i++) await log.append(decision(i));
  const cp = await log.checkpoint();
  for (let i = 20; i < 30; i++) await log.append(decision(i));
  await log.close();
  return { dir, key, midCp: cp?.seq ?? 0 };
}

async function single(dir: string): Promise<{ file: string; lines: string[] }> {
  const [seg] = await listSegments(dir);
  const file = seg?.file ?? '';
  return { file, lines: (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '') };
}

async function rewrite(file: string, lines: string[]): Promise<void> {
  await writeFile(file, lines.map((l) => `${l}\n`).join(''));
}

const verify = (tr: Trail, extra: { shippedCheckpoints?: string } = {}) =>
  verifyAudit({ dir: tr.dir, verifierKey: tr.key.verifierKey, ...extra });

t.test('an untouched trail verifies', async (t) => {
  const tr = await trail(t);
  const progress: VerifyProgress[] = [];
  const v = await verifyAudit({
    dir: tr.dir,
    verifierKey: tr.key.verifierKey,
    onProgress: (p) => progress.push(p),
  });
  t.match(v, { ok: true, records: 33, checkpoints: 2, firstSeq: 1, unsigned: 0, warnings: [] });
  t.equal(tr.midCp, 21);
  t.ok(progress.length >= 1);
  t.match(progress.at(-1), { records: 33, segmentsDone: 1, segments: 1 });
});

t.test('an edited record is reported by its seq', async (t) => {
  const tr = await trail(t);
  const { file, lines } = await single(tr.dir);
  const r = JSON.parse(lines[9] as string) as AuditRecord & { decision: string };
  r.decision = r.decision === 'allow' ? 'deny' : 'allow';
  lines[9] = canonicalRecord(r);
  await rewrite(file, lines);
  const v = await verify(tr);
  t.equal(v.ok, false);
  t.match(v.firstBad, { seq: 10, line: 10, reason: /record 10 .*modified/ });
});

t.test('a deleted record is reported by its seq', async (t) => {
  const tr = await trail(t);
  const { file, lines } = await single(tr.dir);
  lines.splice(14, 1);
  await rewrite(file, lines);
  const v = await verify(tr);
  t.match(v, {
    ok: false,
    firstBad: { seq: 15, line: 15, reason: /expected record 15, found 16/ },
  });
});

t.test('reordered records are reported at the first displaced seq', async (t) => {
  const tr = await trail(t);
  const { file, lines } = await single(tr.dir);
  [lines[5], lines[6]] = [lines[6] as string, lines[5] as string];
  await rewrite(file, lines);
  const v = await verify(tr);
  t.match(v, { ok: false, firstBad: { seq: 6, line: 6, reason: /expected record 6, found 7/ } });
});

t.test('truncation below a signed checkpoint is detected', async (t) => {
  const tr = await trail(t);
  const { file, lines } = await single(tr.dir);
  await rewrite(file, lines.slice(0, 25));
  const v = await verify(tr);
  t.match(v, {
    ok: false,
    records: 25,
    firstBad: { seq: 26, line: 26, reason: /ends at record 25 .*covers record 33 \(truncated\)/ },
  });
});

t.test('truncation plus deleted local checkpoints is caught by shipped checkpoints', async (t) => {
  const tr = await trail(t);
  const cdir = path.join(tr.dir, 'checkpoints');
  const shipped = path.join(path.dirname(tr.dir), 'shipped.notes');
  let all = '';
  for (const f of (await readdir(cdir)).sort()) all += await readFile(path.join(cdir, f), 'utf8');
  await writeFile(shipped, all);
  await rm(cdir, { recursive: true });
  const { file, lines } = await single(tr.dir);
  await rewrite(file, lines.slice(0, 18));
  t.match(
    await verify(tr),
    { ok: true, checkpoints: 0, unsigned: 18 },
    'locally the cut is invisible',
  );
  t.match(await verify(tr, { shippedCheckpoints: shipped }), {
    ok: false,
    firstBad: { seq: 19, reason: /covers record 33/ },
  });
});

t.test('a rewritten chain is caught at the covering checkpoint', async (t) => {
  const tr = await trail(t);
  const { file, lines } = await single(tr.dir);
  const recs = lines.map((l) => JSON.parse(l) as AuditRecord & { decision?: string });
  t.match(recs[13], { seq: 14, decision: 'deny' });
  recs[13] = { ...(recs[13] as AuditRecord), decision: 'allow', codes: [] } as AuditRecord;
  for (let i = 14; i < recs.length; i++)
    (recs[i] as AuditRecord).prev = recordHash(recs[i - 1] as object);
  await rewrite(
    file,
    recs.map((r) => canonicalRecord(r)),
  );
  const v = await verify(tr);
  t.match(v, {
    ok: false,
    firstBad: { seq: 21, reason: /differs from the hash signed by checkpoint/ },
  });
});

t.test('an edited last record is caught by the final checkpoint', async (t) => {
  const tr = await trail(t);
  const { file, lines } = await single(tr.dir);
  const last = JSON.parse(lines[32] as string) as AuditRecord;
  lines[32] = canonicalRecord({ ...last, details: { forged: true } });
  await rewrite(file, lines);
  t.match(await verify(tr), { ok: false, firstBad: { seq: 33, line: 33 } });
});

t.test('forged checkpoint signatures are detected', async (t) => {
  const tr = await trail(t);
  const note = path.join(tr.dir, 'checkpoints', '21.note');
  const good = await readFile(note, 'utf8');
  const sigStart = good.lastIndexOf(' ') + 10;
  const flipped =
    good.slice(0, sigStart) + (good[sigStart] === 'A' ? 'B' : 'A') + good.slice(sigStart + 1);
  await writeFile(note, flipped);
  t.match(await verify(tr), {
    ok: false,
    firstBad: { seq: 21, segment: note, reason: /signature invalid \(NOTE_BAD_SIGNATURE/ },
  });
  // An attacker's own key of the same name does not help: the trail is not
  // verified, and the report names the key that signed instead.
  const evil = generateKeyPair('modgate-audit');
  const evilId = evil.verifier.split('+').slice(0, 2).join('+');
  await writeFile(
    note,
    signNote(checkpointText(21, sha256Hex('x')), [parseSignerKey(evil.signer)]),
  );
  const v = await verify(tr);
  t.equal(v.ok, false);
  t.equal(v.firstBad, undefined, 'not reported as an edited record');
  t.same(v.foreign, [{ seq: 21, source: note, keys: [evilId] }]);
  t.equal(v.checkpoints, 1, 'only the final checkpoint vouches');
  // Beyond the log end, the same.
  await writeFile(note, good);
  await writeFile(
    path.join(tr.dir, 'checkpoints', '500.note'),
    signNote(checkpointText(500, sha256Hex('x')), [parseSignerKey(evil.signer)]),
  );
  t.match(await verify(tr), { ok: false, foreign: [{ seq: 500, keys: [evilId] }] });
});

t.test('the wrong verifier key fails every checkpoint', async (t) => {
  const tr = await trail(t);
  const other = generateKeyPair('modgate-audit');
  const v = await verifyAudit({ dir: tr.dir, verifierKey: other.verifier });
  t.equal(v.ok, false);
  t.equal(v.checkpoints, 0);
  const mine = tr.key.verifierKey.split('+').slice(0, 2).join('+');
  t.same(
    v.foreign.map((f) => [f.seq, f.keys]),
    [
      [21, [mine]],
      [33, [mine]],
    ],
    'every checkpoint is named as signed by another key',
  );
  await t.rejects(verifyAudit({ dir: tr.dir, verifierKey: 'garbage' }), {
    code: 'NOTE_KEY_INVALID',
  });
});

t.test('multi-segment trails: deleting a middle or first segment is detected', async (t) => {
  const tr = await trail(t, { maxSegmentBytes: 1500 });
  const segs = await listSegments(tr.dir);
  t.ok(segs.length >= 5, `${segs.length} segments`);
  t.match(await verify(tr), { ok: true, records: 33 });
  const mid = segs[2];
  const midText = await readFile(mid?.file ?? '');
  await rm(mid?.file ?? '');
  t.match(await verify(tr), {
    ok: false,
    firstBad: { seq: mid?.startSeq, segment: segs[3]?.name, line: 1 },
  });
  await writeFile(mid?.file ?? '', midText);
  await rm(segs[0]?.file ?? '');
  t.match(await verify(tr), {
    ok: false,
    firstBad: { seq: segs[1]?.startSeq, reason: /no retention record or checkpoint vouches/ },
  });
});

t.test('a torn last line is a warning, not a failure; a bad first prev is not', async (t) => {
  const tr = await trail(t);
  const { file, lines } = await single(tr.dir);
  await appendFile(file, '{"partial":');
  const v = await verify(tr);
  t.equal(v.ok, true);
  t.match(v.warnings, [/incomplete last line of 11 bytes/]);
  const first = JSON.parse(lines[0] as string) as AuditRecord;
  lines[0] = canonicalRecord({ ...first, prev: 'f'.repeat(64) });
  await rewrite(file, lines);
  t.match(await verify(tr), {
    ok: false,
    firstBad: { seq: 1, line: 1, reason: /prev is not zero/ },
  });
});

t.test('garbage inside the log is reported at its place', async (t) => {
  const tr = await trail(t);
  const { file, lines } = await single(tr.dir);
  lines[3] = 'not json';
  await rewrite(file, lines);
  t.match(await verify(tr), {
    ok: false,
    firstBad: { seq: 4, line: 4, reason: /unreadable record/ },
  });
});
