/**
 * Text formats of a Go checksum database: the signed tree note text
 * ("go.sum database tree\nN\nbase64hash\n") and records ("<id>\n<text>\n",
 * where text is newline-terminated lines without blank lines).
 * Re-exported by ../tlog.ts; error codes are documented there.
 */
import { ModgateError } from '../../errors.js';
import { decodeStdBase64 } from '../note.js';
import type { Tree } from '../tlog.js';

const TREE_PREFIX = 'go.sum database tree\n';
const MAX_TREE_TEXT = 1_000_000;
const MAX_SIZE = 2 ** 50;

const malformedTree = (): ModgateError =>
  new ModgateError('TLOG_MALFORMED_TREE', 'malformed tree note');
const malformedRecord = (): ModgateError =>
  new ModgateError('TLOG_MALFORMED_RECORD', 'malformed record data');

export function formatTree(tree: Tree): string {
  return `${TREE_PREFIX}${tree.n}\n${tree.hash.toString('base64')}\n`;
}

/** Parses a tree note's text; lines after the hash are allowed and ignored (as Go does). */
export function parseTree(text: string | Uint8Array): Tree {
  const s = typeof text === 'string' ? text : Buffer.from(text).toString('latin1');
  if (!s.startsWith(TREE_PREFIX) || s.length > MAX_TREE_TEXT || s.split('\n').length - 1 < 3)
    throw malformedTree();
  const lines = s.split('\n');
  const nStr = lines[1]!;
  if (!/^(0|[1-9][0-9]*)$/.test(nStr) || Number(nStr) > MAX_SIZE) throw malformedTree();
  const hash = decodeStdBase64(lines[2]!);
  if (!hash || hash.length !== 32) throw malformedTree();
  return { n: Number(nStr), hash };
}

/** Reports whether text is valid record text: UTF-8, no controls but "\n", no blank line, ends in "\n". */
export function isValidRecordText(text: Uint8Array | string): boolean {
  let s: string;
  if (typeof text === 'string') s = text;
  else {
    try {
      s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(text);
    } catch {
      return false;
    }
  }
  if (
    /[\u0000-\u0009\u000b-\u001f]/.test(s) ||
    /[\ud800-\udfff]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))
  )
    return false;
  return s.endsWith('\n') && !s.includes('\n\n');
}

export function formatRecord(id: number, text: Uint8Array | string): Buffer {
  if (!isValidRecordText(text)) throw malformedRecord();
  return Buffer.concat([Buffer.from(`${id}\n`), Buffer.from(text), Buffer.from('\n')]);
}

/** Parses "<id>\n<text>\n" followed by anything (the rest, e.g. a signed tree note). */
export function parseRecord(msg: Uint8Array): { id: number; text: string; rest: Buffer } {
  const buf = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  const nl = buf.indexOf(0x0a);
  if (nl < 0) throw malformedRecord();
  const idStr = buf.subarray(0, nl).toString('latin1');
  if (!/^[+-]?[0-9]+$/.test(idStr) || !Number.isSafeInteger(Number(idStr))) throw malformedRecord();
  const body = buf.subarray(nl + 1);
  const end = body.indexOf('\n\n');
  if (end < 0) throw malformedRecord();
  const text = body.subarray(0, end + 1);
  if (!isValidRecordText(text)) throw malformedRecord();
  return {
    id: Number(idStr),
    text: text.toString('utf8'),
    rest: Buffer.from(body.subarray(end + 2)),
  };
}

/**
 * Splits a data tile (the texts of consecutive records, each followed by a
 * blank line) into record texts. Throws TLOG_MALFORMED_RECORD.
 */
export function parseDataTile(data: Uint8Array): string[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: string[] = [];
  let off = 0;
  while (off < buf.length) {
    const end = buf.indexOf('\n\n', off);
    if (end < 0) throw malformedRecord();
    const text = buf.subarray(off, end + 1);
    if (!isValidRecordText(text)) throw malformedRecord();
    out.push(text.toString('utf8'));
    off = end + 2;
  }
  return out;
}

/** Builds a data tile from record texts. */
export function formatDataTile(texts: readonly string[]): Buffer {
  return Buffer.concat(texts.map((t) => formatRecord(0, t).subarray(2)));
}
