/**
 * CI pre-flight with the vulnerability database: `modgate policy check`
 * over a go.mod reports affected requirements with ids and fixed versions,
 * shows waivers, exits 1 on a deny, and writes text, json and SARIF.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { modgate } from '../helpers/cli.js';
import { repoRoot, td } from '../helpers/testdata.js';
import { testdir } from '../helpers/testdir.js';

const gomod = `module example.com/app

go 1.22

require (
	golang.org/x/sync v0.10.0
	golang.org/x/text v0.3.0
)
`;

t.test('policy check reports vulnerable requirements (text, json, sarif)', async (t) => {
  const dir = testdir(t);
  const file = path.join(dir, 'go.mod');
  await writeFile(file, gomod);
  const db = td('vulndb', 'vulndb-v1-20261105.zip');
  const base = [
    'policy',
    'check',
    file,
    '--offline',
    '--vulndb',
    db,
    '--policy',
    path.join(repoRoot, 'policies'),
  ];

  const text = await modgate(base, { timeoutMs: 120_000 });
  t.equal(text.code, 1, 'a deny exits 1');
  t.match(text.stdout, /DENY\s+golang\.org\/x\/text v0\.3\.0/);
  t.match(text.stdout, /GO-2020-0015.*fixed in v0\.3\.3/);
  t.match(text.stdout, /ok\s+golang\.org\/x\/sync v0\.10\.0/);

  const json = await modgate([...base, '--format', 'json'], { timeoutMs: 120_000 });
  t.equal(json.code, 1);
  const j = JSON.parse(json.stdout) as {
    results: Array<{ module: string; vulns?: Array<{ id: string; fixed: string }> }>;
  };
  const textReq = j.results.find((r) => r.module === 'golang.org/x/text')!;
  t.ok(textReq.vulns?.some((v) => v.id === 'GO-2021-0113' && v.fixed === 'v0.3.7'));

  const s = await modgate([...base, '--format', 'sarif'], { timeoutMs: 120_000 });
  t.equal(s.code, 1);
  const sarif = JSON.parse(s.stdout) as {
    version: string;
    runs: Array<{
      results: Array<{
        ruleId: string;
        level: string;
        message: { text: string };
        locations: Array<{ physicalLocation: { region: { startLine: number } } }>;
      }>;
    }>;
  };
  t.equal(sarif.version, '2.1.0');
  const r = sarif.runs[0]!.results.find((x) => x.message.text.includes('GO-2022-1059'))!;
  t.equal(r.ruleId, 'VULNERABLE');
  t.equal(r.level, 'error');
  t.equal(r.locations[0]!.physicalLocation.region.startLine, 7, 'the requirement line of go.mod');

  t.equal(
    (await modgate([...base, '--format', 'xml'])).code !== 0,
    true,
    'an unknown format is a usage error',
  );
});

t.test('waivers are reported; all waived means exit 0', async (t) => {
  const dir = testdir(t);
  const file = path.join(dir, 'go.mod');
  await writeFile(file, gomod);
  const data = path.join(dir, 'data.yaml');
  await writeFile(
    data,
    YAML.stringify({
      vulnerabilities: {
        waivers: [
          'GO-2020-0015',
          'GO-2021-0113',
          'GO-2022-1059',
          'GO-2026-5970',
          'GO-2026-6629',
        ].map((id) => ({
          id,
          reason: 'text is only used in tests, SEC-7',
          expires: '2999-01-01T00:00:00Z',
        })),
      },
    }),
  );
  const res = await modgate(
    [
      'policy',
      'check',
      file,
      '--offline',
      '--vulndb',
      td('vulndb', 'vulndb-v1-20261105.zip'),
      '--policy',
      path.join(repoRoot, 'policies'),
      '--data',
      data,
    ],
    { timeoutMs: 120_000 },
  );
  t.equal(res.code, 0, res.stdout + res.stderr);
  t.match(res.stdout, /WARN\s+golang\.org\/x\/text v0\.3\.0/);
  t.match(
    res.stdout,
    /VULN_WAIVED: .*GO-2020-0015.*waived until 2999-01-01T00:00:00Z: text is only used in tests/,
  );
});
