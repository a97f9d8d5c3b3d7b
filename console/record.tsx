/** One record with its evidence: h1, zip SHA-256, checksum-database tree size and root, record id, policy revision. */
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api.js';
import { message, Section, Status, Time } from './ui.js';

interface Rec {
  type: string;
  seq: number;
  time?: string;
  requestId?: string;
  client?: { id: string; method: string; address: string };
  kind?: string;
  module?: string;
  version?: string;
  decision?: string;
  codes?: string[];
  policyRevision?: string;
  dataRevision?: string;
  cache?: string;
  upstream?: string;
  replica?: string;
  evidence?: {
    h1?: string;
    zipSha256?: string;
    tofu?: boolean;
    sumdb?: { name: string; treeSize: number; rootHash: string; recordId: number };
    licenses?: { expression: string };
  };
}

function Item({ name, label, value }: { name: string; label: string; value: unknown }) {
  if (value === undefined || value === null || value === '') return null;
  return (
    <>
      <dt>{label}</dt>
      <dd data-field={name} class="mono">
        {String(value)}
      </dd>
    </>
  );
}

export function RecordPage({ id }: { id: string }) {
  const [rec, setRec] = useState<Rec | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setRec(null);
    getJson<{ record: Rec }>('record', { id }).then(
      (r) => setRec(r.record),
      (e) => setError(message(e)),
    );
  }, [id]);
  if (!rec) return <Status error={error}>Loading record {id}…</Status>;
  const ev = rec.evidence;
  return (
    <>
      <h1>
        Record <span class="mono">{id}</span>
      </h1>
      <p>
        <a href="#/decisions">Back to decisions</a>
        {rec.module ? (
          <>
            {' · '}
            <a href={`#/module/${encodeURIComponent(rec.module)}`}>Module {rec.module}</a>
          </>
        ) : null}
      </p>
      <Section title="Decision">
        <dl class="facts">
          <dt>Time</dt>
          <dd data-field="time">
            <Time iso={rec.time} />
          </dd>
          <Item name="module" label="Module" value={rec.module} />
          <Item name="version" label="Version" value={rec.version} />
          <Item name="kind" label="Kind" value={rec.kind} />
          <Item name="decision" label="Decision" value={rec.decision} />
          <Item name="codes" label="Codes" value={rec.codes?.join(' ')} />
          <Item
            name="client"
            label="Client"
            value={
              rec.client
                ? `${rec.client.id} (${rec.client.method}, ${rec.client.address})`
                : undefined
            }
          />
          <Item name="requestId" label="Request id" value={rec.requestId} />
          <Item name="policyRevision" label="Policy revision" value={rec.policyRevision} />
          <Item name="dataRevision" label="Data revision" value={rec.dataRevision} />
          <Item name="cache" label="Cache" value={rec.cache} />
          <Item name="upstream" label="Upstream" value={rec.upstream} />
          <Item name="seq" label="Seq" value={rec.seq} />
          <Item name="replica" label="Replica" value={rec.replica} />
        </dl>
      </Section>
      <Section title="Evidence">
        {ev ? (
          <dl class="facts">
            <Item name="h1" label="go.sum hash (h1)" value={ev.h1} />
            <Item name="zipSha256" label="Zip SHA-256" value={ev.zipSha256} />
            <Item name="sumdbName" label="Checksum database" value={ev.sumdb?.name} />
            <Item name="treeSize" label="Tree size" value={ev.sumdb?.treeSize} />
            <Item name="rootHash" label="Tree root" value={ev.sumdb?.rootHash} />
            <Item name="recordId" label="Record id in the database" value={ev.sumdb?.recordId} />
            <Item
              name="tofu"
              label="Trust on first use"
              value={ev.tofu === undefined ? undefined : String(ev.tofu)}
            />
            <Item name="license" label="License" value={ev.licenses?.expression} />
          </dl>
        ) : (
          <p>
            This record carries no evidence (a refusal before verification, or a metadata request).
          </p>
        )}
      </Section>
      <details>
        <summary>The record as stored</summary>
        <pre class="raw">{JSON.stringify(rec, null, 2)}</pre>
      </details>
    </>
  );
}
