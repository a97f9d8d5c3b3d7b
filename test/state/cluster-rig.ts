import { randomBytes } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Test } from 'tap';
import type { RawConfig } from '../../src/config/load.js';
import { allowAllGate } from '../../src/contracts.js';
import type { Gateway } from '../../src/main.js';
import { startTestGateway } from '../helpers/gateway.js';
import type { PostgresServer } from '../helpers/postgres.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { testdir } from '../helpers/testdir.js';

export interface Replica {
  id: string;
  dir: string;
  gw: Gateway;
  audit: ReturnType<typeof recordingAudit>;
}

/**
 * n gateways in this process, each with its own data folder, all on one
 * PostgreSQL database and one state key (as replicas share a Secret); with
 * `sharedStore` their blob stores are one folder (as replicas share a bucket).
 */
export async function startCluster(
  t: Test,
  pg: PostgresServer,
  database: string,
  opts: { n?: number; sharedStore?: boolean; raw: (i: number) => RawConfig },
): Promise<Replica[]> {
  await pg.createDatabase(database);
  const root = testdir(t);
  const pwfile = path.join(root, 'pg-password');
  await writeFile(pwfile, `${pg.password}\n`, { mode: 0o600 });
  const stateKey = `${randomBytes(32).toString('hex')}\n`;
  const shared = path.join(root, 'shared-store');
  await mkdir(shared, { recursive: true });
  const out: Replica[] = [];
  t.teardown(() => Promise.all(out.map((r) => r.gw.close())));
  for (let i = 0; i < (opts.n ?? 3); i++) {
    const id = `replica-${String.fromCharCode(97 + i)}`;
    const dir = path.join(root, id);
    await mkdir(path.join(dir, 'keys'), { recursive: true });
    await writeFile(path.join(dir, 'keys', 'state.key'), stateKey, { mode: 0o600 });
    if (opts.sharedStore) await symlink(shared, path.join(dir, 'store'));
    const audit = recordingAudit();
    const raw = opts.raw(i);
    const gw = await startTestGateway(
      dir,
      {
        ...raw,
        state: {
          ...(raw.state as object | undefined),
          kind: 'postgres',
          postgres: {
            url: `postgres://${pg.user}@127.0.0.1:${pg.port}/${database}`,
            passwordFile: pwfile,
          },
        },
        cluster: { replicaId: id, leaseTtlMs: 2000, leasePollMs: 50 },
      },
      // The policy engine plays no part here; its workers would only slow the start.
      { audit, gate: allowAllGate },
    );
    out.push({ id, dir, gw, audit });
  }
  return out;
}

/** Waits, in a bounded loop, for a condition that an event elsewhere makes true. */
export async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
