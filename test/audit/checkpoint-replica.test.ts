import t from 'tap';
import path from 'node:path';
import {
  checkpointText,
  claimedReplica,
  loadOrCreateAuditKey,
  openCheckpoint,
  parseCheckpointText,
  signCheckpoint,
} from '../../src/audit/checkpoint.js';
import { checkpointsFrom } from '../../src/audit/verify.js';
import { testdir } from '../helpers/testdir.js';

const hash = 'ab'.repeat(32);

t.test('a replica checkpoint signs its replica line; a folder checkpoint has none', async (t) => {
  const key = await loadOrCreateAuditKey(path.join(testdir(t), 'k'));
  const cp = signCheckpoint({ seq: 7, hash, replica: 'gw-1' }, key);
  t.match(cp.note.toString(), /^modgate audit log v1\n7\n[^\n]+\nreplica gw-1\n\n/);
  t.same(openCheckpoint(cp.note, key.verifierKey), { seq: 7, hash, replica: 'gw-1' });
  t.equal(claimedReplica(cp.note), 'gw-1');
  const plain = signCheckpoint({ seq: 7, hash }, key);
  t.same(openCheckpoint(plain.note, key.verifierKey), { seq: 7, hash });
  t.equal(claimedReplica(plain.note), undefined);
  const moved = Buffer.from(cp.note.toString().replace('replica gw-1', 'replica gw-2'));
  t.throws(() => openCheckpoint(moved, key.verifierKey), 'another replica breaks the signature');
});

t.test('malformed replica lines are refused', async (t) => {
  const base = checkpointText(3, hash);
  for (const bad of ['replica \n', 'replica a b\n', 'replicas x\n', `replica ${'x'.repeat(129)}\n`])
    t.throws(() => parseCheckpointText(base + bad), { code: 'AUDIT_CHECKPOINT_INVALID' }, bad);
  t.throws(() => parseCheckpointText(`${base}replica a\nextra\n`), {
    code: 'AUDIT_CHECKPOINT_INVALID',
  });
});

t.test("a checkpoint of one chain is bad evidence in another's", async (t) => {
  const key = await loadOrCreateAuditKey(path.join(testdir(t), 'k'));
  const note = signCheckpoint({ seq: 4, hash, replica: 'a' }, key).note;
  const inB = checkpointsFrom([{ note, source: 'row 4' }], key.verifierKey, 'b');
  t.equal(inB.good.size, 0);
  t.match(inB.bad, [{ seq: 4, reason: /names replica a, not this chain's \(b\)/ }]);
  const inFolder = checkpointsFrom([{ note, source: 'f' }], key.verifierKey);
  t.match(inFolder.bad, [{ seq: 4 }], "a replica's checkpoint does not vouch for a folder");
  const inA = checkpointsFrom([{ note, source: 'row 4' }], key.verifierKey, 'a');
  t.same([...inA.good.keys()], [4]);
});
