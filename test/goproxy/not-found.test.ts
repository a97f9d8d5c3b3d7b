import t from 'tap';
import { request } from 'undici';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { testdir } from '../helpers/testdir.js';

t.test('version not available upstream is recorded as not_found, not as a denial', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/here', 'v1.0.0')]);
  const audit = recordingAudit();
  const gw = await startTestGateway(testdir(t), { upstream: up.url }, { audit });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  const cases: Array<[string, string]> = [
    ['/example.com/here/@v/v9.9.9.zip', 'UPSTREAM_NOT_FOUND'],
    ['/example.com/here/@v/v9.9.9.info', 'UPSTREAM_NOT_FOUND'],
    ['/example.com/absent/@v/list', 'UPSTREAM_NOT_FOUND'],
  ];
  for (const [p, code] of cases) {
    const res = await request(gw.url + p);
    t.equal(res.statusCode, 404, p);
    await res.body.dump();
    const rec = audit.decisions.at(-1);
    t.equal(rec?.decision, 'not_found', `${p}: recorded as not_found`);
    t.same(rec?.codes, [code]);
  }
  up.misbehave('/v1.0.0.mod', { kind: 'status', status: 403 });
  const res = await request(`${gw.url}/example.com/here/@v/v1.0.0.mod`);
  await res.body.dump();
  t.equal(audit.decisions.at(-1)?.decision, 'not_found', 'an upstream 403 is not_found too');
  t.notOk(
    audit.decisions.some((d) => d.decision === 'deny'),
    'no policy denial was recorded',
  );
});
