/** The console's shell: login, navigation and the hash router (#/page/arg). */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { ApiError, getJson, setToken, token } from './api.js';
import { Decisions } from './decisions.js';
import { Exports } from './exports.js';
import { Integrity } from './integrity.js';
import { Module, Modules } from './modules.js';
import { Overview } from './overview.js';
import { RecordPage } from './record.js';
import { message, Status } from './ui.js';

const PAGES = [
  ['overview', 'Overview'],
  ['decisions', 'Decisions'],
  ['modules', 'Modules'],
  ['integrity', 'Audit integrity'],
  ['exports', 'Exports'],
] as const;

interface Me {
  id: string;
  roles: string[];
}

function route(): { page: string; arg: string; query: URLSearchParams } {
  const h = location.hash.replace(/^#\/?/, '');
  const [pathPart = '', q = ''] = h.split('?', 2);
  const [page = 'overview', ...rest] = pathPart.split('/');
  return {
    page: page || 'overview',
    arg: decodeURIComponent(rest.join('/')),
    query: new URLSearchParams(q),
  };
}

function Login({ onLogin }: { onLogin: (me: Me) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setToken(value.trim());
    try {
      onLogin(await getJson<Me>('whoami'));
    } catch (err) {
      setToken(null);
      setError(
        err instanceof ApiError && err.status === 401 ? 'That token is not valid.' : message(err),
      );
    }
  };
  return (
    <main class="login">
      <h1>modgate console</h1>
      <form onSubmit={submit}>
        <label for="token">Access token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          required
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Sign in</button>
      </form>
      <Status error={error}>
        The token needs the auditor or admin role. It is kept for this tab only.
      </Status>
    </main>
  );
}

function Page({ r }: { r: ReturnType<typeof route> }) {
  switch (r.page) {
    case 'decisions':
      return <Decisions query={r.query} />;
    case 'record':
      return <RecordPage id={r.arg} />;
    case 'modules':
      return <Modules />;
    case 'module':
      return <Module path={r.arg} />;
    case 'integrity':
      return <Integrity />;
    case 'exports':
      return <Exports />;
    default:
      return <Overview />;
  }
}

function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [checked, setChecked] = useState(false);
  const [r, setR] = useState(route());
  useEffect(() => {
    const on = () => setR(route());
    addEventListener('hashchange', on);
    if (token())
      getJson<Me>('whoami')
        .then(setMe, () => setToken(null))
        .finally(() => setChecked(true));
    else setChecked(true);
    return () => removeEventListener('hashchange', on);
  }, []);
  if (!checked) return <p class="boot">Loading the console…</p>;
  if (!me) return <Login onLogin={setMe} />;
  const current = r.page === 'record' ? 'decisions' : r.page === 'module' ? 'modules' : r.page;
  return (
    <>
      <header class="top">
        <span class="brand">modgate</span>
        <nav aria-label="Console pages">
          {PAGES.map(([p, label]) => (
            <a href={`#/${p}`} aria-current={current === p ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who">
          {me.id} ({me.roles.join(', ')}){' '}
          <button
            type="button"
            class="link"
            onClick={() => {
              setToken(null);
              setMe(null);
            }}
          >
            Sign out
          </button>
        </span>
      </header>
      <main id="main">
        <Page r={r} />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
