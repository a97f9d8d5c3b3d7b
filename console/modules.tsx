/** Modules: the inventory of everything served, and one module's versions, refusals and evidence. */
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api.js';
import { message, Section, Status, Time } from './ui.js';

interface ModuleEntry {
  module: string;
  versions: number;
  firstSeen: string;
  lastSeen: string;
  clients: string[];
  requests: number;
  denied: number;
  license?: string;
  vulns: string[];
}
interface VersionEntry {
  version: string;
  allowed: number;
  denied: number;
  codes: string[];
  firstSeen: string;
  lastSeen: string;
  evidenceId?: string;
  h1?: string;
}

export function Modules() {
  const [data, setData] = useState<{ modules: ModuleEntry[]; truncated: boolean } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    getJson<{ modules: ModuleEntry[]; truncated: boolean }>('modules').then(setData, (e) =>
      setError(message(e)),
    );
  }, []);
  if (!data) return <Status error={error}>Loading the inventory…</Status>;
  return (
    <>
      <h1>Modules</h1>
      <Status>
        {data.modules.length} modules{data.truncated ? ' (the list is cut: narrow by time)' : ''}
      </Status>
      <div class="wide">
        <table class="plain">
          <thead>
            <tr>
              <th scope="col">Module</th>
              <th scope="col">Versions</th>
              <th scope="col">Requests</th>
              <th scope="col">Denied</th>
              <th scope="col">First download</th>
              <th scope="col">Last download</th>
              <th scope="col">Clients</th>
              <th scope="col">License</th>
              <th scope="col">Vulnerabilities</th>
            </tr>
          </thead>
          <tbody>
            {data.modules.map((m) => (
              <tr data-module={m.module}>
                <td class="mono">
                  <a href={`#/module/${encodeURIComponent(m.module)}`}>{m.module}</a>
                </td>
                <td>{m.versions}</td>
                <td>{m.requests}</td>
                <td>{m.denied}</td>
                <td>
                  <Time iso={m.firstSeen} />
                </td>
                <td>
                  <Time iso={m.lastSeen} />
                </td>
                <td>{m.clients.join(', ')}</td>
                <td>{m.license ?? '—'}</td>
                <td>{m.vulns.join(' ') || 'none recorded'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

export function Module({ path }: { path: string }) {
  const [versions, setVersions] = useState<VersionEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    getJson<{ versions: VersionEntry[] }>('module', { module: path }).then(
      (r) => setVersions(r.versions),
      (e) => setError(message(e)),
    );
  }, [path]);
  if (!versions) return <Status error={error}>Loading {path}…</Status>;
  return (
    <>
      <h1 class="mono">{path}</h1>
      <p>
        <a href="#/modules">All modules</a> ·{' '}
        <a href={`#/decisions?module=${encodeURIComponent(path)}&decision=deny`}>Its denials</a>
      </p>
      <Section title="Versions">
        <div class="wide">
          <table class="plain">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Allowed</th>
                <th scope="col">Denied</th>
                <th scope="col">Codes</th>
                <th scope="col">First</th>
                <th scope="col">Last</th>
                <th scope="col">Evidence</th>
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr data-version={v.version}>
                  <td class="mono">{v.version}</td>
                  <td>{v.allowed}</td>
                  <td>{v.denied}</td>
                  <td class="mono">{v.codes.join(' ') || '—'}</td>
                  <td>
                    <Time iso={v.firstSeen} />
                  </td>
                  <td>
                    <Time iso={v.lastSeen} />
                  </td>
                  <td class="mono">
                    {v.evidenceId ? (
                      <a href={`#/record/${encodeURIComponent(v.evidenceId)}`}>
                        {v.h1 ?? v.evidenceId}
                      </a>
                    ) : (
                      '—'
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
    </>
  );
}
