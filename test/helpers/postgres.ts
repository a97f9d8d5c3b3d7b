import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The unprivileged system user that owns the cluster when the tests run as root. */
export const POSTGRES_TEST_USER = 'modgate-test';

/** A PostgreSQL server that a test started on 127.0.0.1 in its own temp folder. */
export interface PostgresServer {
  /** postgres://user:password@127.0.0.1:port/postgres */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** The folder that holds the unix socket (`host` for a socket connection). */
  socketDir: string;
  /** The URL of another database on the same server (see createDatabase). */
  urlFor(database: string): string;
  /** Creates a fresh, empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Runs SQL as the superuser through psql and returns its output. */
  psql(sql: string, database?: string): Promise<string>;
  /** Stops the server (fast shutdown) and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Finds the directory holding initdb, pg_ctl and postgres: $MODGATE_PG_BIN, then
 * the newest /usr/lib/postgresql/N/bin (Debian's layout). scripts/install-postgres.sh
 * installs the package when none is found.
 */
export function postgresBinDir(): string | undefined {
  const fromEnv = process.env.MODGATE_PG_BIN;
  if (fromEnv && existsSync(path.join(fromEnv, 'initdb'))) return fromEnv;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  return versions.length ? path.join(root, versions[0] as string, 'bin') : undefined;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Creates the unprivileged user if it is missing (postgres refuses to run as root). */
async function ensureTestUser(): Promise<void> {
  try {
    await run('id', ['-u', POSTGRES_TEST_USER]);
    return;
  } catch {
    // missing: create it below
  }
  try {
    await run('useradd', [
      '--system',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      POSTGRES_TEST_USER,
    ]);
  } catch (err) {
    // Another test file may have created it at the same moment (exit code 9).
    await run('id', ['-u', POSTGRES_TEST_USER]).catch(() => {
      throw err;
    });
  }
}

/** Runs a PostgreSQL binary, as the unprivileged user when the tests run as root. */
async function runAsOwner(bin: string, args: string[], timeoutMs = 60_000) {
  const [cmd, argv] = isRoot()
    ? ['runuser', ['-u', POSTGRES_TEST_USER, '--', bin, ...args]]
    : [bin, args];
  return run(cmd, argv, { timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C' } });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Waits for the server to accept connections: a bounded loop over pg_isready. */
async function waitReady(binDir: string, socketDir: string, port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 0; attempt < 600 && Date.now() < deadline; attempt++) {
    try {
      await run(path.join(binDir, 'pg_isready'), [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-t',
        '2',
      ]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`postgres on 127.0.0.1:${port} (socket ${socketDir}) did not become ready`);
}

/**
 * Starts a throwaway PostgreSQL: initdb into a temp folder, then postgres on a free
 * loopback port with its unix socket in that folder. Host connections need the
 * superuser's password (scram-sha-256); socket connections are trusted. Stop it in
 * teardown; a process exit stops it too.
 */
export async function startPostgres(): Promise<PostgresServer> {
  const binDir = postgresBinDir();
  if (!binDir) throw new Error('PostgreSQL is not installed: run scripts/install-postgres.sh');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-pg-'));
  const dataDir = path.join(dir, 'data');
  const user = 'modgate';
  const password = randomBytes(18).toString('base64url');
  const pwfile = path.join(dir, 'pwfile');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (isRoot()) {
    await ensureTestUser();
    const uid = Number((await run('id', ['-u', POSTGRES_TEST_USER])).stdout.trim());
    const gid = Number((await run('id', ['-g', POSTGRES_TEST_USER])).stdout.trim());
    await chown(dir, uid, gid);
    await chown(pwfile, uid, gid);
  }
  await runAsOwner(path.join(binDir, 'initdb'), [
    '-D',
    dataDir,
    '-U',
    user,
    `--pwfile=${pwfile}`,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  await rm(pwfile, { force: true });

  let port = 0;
  let started = false;
  let lastError: unknown;
  // A free port can be taken between probing and binding: try a few.
  for (let attempt = 0; attempt < 5 && !started; attempt++) {
    port = await freePort();
    const opts = [
      `-p ${port}`,
      `-k ${dir}`,
      '-c listen_addresses=127.0.0.1',
      '-c fsync=off',
      '-c max_connections=200',
    ].join(' ');
    try {
      await runAsOwner(path.join(binDir, 'pg_ctl'), [
        '-D',
        dataDir,
        '-l',
        path.join(dir, 'postgres.log'),
        '-o',
        opts,
        '-w',
        '-t',
        '60',
        'start',
      ]);
      started = true;
    } catch (err) {
      lastError = err;
    }
  }
  if (!started) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`postgres did not start: ${String(lastError)}`);
  }

  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    const args = ['-D', dataDir, '-m', 'immediate', '-w', 'stop'];
    const bin = path.join(binDir, 'pg_ctl');
    try {
      if (isRoot()) execFileSync('runuser', ['-u', POSTGRES_TEST_USER, '--', bin, ...args]);
      else execFileSync(bin, args);
    } catch {
      // already gone
    }
  };
  process.once('exit', stopSync);
  await waitReady(binDir, dir, port);

  const urlFor = (database: string) =>
    `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const psql = async (sql: string, database = 'postgres') => {
    const { stdout } = await runAsOwner(path.join(binDir, 'psql'), [
      '-X',
      '-q',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      dir,
      '-p',
      String(port),
      '-U',
      user,
      '-d',
      database,
      '-c',
      sql,
    ]);
    return stdout;
  };
  return {
    url: urlFor('postgres'),
    host: '127.0.0.1',
    port,
    user,
    password,
    database: 'postgres',
    socketDir: dir,
    urlFor,
    psql,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
      await psql(`CREATE DATABASE ${name}`);
      return urlFor(name);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', stopSync);
      await runAsOwner(path.join(binDir, 'pg_ctl'), [
        '-D',
        dataDir,
        '-m',
        'fast',
        '-w',
        'stop',
      ]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
