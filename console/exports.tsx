/** Exports: a CycloneDX SBOM and CSV for the current filter, built by the same code as the CLI. */
import { useState } from 'preact/hooks';
import { getText } from './api.js';
import { clean, savedFilter } from './filter.js';
import { message, Section, Status } from './ui.js';

function save(text: string, type: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function Exports() {
  const f = clean(savedFilter());
  const { kind: _kind, ...csvFilter } = f;
  const sbomFilter = Object.fromEntries(
    Object.entries(f).filter(([k]) => k === 'since' || k === 'until'),
  );
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = async (what: 'sbom' | 'csv') => {
    setError(null);
    setStatus('Exporting…');
    try {
      if (what === 'sbom') {
        const text = await getText('export/sbom', sbomFilter);
        const n = (JSON.parse(text) as { components: unknown[] }).components.length;
        save(text, 'application/vnd.cyclonedx+json', 'modgate-sbom.cdx.json');
        setStatus(`SBOM with ${n} components saved.`);
      } else {
        const text = await getText('export/csv', csvFilter);
        save(text, 'text/csv', 'modgate-audit.csv');
        setStatus(`CSV with ${text.split('\r\n').length - 2} records saved.`);
      }
    } catch (err) {
      setStatus(null);
      setError(message(err));
    }
  };
  const show = (o: Record<string, string>) =>
    Object.keys(o).length
      ? Object.entries(o)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')
      : 'everything';
  return (
    <>
      <h1>Exports</h1>
      <p>
        The filter comes from the Decisions page. The files equal those of the CLI for the same
        filter.
      </p>
      <div class="grid">
        <Section title="CycloneDX SBOM">
          <p>
            Modules served (allowed or warned) in the period:{' '}
            <span class="mono">{show(sbomFilter)}</span>. Same as modgate audit export.
          </p>
          <button type="button" onClick={() => void run('sbom')}>
            Download SBOM
          </button>
        </Section>
        <Section title="CSV">
          <p>
            Every matching record: <span class="mono">{show(csvFilter)}</span>. Same as modgate
            audit query --format csv.
          </p>
          <button type="button" onClick={() => void run('csv')}>
            Download CSV
          </button>
        </Section>
      </div>
      <Status error={error}>{status}</Status>
    </>
  );
}
