/** Audit integrity: each chain's last checkpoints with signatures, and verify now with its progress. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, postJson } from './api.js';
import { message, Section, Status, Time } from './ui.js';

interface Checkpoint {
  seq: number;
  hash?: string;
  signatures: string[];
  valid: boolean;
  error?: string;
}
interface Verdict {
  replica: string;
  ok: boolean;
  records: number;
  checkpoints: number;
  unsigned: number;
  firstBad?: { seq: number; segment: string; line: number; reason: string };
  foreign: number;
}
interface Run {
  state: 'running' | 'done' | 'failed' | 'none';
  startedAt?: string;
  finishedAt?: string;
  progress?: number;
  records?: number;
  verdicts?: Verdict[];
  error?: string;
}
interface Data {
  chains: Array<{ replica: string; checkpoints: Checkpoint[] }>;
  verify: Run | null;
}

function verdictText(v: Verdict): string {
  if (!v.ok) return `BROKEN at record ${v.firstBad?.seq}: ${v.firstBad?.reason ?? ''}`;
  if (v.foreign) return `NOT VERIFIED: ${v.foreign} checkpoint(s) signed by another key`;
  if (v.checkpoints === 0 && v.records > 0)
    return `UNAUTHENTICATED: ${v.records} records, no signed checkpoint`;
  return `intact: ${v.records} records, ${v.checkpoints} signed checkpoints, ${v.unsigned} records after the last`;
}

export function Integrity() {
  const [data, setData] = useState<Data | null>(null);
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState<string | null>(null);
  const timer = useRef<number | undefined>(undefined);
  const poll = () => {
    getJson<Run>('integrity/verify').then(
      (r) => {
        setRun(r);
        if (r.state === 'running') timer.current = window.setTimeout(poll, 300);
      },
      (e) => setError(message(e)),
    );
  };
  useEffect(() => {
    getJson<Data>('integrity').then(
      (d) => {
        setData(d);
        setRun(d.verify);
        if (d.verify?.state === 'running') poll();
      },
      (e) => setError(message(e)),
    );
    return () => window.clearTimeout(timer.current);
  }, []);
  const start = () => {
    postJson<Run>('integrity/verify').then(
      (r) => {
        setRun(r);
        poll();
      },
      (e) => setError(message(e)),
    );
  };
  if (!data) return <Status error={error}>Loading the audit chains…</Status>;
  const pct = Math.round((run?.progress ?? 0) * 100);
  return (
    <>
      <h1>Audit integrity</h1>
      <Section title="Verify now">
        <p>
          Runs the same verification as modgate audit verify (hash chain, every checkpoint's
          signature) in the background.
        </p>
        <button type="button" onClick={start} disabled={run?.state === 'running'}>
          Verify now
        </button>
        {run && run.state !== 'none' ? (
          <div class="verify">
            <label for="verify-progress">Progress</label>
            <progress id="verify-progress" max={100} value={pct}>
              {pct} %
            </progress>
            <span data-testid="verify-state">{run.state}</span> {pct} %, {run.records ?? 0} records
            {run.finishedAt ? (
              <>
                {' '}
                (finished <Time iso={run.finishedAt} />)
              </>
            ) : null}
            {run.error ? <p class="error">{run.error}</p> : null}
            <ul>
              {(run.verdicts ?? []).map((v) => (
                <li data-verdict={v.ok ? 'ok' : 'broken'} class={v.ok ? 'ok' : 'bad'}>
                  {v.replica ? `${v.replica}: ` : ''}
                  {verdictText(v)}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
      </Section>
      {data.chains.map((c) => (
        <Section title={c.replica ? `Chain ${c.replica}` : 'Chain'}>
          {c.checkpoints.length === 0 ? <p>No signed checkpoint yet.</p> : null}
          <div class="wide">
            <table class="plain">
              <thead>
                <tr>
                  <th scope="col">Seq</th>
                  <th scope="col">Record hash</th>
                  <th scope="col">Signature</th>
                  <th scope="col">Valid</th>
                </tr>
              </thead>
              <tbody>
                {c.checkpoints.map((cp) => (
                  <tr>
                    <td>{cp.seq}</td>
                    <td class="mono break">{cp.hash ?? '—'}</td>
                    <td class="mono break">{cp.signatures.join('\n')}</td>
                    <td>{cp.valid ? 'yes' : `no: ${cp.error ?? ''}`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Section>
      ))}
    </>
  );
}
