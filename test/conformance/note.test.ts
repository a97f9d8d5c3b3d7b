import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { conformance, readJson, td } from '../helpers/testdata.js';
import { isModgateError } from '../../src/errors.js';
import {
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  verifierList,
  type Verifier,
} from '../../src/integrity/note.js';
import { parseRecord, parseTree } from '../../src/integrity/tlog.js';

type MaybeBytes = string | { utf8: false; hex: string };
const bytes = (v: MaybeBytes): Buffer =>
  typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.hex, 'hex');

interface Sig {
  name: string;
  hash: number;
  base64: string;
}
interface KeyEntry {
  name: string;
  keyHash: number;
  signerKey: string;
  verifierKey: string;
}
interface NoteJson {
  keys: KeyEntry[];
  badVerifierKeys: string[];
  open: Array<{
    desc: string;
    err: string | null;
    errType?: string;
    msg: MaybeBytes;
    sigs?: Sig[] | null;
    text?: string;
    unverifiedSigs?: Sig[] | null;
    verifiers: string[] | null;
  }>;
  sign: Array<{
    desc: string;
    err: string | null;
    existingSigs: Sig[] | null;
    msg: string;
    signers: string[] | null;
    text: MaybeBytes;
  }>;
  verifierListLookups: {
    list: string[];
    lookups: Array<{ err: string | null; found: boolean; hash: number; name: string }>;
  };
  verifierMismatch: Array<{ desc: string; err: string; msg: string }>;
}

const codeFor = (err: string): string => {
  if (err === 'malformed note') return 'NOTE_MALFORMED';
  if (err === 'note has no verifiable signatures') return 'NOTE_UNVERIFIED';
  if (err.startsWith('invalid signature for key')) return 'NOTE_BAD_SIGNATURE';
  if (err.startsWith('ambiguous key')) return 'NOTE_KEY_AMBIGUOUS';
  if (err.startsWith("verifier name or hash doesn't match")) return 'NOTE_KEY_MISMATCH';
  return `unknown: ${err}`;
};

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return isModgateError(e) ? e.code : `non-ModgateError: ${String(e)}`;
  }
}

t.test('note.json', async (t) => {
  conformance(t);
  const d = await readJson<NoteJson>('xmod-tables', 'note.json');
  const byName = new Map(d.keys.map((k) => [k.name, k]));
  const verifier = (n: string): Verifier => parseVerifierKey(byName.get(n)!.verifierKey);

  t.test('keys parse with the right name and hash', async (t) => {
    for (const k of d.keys) {
      const v = parseVerifierKey(k.verifierKey);
      const s = parseSignerKey(k.signerKey);
      t.same(
        [v.name, v.keyHash, s.name, s.keyHash],
        [k.name, k.keyHash, k.name, k.keyHash],
        k.name,
      );
    }
    for (const bad of d.badVerifierKeys)
      t.equal(
        codeOf(() => parseVerifierKey(bad)),
        'NOTE_KEY_INVALID',
        bad,
      );
  });

  t.test('open', async (t) => {
    for (const c of d.open) {
      const vs = (c.verifiers ?? []).map(verifier);
      if (c.err) {
        t.equal(
          codeOf(() => openNote(bytes(c.msg), vs)),
          codeFor(c.err),
          c.desc,
        );
        continue;
      }
      const n = openNote(bytes(c.msg), vs);
      t.equal(n.text, c.text, `${c.desc}: text`);
      t.same(n.sigs, c.sigs ?? [], `${c.desc}: sigs`);
      t.same(n.unverified, c.unverifiedSigs ?? [], `${c.desc}: unverified`);
    }
  });

  t.test('sign', async (t) => {
    for (const c of d.sign) {
      const signers = (c.signers ?? []).map((n) => parseSignerKey(byName.get(n)!.signerKey));
      const text = bytes(c.text).toString('utf8');
      const run = (): Buffer => signNote({ text, sigs: c.existingSigs ?? [] }, signers);
      if (c.err) t.equal(codeOf(run), codeFor(c.err), c.desc);
      else t.equal(run().toString('utf8'), c.msg, c.desc);
    }
  });

  t.test('verifier list lookups', async (t) => {
    const list = verifierList(d.verifierListLookups.list.map((k) => parseVerifierKey(k)));
    for (const l of d.verifierListLookups.lookups) {
      let found = false;
      const code = codeOf(() => (found = list.verifier(l.name, l.hash) !== undefined));
      if (l.err?.startsWith('ambiguous')) t.equal(code, 'NOTE_KEY_AMBIGUOUS', l.err);
      else t.equal(found, l.found, `${l.name}+${l.hash}`);
    }
  });

  t.test('mismatched verifier', async (t) => {
    const peter = verifier('PeterNeumann');
    for (const c of d.verifierMismatch) {
      t.equal(
        codeOf(() => openNote(Buffer.from(c.msg), { verifier: () => peter })),
        codeFor(c.err),
        c.desc,
      );
    }
  });
});

t.test('note_bad_keys.json: every malformed key is rejected', async (t) => {
  conformance(t);
  const d = await readJson<{
    badSignerKeys: string[];
    badVerifierKeys: string[];
    validSignerKey: string;
    validVerifierKey: string;
  }>('xmod-tables', 'note_bad_keys.json');
  t.ok(parseVerifierKey(d.validVerifierKey));
  t.ok(parseSignerKey(d.validSignerKey));
  const accepted = [
    ...d.badVerifierKeys.filter((k) => codeOf(() => parseVerifierKey(k)) !== 'NOTE_KEY_INVALID'),
    ...d.badSignerKeys.filter((k) => codeOf(() => parseSignerKey(k)) !== 'NOTE_KEY_INVALID'),
  ];
  t.same(
    accepted,
    [],
    `${d.badVerifierKeys.length + d.badSignerKeys.length} bad keys all rejected with NOTE_KEY_INVALID`,
  );
  t.equal(d.badVerifierKeys.length + d.badSignerKeys.length, 5434);
});

interface RealEntry {
  id: string;
  kind: 'note' | 'lookup';
  message: string;
  expected: {
    openErr: string | null;
    treeSize?: number;
    treeHash?: string;
    verifiedSigs?: number;
    unverifiedSigs?: number;
    recordId?: number;
    recordText?: string;
  };
}

t.test('sum.golang.org genuine notes', async (t) => {
  conformance(t);
  const d = await readJson<{ verifierKey: string; entries: RealEntry[] }>(
    'sumdb-real',
    'sum_golang_org.json',
  );
  const v = parseVerifierKey(d.verifierKey);
  t.equal(v.name, 'sum.golang.org');
  let good = 0;
  let bad = 0;
  for (const e of d.entries) {
    let msg: Buffer = Buffer.from(e.message, 'utf8');
    if (e.kind === 'lookup') {
      const r = parseRecord(msg);
      t.equal(r.id, e.expected.recordId, `${e.id}: record id`);
      t.equal(r.text, e.expected.recordText, `${e.id}: record text`);
      msg = r.rest;
    }
    if (e.expected.openErr) {
      t.equal(
        codeOf(() => openNote(msg, [v])),
        codeFor(e.expected.openErr),
        `${e.id}: ${e.expected.openErr}`,
      );
      bad++;
      continue;
    }
    const n = openNote(msg, [v]);
    const tree = parseTree(n.text);
    t.same(
      [tree.n, tree.hash.toString('base64'), n.sigs.length, n.unverified.length],
      [
        e.expected.treeSize,
        e.expected.treeHash,
        e.expected.verifiedSigs,
        e.expected.unverifiedSigs,
      ],
      e.id,
    );
    const other = parseVerifierKey(
      'localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6',
    );
    t.equal(
      codeOf(() => openNote(msg, [other])),
      'NOTE_UNVERIFIED',
      `${e.id}: another key does not verify it`,
    );
    good++;
  }
  t.equal(good, 12, 'genuine entries verified');
  t.equal(bad, 2, 'negatives rejected');
  const files = await readdir(td('sumdb-real', 'notes'));
  t.ok(files.length >= 14, 'notes/ holds the messages as files');
  for (const f of files) {
    const fileMsg = await readFile(td('sumdb-real', 'notes', f));
    const entry = d.entries.find((e) => f === `${e.id}.txt`);
    if (entry) t.same(fileMsg, Buffer.from(entry.message, 'utf8'), `${f} matches the JSON entry`);
  }
});
