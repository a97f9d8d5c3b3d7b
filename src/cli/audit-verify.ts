/**
 * `modgate audit verify`: finding the verifier key, and saying plainly what
 * the result proves (intact and signed, unauthenticated, signed by another
 * key, or broken at a record).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ModgateError, isModgateError } from '../errors.js';
import { readAuditKey } from '../audit/checkpoint.js';
import { verifyAudit, type VerifyResult } from '../audit/verify.js';
import { parseVerifierKey } from '../integrity/note.js';
import { Progress } from './progress.js';
import type { Chain } from '../audit/chains.js';
import { replicaLine, type ChainResult } from './audit-pg.js';

export interface KeySources {
  flag?: string;
  configKey?: string;
  /** Key files to try, in order: the audit folder's sibling keys/, then the configured one. */
  keyFiles: string[];
}

export interface FoundKey {
  key: string;
  from: string;
}

/** Where the key came from matters to the reader: it is printed with the result. */
export async function findVerifierKey(s: KeySources): Promise<FoundKey> {
  if (s.flag) return { key: s.flag, from: '--verifier-key' };
  if (s.configKey) return { key: s.configKey, from: 'audit.verifierKey in the config' };
  for (const file of s.keyFiles) {
    if (!existsSync(file)) continue;
    try {
      return { key: (await readAuditKey(file)).verifierKey, from: file };
    } catch (err) {
      if (isModgateError(err)) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ModgateError('AUDIT_KEY_UNREADABLE', `cannot read the audit key ${file}: ${code}`, {
        file,
      });
    }
  }
  throw new ModgateError(
    'AUDIT_VERIFIER_KEY_MISSING',
    `no verifier key for the audit checkpoints (looked for ${s.keyFiles.join(', ')}). ` +
      'Give the gateway\'s verifier key (modgate-audit+…, logged at its first start as "created the audit signing key") ' +
      'with --verifier-key KEY or audit.verifierKey in the config, or --data DIR of the gateway (key in DIR/keys/audit.key)',
    { looked: s.keyFiles },
  );
}

/** The key files to try for an audit folder: DIR/../keys/audit.key (a copied data folder) first. */
export function keyFileCandidates(dir: string, configured: string, explicitDir: boolean): string[] {
  const sibling = path.join(path.dirname(path.resolve(dir)), 'keys', 'audit.key');
  const list = explicitDir ? [sibling, configured] : [configured];
  return [...new Set(list.map((f) => path.resolve(f)))];
}

const idOf = (key: string): string => {
  const v = parseVerifierKey(key);
  return `${v.name}+${v.keyHash.toString(16).padStart(8, '0')}`;
};

export interface VerifyCliOptions {
  dir: string;
  /** The folder's chains (src/audit/chains.ts); default its own only. */
  chains?: Chain[];
  key: FoundKey;
  shipped?: string;
  requireCheckpoints?: boolean;
}

/** Runs the verification and prints the verdict; returns the exit code. */
export async function runVerify(o: VerifyCliOptions): Promise<number> {
  const chains = o.chains ?? [{ dir: o.dir }];
  if (chains.some((c) => c.replica !== undefined)) return runVerifyChains(o, chains);
  const progress = new Progress(0, 'verifying');
  const r = await verifyAudit({
    dir: o.dir,
    verifierKey: o.key.key,
    ...(o.shipped ? { shippedCheckpoints: o.shipped } : {}),
    onProgress: () => progress.tick(),
  });
  progress.done();
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(verdict(r, o));
  if (!r.ok) return 1;
  return r.checkpoints === 0 && r.records > 0 && o.requireCheckpoints ? 1 : 0;
}

export function verdict(r: VerifyResult, o: VerifyCliOptions): string {
  const lines: string[] = [];
  const using = `verifier key ${idOf(o.key.key)} (from ${o.key.from})`;
  if (r.firstBad) {
    const bad = r.firstBad;
    lines.push(
      `audit trail BROKEN at record ${bad.seq} (${bad.segment}, line ${bad.line}): ${bad.reason}`,
    );
  }
  if (r.foreign.length) {
    const keys = [...new Set(r.foreign.flatMap((f) => f.keys))].join(', ');
    const seqs = r.foreign.map((f) => f.seq).join(', ');
    lines.push(
      `audit trail NOT VERIFIED: ${r.foreign.length} checkpoint(s) (seq ${seqs}) are signed by another key, ${keys}, not by the ${using}.`,
      "If that is the gateway's key, verify with --verifier-key (its verifier key is in audit.verifierKey or the second line of its key file);",
      'if it is not, someone other than the gateway wrote those checkpoints.',
    );
  }
  if (!r.ok) return `${lines.join('\n')}\n`;
  if (r.checkpoints === 0 && r.records > 0) {
    lines.push(
      `WARNING: audit trail UNAUTHENTICATED: ${r.records} records are hash-chained, but no signed checkpoint vouches for them,`,
      `so whoever can write ${o.dir} could have rewritten or cut them unseen.`,
      'Ship checkpoints off the box (audit.shipUrl or audit.syslog, docs/audit.md) and verify with --shipped FILE to catch a cut trail;',
      'use --require-checkpoints to make this exit 1.',
    );
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    `audit trail intact: ${r.records} records, ${r.checkpoints} signed checkpoints, ${r.unsigned} records after the newest checkpoint; ${using}`,
  );
  if (!o.shipped)
    lines.push(
      'note: local checkpoints catch edits, not a trail cut together with its checkpoints: compare with shipped ones (--shipped FILE).',
    );
  return `${lines.join('\n')}\n`;
}

/**
 * A folder with worker chains (server.workers): each chain is verified on its
 * own (its checkpoints must name it), one line each, then one verdict.
 */
async function runVerifyChains(o: VerifyCliOptions, chains: Chain[]): Promise<number> {
  const progress = new Progress(0, 'verifying');
  const results: ChainResult[] = [];
  try {
    for (const c of chains) {
      const r = await verifyAudit({
        dir: c.dir,
        verifierKey: o.key.key,
        ...(c.replica ? { replica: c.replica } : {}),
        ...(o.shipped ? { shippedCheckpoints: o.shipped } : {}),
        onProgress: () => progress.tick(),
      });
      for (const w of r.warnings) process.stderr.write(`warning: ${c.replica ?? c.dir}: ${w}\n`);
      results.push({ ...r, replica: c.replica ?? '(single process)' });
    }
  } finally {
    progress.done();
  }
  const out = results.map(replicaLine);
  const using = `verifier key ${idOf(o.key.key)} (from ${o.key.from})`;
  const broken = results.filter((r) => r.firstBad);
  const foreign = results.filter((r) => !r.firstBad && r.foreign.length);
  const unauth = results.filter((r) => r.ok && r.checkpoints === 0 && r.records > 0);
  for (const r of broken) {
    const b = r.firstBad!;
    out.push(
      `audit trail BROKEN in replica ${r.replica} at record ${b.seq} (${b.segment}, line ${b.line}): ${b.reason}`,
    );
  }
  if (foreign.length)
    out.push(
      `audit trail NOT VERIFIED: replica(s) ${foreign.map((r) => r.replica).join(', ')} carry checkpoints signed by another key, not by the ${using}`,
    );
  if (!broken.length && !foreign.length) {
    if (unauth.length)
      out.push(
        `WARNING: audit trail UNAUTHENTICATED in replica(s) ${unauth.map((r) => r.replica).join(', ')}: hash-chained, but no signed checkpoint vouches for them, so whoever can write ${o.dir} could have rewritten them unseen.`,
      );
    const records = results.reduce((n, r) => n + r.records, 0);
    const cps = results.reduce((n, r) => n + r.checkpoints, 0);
    out.push(
      `audit trail intact: ${results.length} chain(s) in ${o.dir}, ${records} records, ${cps} signed checkpoints; ${using}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (results.some((r) => !r.ok)) return 1;
  return unauth.length && o.requireCheckpoints ? 1 : 0;
}
