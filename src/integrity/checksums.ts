import { ModgateError } from '../errors.js';

import type { Evidence } from '../contracts.js';

export type { Evidence } from '../contracts.js';

/** The subset of the sumdb client that checksum checks need. */
export interface SumdbLookup {
  readonly name: string;
  lookup(
    modulePath: string,
    version: string,
  ): Promise<{
    lines: string[];
    evidence: { treeSize: number; rootHash: string; recordId: number };
  }>;
}

/** A TOFU ledger: remembers the first hash seen per key. */
export interface TofuLedger {
  get(key: string): Promise<{ h1: string; firstSeen: string } | null>;
  /** Records h1 for key unless one is recorded; returns the recorded entry. */
  remember(key: string, h1: string): Promise<{ h1: string; firstSeen: string }>;
}

export type HashKind = 'zip' | 'mod';

/**
 * Checks an artifact's h1 against the checksum database (or the TOFU ledger for
 * private modules). Returns the evidence, or throws CHECKSUM_MISMATCH.
 */
export class ChecksumVerifier {
  constructor(
    private readonly opts: {
      sumdb: SumdbLookup | null;
      tofu: TofuLedger;
      /** true when the module must not be looked up in the checksum database. */
      isPrivate: (modulePath: string) => boolean;
    },
  ) {}

  /**
   * Starts the checksum-database lookup of a public module version ahead of
   * its check, so that the proof is fetched while the bytes download; the
   * check joins it (the client shares lookups in flight). A failure is left
   * to the check, which asks again. Returns the lookup, settled either way
   * (for the caller to track), or undefined when none is made.
   */
  prefetch(modulePath: string, version: string): Promise<void> | undefined {
    if (this.opts.isPrivate(modulePath) || !this.opts.sumdb) return undefined;
    return this.opts.sumdb.lookup(modulePath, version).then(
      () => undefined,
      () => undefined,
    );
  }

  async check(
    modulePath: string,
    version: string,
    kind: HashKind,
    actual: string,
  ): Promise<Evidence> {
    if (this.opts.isPrivate(modulePath) || !this.opts.sumdb)
      return this.tofu(modulePath, version, kind, actual);
    const db = this.opts.sumdb;
    const { lines, evidence } = await db.lookup(modulePath, version);
    const want = expectedHash(lines, modulePath, version, kind);
    if (!want) {
      throw new ModgateError(
        'SUMDB_BAD_RESPONSE',
        `checksum database record for ${modulePath}@${version} has no ${kind} hash`,
      );
    }
    if (want !== actual) throw mismatch(modulePath, version, kind, want, actual, `${db.name}`);
    return { method: 'sumdb', h1: actual, sumdb: { name: db.name, ...evidence } };
  }

  private async tofu(
    modulePath: string,
    version: string,
    kind: HashKind,
    actual: string,
  ): Promise<Evidence> {
    const key = `${modulePath}@${version}${kind === 'mod' ? '/go.mod' : ''}`;
    const seen = await this.opts.tofu.remember(key, actual);
    if (seen.h1 !== actual)
      throw mismatch(modulePath, version, kind, seen.h1, actual, 'the local TOFU ledger');
    return { method: 'tofu', h1: actual, firstSeen: seen.firstSeen };
  }
}

/** Picks the h1 of "M V h1:..." (zip) or "M V/go.mod h1:..." (mod) from go.sum lines. */
export function expectedHash(
  lines: string[],
  modulePath: string,
  version: string,
  kind: HashKind,
): string | undefined {
  const want = kind === 'mod' ? `${version}/go.mod` : version;
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    if (f.length === 3 && f[0] === modulePath && f[1] === want && f[2]!.startsWith('h1:'))
      return f[2];
  }
  return undefined;
}

function mismatch(
  m: string,
  v: string,
  kind: HashKind,
  want: string,
  got: string,
  source: string,
): ModgateError {
  const what = kind === 'mod' ? `${m}@${v}/go.mod` : `${m}@${v}`;
  return new ModgateError(
    'CHECKSUM_MISMATCH',
    `SECURITY ERROR: checksum mismatch for ${what}\n` +
      `expected (${source}): ${want}\n` +
      `upstream served:      ${got}\n` +
      `modgate refused the download; the bytes are quarantined.`,
    { module: m, version: v, kind, expected: want, actual: got, source },
  );
}
