/**
 * The real go command, pointed at modgate alone (no direct, GOVCS=*:off),
 * builds a program that imports two private modules served from git by a
 * vcs route and one public module from a test upstream.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { goEnv, runGo } from '../helpers/gocmd.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { startGitServer, TOKEN, USER } from '../vcs/git-server.js';
import { makeRepos } from '../vcs/fixtures.js';

t.setTimeout(900_000);

t.test('go build with two modules from git and one public, through modgate only', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-e2e-vcs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const server = await startGitServer(path.join(dir, 'git'));
  t.teardown(() => server.close());
  await makeRepos(server.root);
  process.env.GIT_CONFIG_GLOBAL = server.gitconfig;
  process.env.GIT_SSL_CAINFO = server.caFile;
  const up = await startFakeUpstream([
    await makeModule('example.com/pub', 'v1.0.0', {
      'go.mod': 'module example.com/pub\n\ngo 1.21\n',
      'x.go': 'package pub\n\nfunc Name() string { return "pub" }\n',
    }),
  ]);
  t.teardown(() => up.close());
  const audit = recordingAudit();
  const gw = await startTestGateway(
    path.join(dir, 'data'),
    {
      upstream: up.url,
      private: 'github.com/acme',
      routes: [
        {
          pattern: 'github.com/acme',
          source: 'vcs',
          git: {
            credentials: {
              type: 'token',
              host: new URL(server.url).host,
              username: USER,
              token: TOKEN,
            },
          },
        },
      ],
    },
    { audit },
  );
  t.teardown(() => gw.close());

  const app = path.join(dir, 'app');
  await mkdir(app);
  await writeFile(
    path.join(app, 'go.mod'),
    'module example.com/app\n\ngo 1.21\n\nrequire (\n\tgithub.com/acme/lib v1.2.0\n\tgithub.com/acme/multi/v2 v2.0.0\n\texample.com/pub v1.0.0\n)\n',
  );
  await writeFile(
    path.join(app, 'main.go'),
    [
      'package main',
      '',
      'import (',
      '\t"fmt"',
      '',
      '\t"example.com/pub"',
      '\t"github.com/acme/lib"',
      '\tmulti "github.com/acme/multi/v2"',
      ')',
      '',
      'func main() { fmt.Println(lib.Version, multi.Version, pub.Name()) }',
      '',
    ].join('\n'),
  );
  // modgate alone: no direct, no VCS on the client, no checksum database (modgate verifies).
  const env = await goEnv(path.join(dir, 'client'), {
    GOPROXY: gw.url,
    GOSUMDB: 'off',
    GOVCS: '*:off',
    GIT_CONFIG_GLOBAL: '/dev/null',
  });
  const tidy = await runGo(['mod', 'tidy'], { cwd: app, env, timeoutMs: 600_000 });
  t.equal(tidy.code, 0, tidy.stderr);
  const build = await runGo(['build', '-o', 'app', '.'], { cwd: app, env, timeoutMs: 600_000 });
  t.equal(build.code, 0, build.stderr);
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((res, rej) =>
    execFile(path.join(app, 'app'), (e, stdout) => (e ? rej(e) : res(stdout))),
  );
  t.equal(out, 'v1.2.0 v2.0.0 pub\n');
  const zips = audit.decisions.filter((d) => d.kind === 'zip' && d.decision === 'allow');
  t.same(zips.map((d) => `${d.module} ${d.upstream}`).sort(), [
    'example.com/pub ' + up.url,
    'github.com/acme/lib vcs:github.com/acme',
    'github.com/acme/multi/v2 vcs:github.com/acme',
  ]);
  t.ok(
    server.paths.some((p) => p.startsWith('/acme/lib')),
    'the git server was reached, by modgate',
  );
  t.notOk(
    [...up.hits.keys()].some((p) => p.includes('acme')),
    'no private name reached the public upstream',
  );
});
