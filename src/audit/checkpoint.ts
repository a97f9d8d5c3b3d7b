/**
 * Signed checkpoints of the audit log, in Go's signed-note format:
 *
 *   modgate audit log v1
 *   <seq of the last covered record>
 *   <base64 of that record's SHA-256>
 *   [replica <id>]       (chains of a replica in a shared database)
 *
 *   — <key name> <base64 signature>
 *
 * Stored as <dir>/checkpoints/<seq>.note, or in the database's checkpoint
 * table. The replica line binds a checkpoint to one replica's chain. The Ed25519 key lives in a file of
 * two lines (signer key, verifier key), mode 0600.
 */
import { chmod, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModgateError, isModgateError } from '../errors.js';
import {
  generateKeyPair,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type Signer,
} from '../integrity/note.js';
import { createFileExclusive, syncDir, writeFileAtomic } from '../storage/atomic.js';
import { base64ToHex, hexToBase64 } from './records.js';

export const CHECKPOINT_HEADER = 'modgate audit log v1';
export const CHECKPOINT_DIR = 'checkpoints';

export interface CheckpointBody {
  seq: number;
  /** SHA-256 hex of record `seq`. */
  hash: string;
  /** The replica whose chain it covers (database chains only). */
  replica?: string;
}

/** A replica id: what `cluster.replicaId` and the replica line of a checkpoint accept. */
export const REPLICA_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export interface Checkpoint extends CheckpointBody {
  note: Buffer;
}

export interface AuditKey {
  signer: Signer;
  verifierKey: string;
}

export function checkpointText(seq: number, hashHex: string, replica?: string): string {
  const r = replica === undefined ? '' : `replica ${replica}\n`;
  return `${CHECKPOINT_HEADER}\n${seq}\n${hexToBase64(hashHex)}\n${r}`;
}

export function signCheckpoint(body: CheckpointBody, key: AuditKey): Checkpoint {
  return {
    ...body,
    note: signNote(checkpointText(body.seq, body.hash, body.replica), [key.signer]),
  };
}

function invalid(why: string): ModgateError {
  return new ModgateError('AUDIT_CHECKPOINT_INVALID', `malformed audit checkpoint: ${why}`);
}

/** Parses checkpoint text (no signature check). Throws AUDIT_CHECKPOINT_INVALID. */
export function parseCheckpointText(text: string): CheckpointBody {
  const lines = text.split('\n');
  if (lines.length !== 4 && lines.length !== 5) throw invalid('expected three or four lines');
  if (lines.at(-1) !== '') throw invalid('text must end with a newline');
  if (lines[0] !== CHECKPOINT_HEADER) throw invalid('unknown header');
  let replica: string | undefined;
  if (lines.length === 5) {
    const m = /^replica (.*)$/.exec(lines[3] as string);
    if (!m || !REPLICA_RE.test(m[1] as string)) throw invalid('bad replica line');
    replica = m[1] as string;
  }
  const seqText = lines[1] as string;
  if (!/^[1-9][0-9]{0,15}$/.test(seqText) || !Number.isSafeInteger(Number(seqText)))
    throw invalid('bad size');
  const h = lines[2] as string;
  if (!/^[A-Za-z0-9+/]{43}=$/.test(h)) throw invalid('bad hash');
  return { seq: Number(seqText), hash: base64ToHex(h), ...(replica ? { replica } : {}) };
}

/** Verifies and parses a checkpoint note. Throws NOTE_* or AUDIT_CHECKPOINT_INVALID. */
export function openCheckpoint(note: Buffer | string, verifierKey: string): CheckpointBody {
  const opened = openNote(note, [parseVerifierKey(verifierKey)]);
  return parseCheckpointText(opened.text);
}

/** The seq a note claims, without checking its signature (for error reports); 0 if unreadable. */
export function claimedSeq(note: Buffer | string): number {
  const text = note.toString();
  const m = /^modgate audit log v1\n([1-9][0-9]{0,15})\n/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** The replica a note names (not authenticated: for routing shipped notes to their chain). */
export function claimedReplica(note: Buffer | string): string | undefined {
  const m = /^modgate audit log v1\n[^\n]*\n[^\n]*\nreplica ([^\n]*)\n/.exec(note.toString());
  return m ? m[1] : undefined;
}

/** Splits a file of concatenated checkpoint notes (as shipped) into notes. */
export function splitNotes(text: string): string[] {
  const marker = `${CHECKPOINT_HEADER}\n`;
  const starts: number[] = [];
  for (let i = text.indexOf(marker); i >= 0; i = text.indexOf(marker, i + 1)) {
    if (i === 0 || text[i - 1] === '\n') starts.push(i);
  }
  return starts.map((s, k) => text.slice(s, starts[k + 1] ?? text.length));
}

export async function writeCheckpointFile(dir: string, cp: Checkpoint): Promise<string> {
  const cdir = path.join(dir, CHECKPOINT_DIR);
  await mkdir(cdir, { recursive: true });
  const file = path.join(cdir, `${cp.seq}.note`);
  await writeFileAtomic(file, cp.note, 0o644);
  return file;
}

export interface CheckpointFile {
  seq: number;
  file: string;
}

/** Checkpoint files of an audit directory in seq order (by file name). */
export async function listCheckpointFiles(dir: string): Promise<CheckpointFile[]> {
  let names: string[];
  try {
    names = await readdir(path.join(dir, CHECKPOINT_DIR));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .map((n) => ({ m: /^([1-9][0-9]{0,15})\.note$/.exec(n), n }))
    .filter((x) => x.m)
    .map((x) => ({ seq: Number(x.m?.[1]), file: path.join(dir, CHECKPOINT_DIR, x.n) }))
    .sort((a, b) => a.seq - b.seq);
}

/** Removes checkpoint files below `seq`, keeping at least the newest one. */
export async function pruneCheckpoints(dir: string, belowSeq: number): Promise<number> {
  const files = await listCheckpointFiles(dir);
  const doomed = files.slice(0, -1).filter((f) => f.seq < belowSeq);
  for (const f of doomed) await rm(f.file, { force: true });
  if (doomed.length) await syncDir(path.join(dir, CHECKPOINT_DIR));
  return doomed.length;
}

function keyError(file: string, why: string): ModgateError {
  return new ModgateError('AUDIT_KEY_INVALID', `audit key ${file}: ${why}`, { file });
}

/** Reads a key file, checking that its two keys form a pair. */
export async function readAuditKey(file: string): Promise<AuditKey> {
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) {
    throw new ModgateError(
      'AUDIT_KEY_INSECURE',
      `audit key ${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
      { file },
    );
  }
  const [signerLine = '', verifierLine = ''] = (await readFile(file, 'utf8')).split('\n');
  let key: AuditKey;
  try {
    key = {
      signer: parseSignerKey(signerLine.trim()),
      verifierKey: parseVerifierKey(verifierLine.trim()).key,
    };
  } catch (err) {
    throw keyError(file, isModgateError(err) ? err.message : 'unreadable');
  }
  const probe = checkpointText(1, '0'.repeat(64));
  try {
    openNote(signNote(probe, [key.signer]), [parseVerifierKey(key.verifierKey)]);
  } catch {
    throw keyError(file, 'signer and verifier keys do not match');
  }
  return key;
}

/**
 * Loads the gateway's audit key, creating it (mode 0600) on first start.
 * Returns the signer and the verifier key string to publish.
 */
export async function loadOrCreateAuditKey(
  file: string,
  name = 'modgate-audit',
): Promise<AuditKey & { created: boolean }> {
  try {
    return { ...(await readAuditKey(file)), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(path.dirname(file), { recursive: true });
  const pair = generateKeyPair(name);
  try {
    await createFileExclusive(file, `${pair.signer}\n${pair.verifier}\n`, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { ...(await readAuditKey(file)), created: false };
  }
  await chmod(file, 0o600);
  return { ...(await readAuditKey(file)), created: true };
}
