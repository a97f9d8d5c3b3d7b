import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from '../helpers/testdata.js';
import { runGo } from '../helpers/gocmd.js';

/** Starts `modgate demo`, runs the go commands it prints, and checks their outcomes. */
t.test('modgate demo works offline and its printed commands behave as announced', async (t) => {
  const dir = t.testdir();
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
  t.teardown(() => {
    child.kill('SIGINT');
  });
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
  for (const [, say, cmd] of commands) {
    const r = await runGo(cmd!.split(' ').slice(1), { cwd: work, env });
    if (/SECURITY ERROR|refused/i.test(say!)) {
      t.not(r.code, 0, say!);
      t.match(r.stdout + r.stderr, /SECURITY ERROR|VERSION_BANNED/, say!);
    } else {
      t.equal(r.code, 0, `${say}: ${r.stdout}${r.stderr}`);
    }
    if (/hidden/.test(say!)) t.equal(r.stdout.trim(), 'example.com/greet v1.0.0 v1.1.0', say!);
    if (/latest/.test(say!)) t.match(r.stderr, /example\.com\/greet v1\.1\.0/, say!);
  }
});
