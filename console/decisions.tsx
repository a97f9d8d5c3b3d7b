/**
 * Decisions: the filter of `modgate audit query` and a virtualised table. Pages
 * of 200 rows are fetched with the API's cursor until 10,000 rows are held;
 * only the rows in view (and a few around) are in the DOM.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson } from './api.js';
import { clean, FILTER_FIELDS, savedFilter, saveFilter, type Filter } from './filter.js';
import { message, Status, Time } from './ui.js';

export interface Row {
  id: string;
  time: string;
  kind: string;
  client: string;
  module: string;
  version: string;
  decision: string;
  codes: string;
}
const ROW_HEIGHT = 34;
const OVERSCAN = 8;
export const MAX_ROWS = 10_000;
const PAGE = 200;

const LABELS: Record<string, string> = {
  module: 'Module (glob)',
  version: 'Version',
  kind: 'Kind',
  client: 'Client',
  decision: 'Decision',
  code: 'Code',
  since: 'Since (ISO or 24h)',
  until: 'Until (ISO or 1h)',
};
const CHOICES: Record<string, string[]> = {
  kind: ['', 'info', 'mod', 'zip', 'list', 'latest', 'query'],
  decision: ['', 'allow', 'warn', 'deny', 'not_found'],
};

function Field({ name, value, set }: { name: string; value: string; set: (v: string) => void }) {
  const id = `f-${name}`;
  const choices = CHOICES[name];
  return (
    <div class="field">
      <label for={id}>{LABELS[name]}</label>
      {choices ? (
        <select
          id={id}
          name={name}
          value={value}
          onChange={(e) => set((e.target as HTMLSelectElement).value)}
        >
          {choices.map((c) => (
            <option value={c}>{c || 'any'}</option>
          ))}
        </select>
      ) : (
        <input
          id={id}
          name={name}
          value={value}
          onInput={(e) => set((e.target as HTMLInputElement).value)}
        />
      )}
    </div>
  );
}

function Table({ rows }: { rows: Row[] }) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const r = new ResizeObserver(() => setHeight(el.clientHeight));
    r.observe(el);
    return () => r.disconnect();
  }, []);
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
  return (
    <div
      class="scroller"
      ref={box}
      tabIndex={0}
      aria-label="Decision records"
      onScroll={(e) => setTop((e.target as HTMLDivElement).scrollTop)}
    >
      <table class="rows" aria-rowcount={rows.length + 1}>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Module</th>
            <th scope="col">Version</th>
            <th scope="col">Kind</th>
            <th scope="col">Client</th>
            <th scope="col">Decision</th>
            <th scope="col">Codes</th>
          </tr>
        </thead>
        <tbody>
          <tr class="spacer" style={{ height: `${first * ROW_HEIGHT}px` }} aria-hidden="true" />
          {rows.slice(first, last).map((r, i) => (
            <tr key={r.id} aria-rowindex={first + i + 2} data-id={r.id} class={`d-${r.decision}`}>
              <td>
                <a href={`#/record/${encodeURIComponent(r.id)}`}>
                  <Time iso={r.time} />
                </a>
              </td>
              <td class="mono">{r.module}</td>
              <td class="mono">{r.version}</td>
              <td>{r.kind}</td>
              <td>{r.client}</td>
              <td>{r.decision}</td>
              <td class="mono">{r.codes}</td>
            </tr>
          ))}
          <tr
            class="spacer"
            style={{ height: `${(rows.length - last) * ROW_HEIGHT}px` }}
            aria-hidden="true"
          />
        </tbody>
      </table>
    </div>
  );
}

export function Decisions({ query }: { query: URLSearchParams }) {
  const initial: Filter = { ...savedFilter() };
  for (const k of FILTER_FIELDS) if (query.has(k)) initial[k] = query.get(k) ?? '';
  const [filter, setFilter] = useState<Filter>(initial);
  const [rows, setRows] = useState<Row[]>([]);
  const [state, setState] = useState<{ loading: boolean; more: boolean; error: string | null }>({
    loading: false,
    more: false,
    error: null,
  });
  const run = useRef(0);

  const load = async (f: Filter) => {
    const mine = ++run.current;
    saveFilter(f);
    setRows([]);
    setState({ loading: true, more: false, error: null });
    let all: Row[] = [];
    let cursor: string | undefined;
    try {
      do {
        const page = await getJson<{ rows: Row[]; next?: string }>('decisions', {
          ...clean(f),
          limit: String(PAGE),
          ...(cursor ? { cursor } : {}),
        });
        if (mine !== run.current) return;
        all = all.concat(page.rows);
        cursor = page.next;
        setRows(all);
      } while (cursor && all.length < MAX_ROWS);
      setState({ loading: false, more: Boolean(cursor), error: null });
    } catch (err) {
      if (mine === run.current) setState({ loading: false, more: false, error: message(err) });
    }
  };
  useEffect(() => void load(initial), []);

  return (
    <>
      <h1>Decisions</h1>
      <form
        class="filters"
        aria-label="Filter decisions"
        onSubmit={(e) => {
          e.preventDefault();
          void load(filter);
        }}
      >
        {FILTER_FIELDS.map((k) => (
          <Field name={k} value={filter[k] ?? ''} set={(v) => setFilter({ ...filter, [k]: v })} />
        ))}
        <div class="actions">
          <button type="submit">Apply</button>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setFilter({});
              void load({});
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <Status error={state.error}>
        <span data-testid="row-count">{rows.length}</span> records
        {state.loading
          ? ' (loading…)'
          : state.more
            ? ` (the first ${MAX_ROWS}; narrow the filter for more)`
            : ''}
      </Status>
      <Table rows={rows} />
    </>
  );
}
