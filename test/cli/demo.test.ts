import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from '../helpers/testdata.js';
import { runGo } from '../helpers/gocmd.js';
import { testdir } from '../helpers/testdir.js';
import { stopChild } from '../helpers/child.js';

/** Starts `modgate demo`, runs the go commands it prints, and checks their outcomes. */
t.test('modgate demo works offline and its printed commands behave as announced', async (t) => {
  const dir = testdir(t);
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, 'bin', 'modgate.js'), 'demo', '--dir', path.join(dir, 'demo')],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GOPROXY: 'off', GOSUMDB: 'off' },
    },
  );
  const text = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Press Ctrl-C to stop.')) resolve(out);
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`demo exited ${code}: ${out}`)));
  });
  t.teardown(() => stopChild(child, 'SIGINT'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    GOENV: 'off',
    GOTOOLCHAIN: 'local',
    GOCACHE: path.join(dir, 'gocache'),
  };
  for (const m of text.matchAll(/^export (\w+)=(.*)$/gm)) env[m[1]!] = m[2] === "''" ? '' : m[2];
  for (const k of ['GOPROXY', 'GOSUMDB', 'SSL_CERT_FILE', 'GOPATH']) t.ok(env[k], `prints ${k}`);
  const work = path.join(dir, 'work');
  await mkdir(work);
  await writeFile(path.join(work, 'go.mod'), 'module example.com/try\n\ngo 1.21\n');
  const commands = [...text.matchAll(/^# (.+)\n(go .+)$/gm)];
  t.ok(commands.length >= 2, 'prints go commands to try');
  t.ok(
    commands.some(([, say]) =>
      /private module, fetched by modgate from a local git repository/.test(say!),
    ),
    'a private module from git is among them',
  );
  for (const [, say, cmd] of commands) {
    const r = await runGo(cmd!.split(' ').slice(1), { cwd: work, env });
    if (/SECURITY ERROR|refused/i.test(say!)) {
      t.not(r.code, 0, say!);
      t.match(r.stdout + r.stderr, /SECURITY ERROR|VERSION_BANNED/, say!);
    } else {
      t.equal(r.code, 0, `${say}: ${r.stdout}${r.stderr}`);
    }
    if (/git repository/.test(say!)) {
      t.match(r.stdout, /"Version": "v1\.0\.0"/, say!);
      t.match(r.stdout, /"Sum": "h1:/, say!);
    }
    if (/hidden/.test(say!)) t.equal(r.stdout.trim(), 'example.com/greet v1.0.0 v1.1.0', say!);
    if (/latest/.test(say!)) t.match(r.stderr, /example\.com\/greet v1\.1\.0/, say!);
  }
});

/** Starts `modgate demo` with its own temp folder and waits for the ready line. */
async function startReadyDemo(
  tmp: string,
): Promise<{ child: ReturnType<typeof spawn>; dir: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'modgate.js'), 'demo'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GOPROXY: 'off', GOSUMDB: 'off', TMPDIR: tmp, MODGATE_CONFIG: '' },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const dir = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\(data in (\S+)\)/.exec(out);
      if (m && out.includes('Press Ctrl-C to stop.')) resolve(m[1]!);
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => reject(new Error(`demo exited ${code}: ${out}`)));
  });
  return { child, dir, exited };
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  t.test(`modgate demo removes its temp folder on ${signal} and exits 0`, async (t) => {
    const tmp = testdir(t);
    const demo = await startReadyDemo(tmp);
    t.ok(demo.dir.startsWith(path.join(tmp, 'modgate-demo-')), 'a temp folder under TMPDIR');
    t.ok(existsSync(path.join(demo.dir, 'data', 'audit')), 'the demo wrote into it');
    demo.child.kill(signal);
    t.equal(await demo.exited, 0, 'clean exit');
    t.notOk(existsSync(demo.dir), 'the folder is gone');
    t.same(
      (await readdir(tmp)).filter((n) => n.startsWith('modgate-demo-')),
      [],
      'nothing left behind',
    );
  });
}

t.test('modgate demo --dir keeps the given folder', async (t) => {
  const dir = path.join(testdir(t), 'kept');
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, 'bin', 'modgate.js'), 'demo', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GOPROXY: 'off', GOSUMDB: 'off' } },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Press Ctrl-C to stop.')) resolve();
    });
  });
  child.kill('SIGINT');
  t.equal(await exited, 0);
  t.ok(existsSync(path.join(dir, 'data', 'audit')), 'a folder the user named is theirs to keep');
});
