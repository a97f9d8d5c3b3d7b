/** What the hits bench measures: the rows of the peers table and who is measured on each. */
import type { Load } from './load.js';

export type ServerId = 'modgate' | 'goproxy' | 'athens' | 'nginx' | 'modgate-noaudit';

export const COLUMNS: { id: ServerId; head: string }[] = [
  { id: 'modgate', head: 'modgate' },
  { id: 'goproxy', head: 'goproxy/goproxy' },
  { id: 'athens', head: 'Athens' },
  { id: 'nginx', head: 'nginx (static limit)' },
  { id: 'modgate-noaudit', head: 'modgate, audit off' },
];

export interface Row {
  id: string;
  /** How the artifact is named in the table. */
  what: string;
  kind: 'info' | 'mod' | 'zip';
  proto: 'http' | 'https';
  conns: number;
  servers: ServerId[];
  /** At least this many seconds per run (a slow server completes few 1 MiB zips in 3 s). */
  minSeconds?: number;
}

const ALL: ServerId[] = ['modgate', 'goproxy', 'athens', 'nginx'];
const TLS: ServerId[] = ['modgate', 'goproxy', 'nginx'];

export const ROWS: Row[] = [
  {
    id: 'info.http',
    what: '`.info`',
    kind: 'info',
    proto: 'http',
    conns: 50,
    servers: [...ALL, 'modgate-noaudit'],
  },
  {
    id: 'mod.http',
    what: '`.mod`',
    kind: 'mod',
    proto: 'http',
    conns: 50,
    servers: [...ALL, 'modgate-noaudit'],
  },
  {
    id: 'zip.http',
    what: '1 MiB `.zip`',
    kind: 'zip',
    proto: 'http',
    conns: 50,
    servers: ALL,
    minSeconds: 5,
  },
  { id: 'info.https', what: '`.info`', kind: 'info', proto: 'https', conns: 50, servers: TLS },
  {
    id: 'zip.https',
    what: '1 MiB `.zip`',
    kind: 'zip',
    proto: 'https',
    conns: 50,
    servers: TLS,
    minSeconds: 5,
  },
  {
    id: 'info.http.1',
    what: '`.info`',
    kind: 'info',
    proto: 'http',
    conns: 1,
    servers: ['modgate', 'modgate-noaudit', 'goproxy'],
  },
];

/** samples[rowId][server][round]; undefined where a run failed. */
export type Samples = Record<string, Partial<Record<ServerId, (Load | undefined)[]>>>;

export interface Measured {
  rounds: number;
  seconds: number;
  samples: Samples;
  /** Per round, median ms of one small append + fsync on the data disk. */
  fsync: number[];
  /** Why a server is absent, by server. */
  missing: Partial<Record<ServerId, string>>;
  about: Partial<Record<ServerId, string>>;
  generator: string;
  /** Failed runs and runs with errors, one line each. */
  problems: string[];
}

/** One figure of each run of a cell. */
export function series(m: Measured, row: string, s: ServerId, f: (l: Load) => number): number[] {
  return (m.samples[row]?.[s] ?? []).map((l) => (l ? f(l) : NaN));
}

export const rps = (l: Load): number => l.rps;
export const cpuPerReqUs = (l: Load): number => (l.cpu / l.requests) * 1e6;
export const perCore = (l: Load): number => (l.cpu > 0 ? l.requests / l.cpu : NaN);
export const coresUsed = (l: Load): number => l.cpu / l.seconds;
export const p50 = (l: Load): number => l.p50;
