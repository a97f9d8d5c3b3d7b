import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { FsChainStore } from '../../src/audit/fs-store.js';
import type { AuditRecord } from '../../src/audit/records.js';
import { listSegments } from '../../src/audit/segments.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { chainStoreContract } from './store-contract.js';
import { testdir } from '../helpers/testdir.js';

async function lines(dir: string): Promise<{ file: string; lines: string[] }[]> {
  const out = [];
  for (const s of await listSegments(dir))
    out.push({ file: s.file, lines: (await readFile(s.file, 'utf8')).split('\n') });
  return out;
}

chainStoreContract(t, 'fs', async (t) => {
  const root = testdir(t);
  const dir = path.join(root, 'audit');
  const key = await loadOrCreateAuditKey(path.join(root, 'audit.key'));
  return {
    key,
    store: (now) => new FsChainStore({ dir, now, maxSegmentBytes: 2048 }),
    verify: () => verifyAudit({ dir, verifierKey: key.verifierKey }),
    async records() {
      return (await lines(dir)).flatMap((s) =>
        s.lines.filter(Boolean).map((l) => JSON.parse(l) as AuditRecord),
      );
    },
    async edit(seq, change) {
      for (const s of await lines(dir)) {
        const i = s.lines.findIndex((l) => l && (JSON.parse(l) as AuditRecord).seq === seq);
        if (i < 0) continue;
        s.lines[i] = change(s.lines[i] as string);
        await writeFile(s.file, s.lines.join('\n'));
        return;
      }
      throw new Error(`no record ${seq}`);
    },
  };
});
