import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import YAML from 'yaml';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { modgate } from '../helpers/cli.js';
import { hashToken } from '../../src/auth/tokens.js';
import { testdir } from '../helpers/testdir.js';

const token = 'mgt_audit-test-token-abcdefghijklmnopqrstuvwxyz0123';

t.test(
  'every decision is recorded with identity and evidence; the CLI verifies, queries, reports and exports',
  async (t) => {
    const up = await startFakeUpstream([
      await makeModule('example.com/lib', 'v1.0.0'),
      await makeModule('example.com/lib', 'v1.1.0'),
    ]);
    const dir = testdir(t);
    const dataFile = path.join(dir, 'policy.yaml');
    await writeFile(
      dataFile,
      YAML.stringify({
        banned: [{ module: 'example.com/lib', versions: 'v1.1.0', reason: 'test ban' }],
      }),
    );
    const cfg = {
      dataDir: path.join(dir, 'data'),
      upstream: up.url,
      policy: { dataFile },
      auth: {
        required: true,
        tokens: [{ id: 'builder-7', sha256: hashToken(token), groups: ['ci'] }],
      },
    };
    const gw = await startTestGateway(cfg.dataDir, cfg);
    const headers = { authorization: `Bearer ${token}` };
    t.equal(
      (await request(`${gw.url}/example.com/lib/@v/v1.0.0.zip`, { headers })).statusCode,
      200,
    );
    const denied = await request(`${gw.url}/example.com/lib/@v/v1.1.0.zip`, { headers });
    t.equal(denied.statusCode, 403);
    await denied.body.dump();
    await gw.close();
    await up.close();

    const configFile = path.join(dir, 'modgate.yaml');
    await writeFile(configFile, YAML.stringify({ dataDir: cfg.dataDir }));
    const verify = await modgate(['audit', 'verify', '--config', configFile]);
    t.equal(verify.code, 0, verify.stdout + verify.stderr);
    t.match(verify.stdout, /audit trail intact: \d+ records, [1-9]\d* signed checkpoints/);

    const q = await modgate([
      'audit',
      'query',
      '--config',
      configFile,
      '--decision',
      'deny',
      '--format',
      'json',
    ]);
    t.equal(q.code, 0, q.stderr);
    const rows = q.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    t.equal(rows.length, 1);
    t.match(rows[0], {
      type: 'decision',
      module: 'example.com/lib',
      version: 'v1.1.0',
      decision: 'deny',
      codes: ['VERSION_BANNED'],
      client: { id: 'builder-7', method: 'bearer', groups: ['ci'] },
    });

    const allowed = JSON.parse(
      (
        await modgate([
          'audit',
          'query',
          '--config',
          configFile,
          '--decision',
          'allow',
          '--module',
          'example.com/*',
          '--format',
          'json',
        ])
      ).stdout
        .trim()
        .split('\n')
        .find((l) => l.includes('"zip"'))!,
    );
    t.match(allowed.evidence, { h1: /^h1:/, zipSha256: /^[0-9a-f]{64}$/, tofu: true });

    const report = await modgate(['audit', 'report', '--config', configFile, '--format', 'json']);
    t.equal(report.code, 0, report.stderr);
    t.match(report.stdout, /VERSION_BANNED/);
    t.match(report.stdout, /example\.com\/lib/);

    const sbom = JSON.parse(
      (await modgate(['audit', 'export', '--config', configFile, '--format', 'cyclonedx'])).stdout,
    );
    t.equal(sbom.bomFormat, 'CycloneDX');
    t.equal(sbom.specVersion, '1.5');
    t.match(sbom.components, [{ purl: 'pkg:golang/example.com/lib@v1.0.0' }]);
    t.equal(sbom.components.length, 1, 'only served modules');
  },
);

t.test(
  'an unwritable audit trail makes module requests 503; nothing is served unrecorded',
  async (t) => {
    const up = await startFakeUpstream([await makeModule('example.com/lib', 'v1.0.0')]);
    const dir = testdir(t);
    await writeFile(path.join(dir, 'not-a-dir'), 'x');
    const gw = await startTestGateway(path.join(dir, 'data'), {
      upstream: up.url,
      audit: { dir: path.join(dir, 'not-a-dir', 'audit') },
    });
    t.teardown(async () => {
      await gw.close();
      await up.close();
    });
    for (const p of ['/example.com/lib/@v/list', '/example.com/lib/@v/v1.0.0.zip']) {
      const res = await request(gw.url + p);
      t.equal(res.statusCode, 503, p);
      t.match(await res.body.text(), /AUDIT_UNAVAILABLE/);
    }
    t.equal(up.count('v1.0.0.zip'), 0, 'not even fetched');
    const ready = await request(`${gw.url}/readyz`);
    t.equal(ready.statusCode, 503);
    await ready.body.dump();
  },
);
