/** Error translation, lookup-path escaping and fork reports for the checksum-database client. */
import { ModgateError, isModgateError } from '../../errors.js';
import type { ForkEvidence } from './store.js';

/** Translates tlog and transport failures into SUMDB_* codes; NOTE_*, SUMDB_* and STATE_* pass through. */
export function asSumdbError(err: unknown): ModgateError {
  // STATE_*: the shared state failed, not the database; the caller answers 503 for it.
  if (
    isModgateError(err) &&
    (err.code.startsWith('SUMDB_') || err.code.startsWith('NOTE_') || err.code.startsWith('STATE_'))
  ) {
    return err;
  }
  if (isModgateError(err) && err.code.startsWith('TLOG_')) {
    const code =
      err.code === 'TLOG_BAD_TILE'
        ? 'SUMDB_BAD_TILE'
        : err.code === 'TLOG_BAD_PROOF'
          ? 'SUMDB_BAD_PROOF'
          : 'SUMDB_BAD_RESPONSE';
    return new ModgateError(code, err.message, {}, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  const details = isModgateError(err) ? { upstreamCode: err.code } : {};
  return new ModgateError(
    'SUMDB_UNAVAILABLE',
    `checksum database unreachable: ${message}`,
    details,
    {
      cause: err,
    },
  );
}

const PATH_RE = /^[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/;
const DOT_ELEM_RE = /(^|\/)\.\.?(\/|$)/;
const VERSION_RE = /^[A-Za-z0-9.+-]+$/;

/** Escapes a module path or version for a lookup URL ("!" + lower case for upper-case letters). */
export function escapeLookupElem(s: string, what: 'path' | 'version'): string {
  const ok = what === 'path' ? PATH_RE.test(s) && !DOT_ELEM_RE.test(s) : VERSION_RE.test(s);
  if (!ok) {
    throw new ModgateError('SUMDB_BAD_REQUEST', `invalid module ${what} ${JSON.stringify(s)}`);
  }
  return s.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
}

/** The SUMDB_FORK error, worded like the go command's SECURITY ERROR report. */
export function forkError(e: ForkEvidence): ModgateError {
  const indent = (s: string): string => s.replace(/\n/g, '\n\t');
  const proof = [e.computedOlderHash, ...e.proof].join('\n\t');
  return new ModgateError(
    'SUMDB_FORK',
    'SECURITY ERROR\n' +
      `go.sum database server misbehavior detected! (${e.name})\n\n` +
      `old database:\n\t${indent(e.olderNote)}\n` +
      `new database:\n\t${indent(e.newerNote)}\n` +
      `proof of misbehavior:\n\t${proof}`,
    { olderNote: e.olderNote, newerNote: e.newerNote, evidence: e },
  );
}
