/**
 * Signed notes as used by Go checksum databases (golang.org/x/mod/sumdb/note).
 *
 * A note is UTF-8 text ending in "\n", a blank line, then signature lines
 * "— <name> <base64(keyhash[4] || ed25519 sig[64])>\n". Keys are
 * "<name>+<hash8hex>+<base64(0x01 || key32)>" (verifier) and
 * "PRIVATE+KEY+<name>+<hash8hex>+<base64(0x01 || seed32)>" (signer).
 *
 * Error codes:
 * | code               | meaning                                                     |
 * |--------------------|-------------------------------------------------------------|
 * | NOTE_KEY_INVALID   | a verifier or signer key is malformed or its hash is wrong  |
 * | NOTE_MALFORMED     | the note or one of its signature lines is malformed         |
 * | NOTE_UNVERIFIED    | no signature from a known key                               |
 * | NOTE_BAD_SIGNATURE | a signature from a known key does not verify                |
 * | NOTE_KEY_AMBIGUOUS | the verifier list holds two keys with the signature's name+hash |
 * | NOTE_KEY_MISMATCH  | a verifier lookup returned a key of another name or hash    |
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { ModgateError } from '../errors.js';

export interface Verifier {
  readonly name: string;
  readonly keyHash: number;
  verify(msg: Uint8Array, sig: Uint8Array): boolean;
}

export interface Signer {
  readonly name: string;
  readonly keyHash: number;
  sign(msg: Uint8Array): Buffer;
}

/** Finds the verifier for a signature; throws to refuse (e.g. NOTE_KEY_AMBIGUOUS). */
export interface VerifierLookup {
  verifier(name: string, keyHash: number): Verifier | undefined;
}

export interface NoteSignature {
  name: string;
  hash: number;
  base64: string;
}

export interface OpenedNote {
  text: string;
  sigs: NoteSignature[];
  unverified: NoteSignature[];
}

const ALG_ED25519 = 1;
const MAX_SIGS = 100;
/** Notes larger than this are refused outright (tree notes are limited to 1e6 bytes too). */
export const MAX_NOTE_BYTES = 1_000_000;
const SIG_PREFIX = '— ';
// Go's unicode.IsSpace: ASCII space/controls, NEL, NBSP and the Unicode White_Space separators.
const SPACE_RE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Decodes standard padded base64 the way Go's base64.StdEncoding does (CR and LF are ignored); null if invalid. */
export function decodeStdBase64(s: string): Buffer | null {
  const clean = s.replace(/[\r\n]/g, '');
  if (!B64_RE.test(clean)) return null;
  return Buffer.from(clean, 'base64');
}

export function isValidKeyName(name: string): boolean {
  return name !== '' && isWellFormedUtf16(name) && !SPACE_RE.test(name) && !name.includes('+');
}

function isWellFormedUtf16(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/** SHA-256(name + "\n" + key) read as a big-endian uint32. */
export function keyHash(name: string, key: Uint8Array): number {
  return createHash('sha256').update(name).update('\n').update(key).digest().readUInt32BE(0);
}

function keyInvalid(what: string): ModgateError {
  return new ModgateError('NOTE_KEY_INVALID', `malformed ${what} key`);
}

/** Splits "a+b+c..." into at most `n` fields, the last holding the rest (like repeated strings.Cut). */
function cutFields(s: string, n: number): string[] {
  const out: string[] = [];
  let rest = s;
  for (let i = 0; i < n - 1; i++) {
    const j = rest.indexOf('+');
    out.push(j < 0 ? rest : rest.slice(0, j));
    rest = j < 0 ? '' : rest.slice(j + 1);
  }
  out.push(rest);
  return out;
}

function parseKeyFields(
  name: string,
  hash16: string,
  key64: string,
  what: string,
): { hash: number; key: Buffer } {
  const key = decodeStdBase64(key64);
  if (!/^[0-9a-fA-F]{8}$/.test(hash16) || !key || !isValidKeyName(name) || key.length === 0)
    throw keyInvalid(what);
  if (key[0] !== ALG_ED25519)
    throw new ModgateError('NOTE_KEY_INVALID', `unknown ${what} key algorithm`);
  if (key.length !== 33) throw keyInvalid(what);
  return { hash: parseInt(hash16, 16), key };
}

export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
}

function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, seed]),
    format: 'der',
    type: 'pkcs8',
  });
}

/** Parses "name+hash+base64key" (Ed25519 only). Throws NOTE_KEY_INVALID. */
export function parseVerifierKey(vkey: string): Verifier & { readonly key: string } {
  const [name = '', hash16 = '', key64 = ''] = cutFields(vkey, 3);
  const { hash, key } = parseKeyFields(name, hash16, key64, 'verifier');
  if (hash !== keyHash(name, key))
    throw new ModgateError('NOTE_KEY_INVALID', 'invalid verifier key hash');
  let pub: KeyObject;
  try {
    pub = ed25519PublicKey(key.subarray(1));
  } catch {
    throw keyInvalid('verifier');
  }
  return {
    name,
    keyHash: hash,
    key: vkey,
    verify: (msg, sig) => sig.length === 64 && verify(null, msg, pub, sig),
  };
}

/** Parses "PRIVATE+KEY+name+hash+base64seed". Throws NOTE_KEY_INVALID. */
export function parseSignerKey(skey: string): Signer {
  const [p1, p2, name = '', hash16 = '', key64 = ''] = cutFields(skey, 5);
  if (p1 !== 'PRIVATE' || p2 !== 'KEY') throw keyInvalid('signer');
  const { hash, key } = parseKeyFields(name, hash16, key64, 'signer');
  const priv = ed25519PrivateKey(key.subarray(1));
  const pubRaw = createPublicKey(priv)
    .export({ format: 'der', type: 'spki' })
    .subarray(SPKI_ED25519.length);
  if (hash !== keyHash(name, Buffer.concat([Buffer.from([ALG_ED25519]), pubRaw]))) {
    throw new ModgateError('NOTE_KEY_INVALID', 'invalid signer key hash');
  }
  return { name, keyHash: hash, sign: (msg) => sign(null, msg, priv) };
}

/** Creates a new Ed25519 key pair named `name`, as Go's note.GenerateKey does. */
export function generateKeyPair(name: string): { signer: string; verifier: string } {
  if (!isValidKeyName(name))
    throw new ModgateError('NOTE_KEY_INVALID', `invalid key name ${JSON.stringify(name)}`);
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.concat([
    Buffer.from([ALG_ED25519]),
    publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519.length),
  ]);
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_ED25519.length);
  const priv = Buffer.concat([Buffer.from([ALG_ED25519]), seed]);
  const h = keyHash(name, pub).toString(16).padStart(8, '0');
  return {
    signer: `PRIVATE+KEY+${name}+${h}+${priv.toString('base64')}`,
    verifier: `${name}+${h}+${pub.toString('base64')}`,
  };
}

/** A verifier lookup over a list; a name+hash listed twice is ambiguous (NOTE_KEY_AMBIGUOUS) when used. */
export function verifierList(list: readonly Verifier[]): VerifierLookup {
  const map = new Map<string, Verifier[]>();
  for (const v of list) {
    const k = `${v.name}+${v.keyHash}`;
    map.set(k, [...(map.get(k) ?? []), v]);
  }
  return {
    verifier(name, hash) {
      const vs = map.get(`${name}+${hash}`);
      if (!vs) return undefined;
      if (vs.length > 1)
        throw new ModgateError('NOTE_KEY_AMBIGUOUS', `ambiguous key ${name}+${hex8(hash)}`);
      return vs[0];
    },
  };
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
const malformed = (why: string): ModgateError =>
  new ModgateError('NOTE_MALFORMED', `malformed note: ${why}`);

/** Decodes valid UTF-8 with no control characters other than "\n"; throws NOTE_MALFORMED. */
function noteString(msg: Uint8Array): string {
  let s: string;
  try {
    s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(msg);
  } catch {
    throw malformed('invalid UTF-8');
  }
  if (/[\u0000-\u0009\u000b-\u001f]/.test(s)) throw malformed('control character');
  return s;
}

function parseSigLine(line: string): NoteSignature & { sig: Buffer } {
  if (!line.startsWith(SIG_PREFIX)) throw malformed('bad signature line');
  const rest = line.slice(SIG_PREFIX.length);
  const sp = rest.indexOf(' ');
  const name = sp < 0 ? rest : rest.slice(0, sp);
  const b64 = sp < 0 ? '' : rest.slice(sp + 1);
  const raw = decodeStdBase64(b64);
  if (!raw || !isValidKeyName(name) || b64 === '' || raw.length < 5)
    throw malformed('bad signature line');
  return { name, hash: raw.readUInt32BE(0), base64: b64, sig: raw.subarray(4) };
}

/**
 * Opens a signed note: returns its text with the verified signatures and the
 * signatures from unknown keys (e.g. witness cosignatures). At least one known
 * key must have signed it.
 */
export function openNote(
  msg: Uint8Array | string,
  known: readonly Verifier[] | VerifierLookup,
): OpenedNote {
  const bytes = typeof msg === 'string' ? Buffer.from(msg, 'utf8') : msg;
  if (bytes.length > MAX_NOTE_BYTES) throw malformed(`larger than ${MAX_NOTE_BYTES} bytes`);
  const lookup = Array.isArray(known) ? verifierList(known) : (known as VerifierLookup);
  const s = noteString(bytes);
  const split = s.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no signature block');
  const text = s.slice(0, split + 1);
  const block = s.slice(split + 2);
  if (block === '' || !block.endsWith('\n'))
    throw malformed('signature block must end in a newline');
  const textBytes = Buffer.from(text, 'utf8');
  const note: OpenedNote = { text, sigs: [], unverified: [] };
  const seen = new Set<string>();
  const seenUnverified = new Set<string>();
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGS) throw malformed(`more than ${MAX_SIGS} signatures`);
  for (const line of lines) {
    const { sig, ...s1 } = parseSigLine(line);
    const v = lookup.verifier(s1.name, s1.hash);
    if (!v) {
      if (!seenUnverified.has(line)) note.unverified.push(s1);
      seenUnverified.add(line);
      continue;
    }
    if (v.name !== s1.name || v.keyHash !== s1.hash) {
      throw new ModgateError('NOTE_KEY_MISMATCH', "verifier name or hash doesn't match signature");
    }
    const id = `${s1.name}+${s1.hash}`;
    if (seen.has(id)) continue;
    seen.add(id);
    if (!v.verify(textBytes, sig)) {
      throw new ModgateError(
        'NOTE_BAD_SIGNATURE',
        `invalid signature for key ${s1.name}+${hex8(s1.hash)}`,
        {
          key: `${s1.name}+${hex8(s1.hash)}`,
        },
      );
    }
    note.sigs.push(s1);
  }
  if (note.sigs.length === 0) {
    throw new ModgateError('NOTE_UNVERIFIED', 'note has no verifiable signatures', {
      unverified: note.unverified,
    });
  }
  return note;
}

/**
 * Signs a note's text with each signer. Signatures already on the note are
 * kept (before the new ones) unless a signer replaces them.
 */
export function signNote(
  note: string | { text: string; sigs?: NoteSignature[] },
  signers: readonly Signer[],
): Buffer {
  const text = typeof note === 'string' ? note : note.text;
  const existing = typeof note === 'string' ? [] : (note.sigs ?? []);
  if (!text.endsWith('\n')) throw malformed('text must end in a newline');
  const textBytes = Buffer.from(text, 'utf8');
  const have = new Set<string>();
  const fresh: string[] = [];
  for (const s of signers) {
    have.add(`${s.name}+${s.keyHash}`);
    if (!isValidKeyName(s.name)) throw new ModgateError('NOTE_KEY_INVALID', 'invalid signer');
    const head = Buffer.alloc(4);
    head.writeUInt32BE(s.keyHash >>> 0, 0);
    fresh.push(
      `${SIG_PREFIX}${s.name} ${Buffer.concat([head, s.sign(textBytes)]).toString('base64')}\n`,
    );
  }
  let out = `${text}\n`;
  for (const sig of existing) {
    if (!isValidKeyName(sig.name)) throw malformed('invalid signature name');
    if (have.has(`${sig.name}+${sig.hash}`)) continue;
    const raw = decodeStdBase64(sig.base64);
    if (!raw || raw.length < 4 || raw.readUInt32BE(0) !== sig.hash)
      throw malformed('invalid signature');
    out += `${SIG_PREFIX}${sig.name} ${sig.base64}\n`;
  }
  return Buffer.from(out + fresh.join(''), 'utf8');
}
