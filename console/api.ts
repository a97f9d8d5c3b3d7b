/** The console API client: every call carries the token the login form keeps in sessionStorage. */
const KEY = 'modgate.token';

export function token(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(t: string | null): void {
  if (t === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, t);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const t = token();
  const res = await fetch(`/console/api/${path}`, {
    ...init,
    headers: { ...(t ? { authorization: `Bearer ${t}` } : {}), accept: 'application/json' },
    credentials: 'omit',
  });
  if (!res.ok) throw new ApiError(res.status, (await res.text()).trim() || res.statusText);
  return res;
}

export async function getJson<T>(path: string, params: Record<string, string> = {}): Promise<T> {
  return (await call(withQuery(path, params))).json() as Promise<T>;
}

export async function postJson<T>(path: string): Promise<T> {
  return (await call(path, { method: 'POST' })).json() as Promise<T>;
}

export async function getText(path: string, params: Record<string, string> = {}): Promise<string> {
  return (await call(withQuery(path, params))).text();
}

export function withQuery(path: string, params: Record<string, string>): string {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== ''));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
