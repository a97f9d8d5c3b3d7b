import { readFile, writeFile, readdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { loadConfig } from '../src/config/load.js';
import type { ModgateConfig } from '../src/config/types.js';
import { startFakeUpstream } from './helpers/fake-upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { testdir } from './helpers/testdir.js';

/* The deployment examples in deploy/ hold modgate configs and the references around them:
 * each config must pass modgate's own loader (what `modgate config check` and serve use),
 * and the compose file, the HAProxy config and the Kubernetes manifests must agree. */

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const root = path.resolve(import.meta.dirname, '..');
const deploy = path.join(root, 'deploy');

async function yamlDocs(file: string): Promise<Obj[]> {
  const text = await readFile(file, 'utf8');
  return YAML.parseAllDocuments(text, { merge: true }).map((d) => {
    t.same(d.errors, [], `${file} parses`);
    return d.toJS() as Obj;
  });
}

async function loadFrom(file: string, env: NodeJS.ProcessEnv): Promise<ModgateConfig> {
  return loadConfig({ file, env, goEnv: async () => undefined });
}

const compose = (await yamlDocs(path.join(deploy, 'compose.yaml')))[0]!;
const gateways = Object.entries(compose.services as Obj).filter(([, s]) =>
  JSON.stringify(s.command ?? []).includes('bin/modgate.js'),
);
const manifests = (
  await Promise.all(
    (await readdir(path.join(deploy, 'kubernetes')))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => yamlDocs(path.join(deploy, 'kubernetes', f))),
  )
).flat();
const kind = (k: string): Obj[] => manifests.filter((m) => m.kind === k);
const deployment = kind('Deployment')[0]!;
const pod = deployment.spec.template.spec as Obj;
const container = (pod.containers as Obj[]).find((c) => c.name === 'modgate')!;
const configMap = kind('ConfigMap').find((c) => c.data?.['modgate.yaml'])!;

t.test('compose: three replicas with distinct names, each config valid', async (t) => {
  t.equal(gateways.length, 3, 'three modgate replicas');
  const ids = new Set<string>();
  for (const [name, svc] of gateways) {
    const env: Obj = { ...(svc.environment as Obj), GOPROXY: 'https://mirror.example' };
    ids.add(String(env.MODGATE_CLUSTER__REPLICA_ID));
    t.equal(env.MODGATE_CLUSTER__REPLICA_ID, name, `${name} names itself`);
    const mount = (svc.configs as Obj[]).find((c) => c.source === 'modgate')!;
    t.equal(compose.configs[mount.source].file, './modgate.yaml');
    t.match(svc.command, ['node', 'bin/modgate.js', 'serve', '--config', mount.target]);
    const config = await loadFrom(path.join(deploy, 'modgate.yaml'), env);
    t.equal(config.cluster.replicaId, name);
    t.equal(config.storage.kind, 's3');
    t.equal(config.state.kind, 'postgres');
    t.equal(config.audit.store, 'postgres');
    t.equal(config.upstream, 'https://mirror.example', 'the upstream comes from GOPROXY');
    t.equal(config.auth.required, true);
  }
  t.equal(ids.size, 3, 'replica ids are unique (one lease holder and audit chain each)');
});

t.test('compose: engines, secrets and the load balancer are wired', async (t) => {
  const config = await loadFrom(path.join(deploy, 'modgate.yaml'), {
    GOPROXY: 'https://m.example',
  });
  const services = Object.keys(compose.services as Obj);
  t.ok(
    services.includes(new URL(config.storage.s3!.endpoint!).hostname),
    'S3 endpoint is a service',
  );
  t.ok(services.includes(new URL(config.state.postgres!.url!).hostname), 'database is a service');
  const declared = Object.keys(compose.secrets as Obj);
  for (const [name, svc] of [...gateways, ['postgres', compose.services.postgres]] as [
    string,
    Obj,
  ][]) {
    for (const s of svc.secrets as (string | Obj)[]) {
      const source = typeof s === 'string' ? s : s.source;
      t.ok(declared.includes(source), `${name}: secret ${source} is declared`);
    }
  }
  // Every file the config reads under /run/secrets is a secret mounted on every replica.
  const files = [
    config.tls.certFile,
    config.tls.keyFile,
    config.audit.keyFile,
    config.state.postgres!.passwordFile,
  ];
  for (const file of files) {
    t.match(file, /^\/run\/secrets\//);
    for (const [name, svc] of gateways) {
      const mounted = (svc.secrets as Obj[]).map((s) => s.target ?? `/run/secrets/${s.source}`);
      t.ok(mounted.includes(file), `${name} mounts ${file}`);
    }
  }
  for (const [name, svc] of gateways) {
    const mounted = (svc.secrets as Obj[]).map((s) => s.target);
    t.ok(mounted.includes(`${config.dataDir}/keys/state.key`), `${name} shares the state key`);
    t.equal(svc.environment.AWS_SHARED_CREDENTIALS_FILE, '/run/secrets/aws-credentials');
  }
  const haproxy = await readFile(path.join(deploy, 'haproxy', 'haproxy.cfg'), 'utf8');
  const lb = compose.services.lb as Obj;
  t.ok(
    (lb.volumes as string[]).some((v) => v.startsWith('./haproxy/haproxy.cfg:')),
    'the load balancer mounts haproxy.cfg',
  );
  const servers = [...haproxy.matchAll(/^\s*server (\S+) (\S+):(\d+)/gm)];
  t.same(
    servers.map((m) => m[2]).sort(),
    gateways.map(([n]) => n).sort(),
    'HAProxy balances exactly the replicas',
  );
  const port = config.listen.split(':').pop();
  for (const m of servers) t.equal(m[3], port, `${m[1]} on modgate's port`);
  t.match(haproxy, /^\s*mode tcp/m, 'TLS passes through');
  t.match(haproxy, /uri \/readyz /, 'health check on /readyz');
});

t.test('kubernetes: the ConfigMap holds a valid config', async (t) => {
  const file = path.join(testdir(t), 'modgate.yaml');
  await writeFile(file, configMap.data['modgate.yaml']);
  const config = await loadFrom(file, {
    GOPROXY: configMap.data.GOPROXY,
    MODGATE_CLUSTER__REPLICA_ID: 'modgate-7d9c-abcde',
  });
  t.equal(config.storage.kind, 's3');
  t.equal(config.state.kind, 'postgres');
  t.equal(config.audit.store, 'postgres');
  t.equal(config.cluster.replicaId, 'modgate-7d9c-abcde');
  // The files it reads come from the keys volume, whose entries the Secret holds.
  const keysMount = (container.volumeMounts as Obj[]).find((m) => m.name === 'keys')!;
  const secretVolume = (pod.volumes as Obj[]).find((v) => v.name === 'secret-keys')!;
  const secret = kind('Secret').find((s) => s.metadata.name === secretVolume.secret.secretName)!;
  t.ok(secret, 'the keys Secret exists');
  const files = [
    config.tls.certFile,
    config.tls.keyFile,
    config.audit.keyFile!,
    config.state.postgres!.passwordFile!,
    new URL(config.state.postgres!.url!).searchParams.get('sslrootcert')!,
  ];
  for (const f of files) {
    t.equal(path.dirname(f), keysMount.mountPath, `${f} is on the keys volume`);
    t.ok(path.basename(f) in secret.stringData, `${path.basename(f)} is a key of the Secret`);
  }
  t.ok('state.key' in secret.stringData, 'the shared state key is a Secret');
  const init = (pod.initContainers as Obj[])[0]!;
  t.match(
    init.command.join(' '),
    `${config.dataDir}/keys/state.key`,
    'state key copied into dataDir',
  );
});

t.test('kubernetes: names and selectors agree', async (t) => {
  const labels = deployment.spec.template.metadata.labels as Obj;
  t.same(deployment.spec.selector.matchLabels, labels);
  t.equal(deployment.spec.replicas, 3);
  const pdb = kind('PodDisruptionBudget')[0]!;
  t.same(pdb.spec.selector.matchLabels, labels, 'PDB selects the pods');
  t.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < deployment.spec.replicas);
  const svc = kind('Service')[0]!;
  t.same(svc.spec.selector, labels, 'Service selects the pods');
  const portNames = (container.ports as Obj[]).map((p) => p.name);
  for (const p of svc.spec.ports as Obj[]) t.ok(portNames.includes(p.targetPort));
  t.ok(kind('ServiceAccount').some((a) => a.metadata.name === pod.serviceAccountName));
  const secretKeys = new Map(
    kind('Secret').map((s) => [s.metadata.name, Object.keys(s.stringData ?? s.data ?? {})]),
  );
  const cmKeys = new Map(kind('ConfigMap').map((c) => [c.metadata.name, Object.keys(c.data)]));
  for (const e of container.env as Obj[]) {
    const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
    if (!ref) continue;
    const keys = (e.valueFrom.secretKeyRef ? secretKeys : cmKeys).get(ref.name);
    t.ok(keys?.includes(ref.key), `${e.name}: ${ref.name}/${ref.key} exists`);
  }
  for (const v of pod.volumes as Obj[]) {
    if (v.secret) {
      t.ok(secretKeys.has(v.secret.secretName), `volume ${v.name}: Secret ${v.secret.secretName}`);
      for (const i of v.secret.items ?? [])
        t.ok(secretKeys.get(v.secret.secretName)!.includes(i.key));
    }
    if (v.configMap) t.ok(cmKeys.has(v.configMap.name), `volume ${v.name}: ConfigMap exists`);
  }
  const mounted = new Set((container.volumeMounts as Obj[]).map((m) => m.name));
  for (const v of pod.volumes as Obj[]) {
    const inInit = (pod.initContainers as Obj[]).some((c) =>
      (c.volumeMounts as Obj[]).some((m) => m.name === v.name),
    );
    t.ok(mounted.has(v.name) || inInit, `volume ${v.name} is used`);
  }
  const probeMount = (container.volumeMounts as Obj[]).find((m) => m.name === 'probe')!;
  t.match(container.readinessProbe.exec.command.join(' '), `${probeMount.mountPath}/probe-token`);
});

t.test('probe paths exist in the app and answer as the probes expect', async (t) => {
  const probes = [
    container.livenessProbe.httpGet.path,
    container.startupProbe.httpGet.path,
    /https:\/\/127\.0\.0\.1:8443(\/\w+)/.exec(container.readinessProbe.exec.command.join(' '))![1],
  ];
  t.same(probes, ['/healthz', '/healthz', '/readyz']);
  t.equal(container.livenessProbe.httpGet.port, 'https');
  const up = await startFakeUpstream([]);
  t.teardown(() => up.close());
  const token = 'probe-token-value';
  const sha256 = createHash('sha256').update(token).digest('hex');
  const gw = await startTestGateway(testdir(t), {
    upstream: up.url,
    auth: { required: true, tokens: [{ id: 'lb-probe', sha256 }] },
  });
  t.teardown(() => gw.close());
  const live = await fetch(`${gw.url}/healthz`);
  t.equal(live.status, 200, 'liveness needs no token');
  const anonymous = await fetch(`${gw.url}/readyz`);
  t.equal(anonymous.status, 401, 'readiness without the token is refused, hence the exec probe');
  const ready = await fetch(`${gw.url}/readyz`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(ready.status, 200, 'readiness with the probe token');
});
