/**
 * A vcs route behind the whole gateway: the same verification (zip rules,
 * h1 in the TOFU ledger), policy and audit as for a proxy's modules; a moved
 * tag is a SECURITY ERROR and quarantined; wrong credentials are a 403 that
 * names the route; the token appears in no answer and no log line.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { request } from 'undici';
import YAML from 'yaml';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import type { Gateway } from '../../src/main.js';
import { startGitServer, TOKEN, USER, type GitServer } from './git-server.js';
import { makeRepos, pkg, type Repos } from './fixtures.js';

// Several gateways, each running real go and git: generous on a busy machine.
t.setTimeout(900_000);

let dir: string;
let server: GitServer;
let repos: Repos;
const logs: string[] = [];
const logger = pino(
  { level: 'trace' },
  new Writable({
    write(chunk: Buffer, _e, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  }),
);

t.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-vcs-gw-'));
  server = await startGitServer(path.join(dir, 'git'));
  repos = await makeRepos(server.root);
  // modgate's own environment: the operator's git config (rewrites, CA) and go on PATH.
  process.env.GIT_CONFIG_GLOBAL = server.gitconfig;
  process.env.GIT_SSL_CAINFO = server.caFile;
  process.env.PATH = `${process.env.PATH}:/usr/local/go/bin`;
});
t.teardown(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function gateway(dataDir: string, token = TOKEN, audit = recordingAudit()) {
  const dataFile = path.join(dir, 'policy.yaml');
  await writeFile(
    dataFile,
    YAML.stringify({
      banned: [{ module: 'github.com/acme/lib', versions: 'v1.1.0', reason: 'leaks memory' }],
    }),
  );
  const gw = await startTestGateway(
    dataDir,
    {
      private: 'github.com/acme',
      policy: { dataFile },
      routes: [
        {
          pattern: 'github.com/acme',
          source: 'vcs',
          git: {
            credentials: { type: 'token', host: new URL(server.url).host, username: USER, token },
          },
        },
      ],
    },
    { logger, audit },
  );
  return { gw, audit };
}

async function get(gw: Gateway, p: string): Promise<{ status: number; text: string }> {
  const res = await request(`${gw.url}/${p}`);
  const text = await res.body.text();
  return { status: res.statusCode, text };
}

t.test(
  'list, info, mod and zip through the flow: TOFU evidence, audit names the source',
  async (t) => {
    const { gw, audit } = await gateway(path.join(dir, 'data-ok'));
    t.teardown(() => gw.close());
    // v1.1.0 is banned by the policy's data: the list leaves it out.
    t.equal((await get(gw, 'github.com/acme/lib/@v/list')).text, 'v1.0.0\nv1.2.0\n');
    t.equal(
      JSON.parse((await get(gw, 'github.com/acme/lib/@v/v1.2.0.info')).text).Version,
      'v1.2.0',
    );
    t.match((await get(gw, 'github.com/acme/lib/@v/v1.2.0.mod')).text, /retract v1\.1\.0/);
    const zip = await request(`${gw.url}/github.com/acme/lib/@v/v1.2.0.zip`);
    t.equal(zip.statusCode, 200);
    t.ok((await zip.body.arrayBuffer()).byteLength > 0);
    const rec = audit.decisions.find((d) => d.kind === 'zip' && d.module === 'github.com/acme/lib');
    t.equal(rec?.upstream, 'vcs:github.com/acme');
    t.equal(rec?.evidence?.method, 'tofu');
    t.match(rec?.evidence?.h1, /^h1:/);
    const head = JSON.parse((await get(gw, 'github.com/acme/lib/@v/main.info')).text);
    t.equal(
      (await get(gw, `github.com/acme/lib/@v/${head.Version}.zip`)).status,
      200,
      'a pseudo-version',
    );
  },
);

t.test('policy applies: a banned version is refused before any git runs for it', async (t) => {
  const { gw, audit } = await gateway(path.join(dir, 'data-policy'));
  t.teardown(() => gw.close());
  const before = server.paths.length;
  const r = await get(gw, 'github.com/acme/lib/@v/v1.1.0.zip');
  t.equal(r.status, 403);
  t.match(r.text, /leaks memory/);
  t.equal(server.paths.length, before, 'nothing reached the git server');
  t.ok(audit.decisions.some((d) => d.version === 'v1.1.0' && d.decision === 'deny'));
});

t.test('an unknown repository or version is 404, so clients may fall back', async (t) => {
  const { gw } = await gateway(path.join(dir, 'data-404'));
  t.teardown(() => gw.close());
  t.equal((await get(gw, 'github.com/acme/nosuch/@v/list')).status, 404);
  t.equal((await get(gw, 'github.com/acme/lib/@v/v7.0.0.info')).status, 404);
});

t.test('a moved tag is a SECURITY ERROR, quarantined, recorded', async (t) => {
  const dataDir = path.join(dir, 'data-moved');
  const first = await gateway(dataDir);
  const ok = await request(`${first.gw.url}/github.com/acme/moving/@v/v1.0.0.zip`);
  t.equal(ok.statusCode, 200);
  await ok.body.dump();
  await first.gw.close();
  // The tag now names other code. The cached zip and the clone are gone (evicted, or a
  // new replica); the ledger stays. (A clone still cached keeps serving the first commit.)
  await repos.moving.commit({ 'm.go': pkg('moving', 'replaced') }, 'moved');
  await repos.moving.tag('v1.0.0');
  await rm(path.join(dataDir, 'store', 'cache', 'github.com', 'acme', 'moving'), {
    recursive: true,
  });
  await rm(path.join(dataDir, 'vcs'), { recursive: true });
  const second = await gateway(dataDir);
  t.teardown(() => second.gw.close());
  const r = await get(second.gw, 'github.com/acme/moving/@v/v1.0.0.zip');
  t.equal(r.status, 403);
  t.match(r.text, /^SECURITY ERROR: checksum mismatch for github\.com\/acme\/moving@v1\.0\.0/);
  t.match(r.text, /TOFU ledger/);
  const ev = second.audit.events.find((e) => e.event === 'CHECKSUM_MISMATCH');
  t.ok(ev, 'a security event is recorded');
  const q = await readdir(path.join(dataDir, 'store', 'quarantine'));
  t.equal(q.length, 1, 'the bytes are quarantined');
  t.equal(
    (await get(second.gw, 'github.com/acme/moving/@v/v1.0.0.zip')).status,
    403,
    'nothing was cached: refused again',
  );
});

t.test('wrong credentials: 403 naming the route; no token in answers or logs', async (t) => {
  const wrong = 'wrong-token-zyxw-5555-abcd';
  const { gw } = await gateway(path.join(dir, 'data-auth'), wrong);
  t.teardown(() => gw.close());
  const r = await get(gw, 'github.com/acme/lib/@v/list');
  t.equal(r.status, 403);
  t.match(r.text, /^VCS_AUTH_FAILED: route github\.com\/acme: git authentication failed/);
  t.match(r.text, /git\.credentials/);
  const z = await get(gw, 'github.com/acme/lib/@v/v1.0.0.zip');
  t.equal(z.status, 403);
  for (const secret of [wrong, TOKEN, encodeURIComponent(wrong)]) {
    t.notOk(r.text.includes(secret) || z.text.includes(secret), 'no secret in an answer');
    t.notOk(
      logs.some((l) => l.includes(secret)),
      'no secret in any log line',
    );
  }
  t.ok(logs.length > 0, 'the logs were captured');
});
