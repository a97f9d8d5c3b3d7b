/**
 * The go commands behind each GOPROXY request, and how their output becomes
 * an answer. The module path and version are checked with Go's own rules
 * before they reach a command line.
 */
import path from 'node:path';
import { ModgateError } from '../errors.js';
import { checkPath } from '../integrity/module.js';
import { canonicalVersion, type ProxyRequest } from '../goproxy/paths.js';
import type { Failure } from './errors.js';
import type { RunResult } from './run.js';

/** A run's answer: a small body, or a file in the run's folder (`run`, removed after use). */
export interface Answer {
  status: number;
  body?: Buffer;
  file?: string;
  run?: string;
}

/** A branch, tag, commit or version comparison, as `go get m@QUERY` takes it. */
const QUERY = /^[<>]?=?[A-Za-z0-9][A-Za-z0-9._+~/-]{0,127}$/;

/** Refuses a request that Go's rules do not allow (REQUEST_INVALID, 400). */
export function checkRequest(req: ProxyRequest): void {
  try {
    checkPath(req.module);
  } catch (err) {
    throw new ModgateError('REQUEST_INVALID', (err as Error).message);
  }
  if (req.kind === 'query') {
    if (!QUERY.test(req.query) || req.query.includes('..'))
      throw new ModgateError(
        'REQUEST_INVALID',
        `invalid version query ${JSON.stringify(req.query.slice(0, 80))}`,
      );
  } else if ('version' in req && canonicalVersion(req.version) !== req.version) {
    throw new ModgateError(
      'REQUEST_INVALID',
      `version ${JSON.stringify(req.version.slice(0, 80))} is not canonical`,
    );
  }
}

export function goArgs(req: ProxyRequest): string[] {
  switch (req.kind) {
    case 'list':
      return ['list', '-m', '-versions', '-retracted', '-json', req.module];
    case 'latest':
      return ['list', '-m', '-json', `${req.module}@latest`];
    case 'query':
      return ['list', '-m', '-json', `${req.module}@${req.query}`];
    case 'info':
    case 'mod':
      return ['list', '-m', '-json', `${req.module}@${req.version}`];
    case 'zip':
      return ['mod', 'download', '-modcacherw', '-json', `${req.module}@${req.version}`];
  }
}

interface GoModule {
  Path?: string;
  Version?: string;
  Versions?: unknown;
  Time?: string;
  GoMod?: string;
  Zip?: string;
  Error?: string | { Err?: string };
}

/** Turns a finished go command into an answer; throws what classify() says is an error. */
export async function readAnswer(
  req: ProxyRequest,
  res: RunResult,
  run: string,
  route: string,
  classify: (text: string) => Failure,
): Promise<Answer> {
  const out = parse(res.stdout);
  const error = typeof out?.Error === 'string' ? out.Error : out?.Error?.Err;
  if (res.code !== 0 || error || !out) {
    const f = classify(error || res.stderr || `go exited with status ${String(res.code)}`);
    if (f.kind === 'error') throw f.error;
    return { status: 404, body: Buffer.from(`not found: ${f.message}\n`) };
  }
  switch (req.kind) {
    case 'list': {
      const versions = Array.isArray(out.Versions) ? out.Versions : [];
      const ok = versions.filter(
        (v): v is string => typeof v === 'string' && canonicalVersion(v) === v,
      );
      return { status: 200, body: Buffer.from(ok.map((v) => `${v}\n`).join('')) };
    }
    case 'latest':
    case 'query':
    case 'info':
      if (typeof out.Version !== 'string') throw bad(route, req, 'no Version');
      return {
        status: 200,
        body: Buffer.from(
          JSON.stringify({ Version: out.Version, ...(out.Time ? { Time: out.Time } : {}) }),
        ),
      };
    case 'mod':
      return { status: 200, file: inside(run, out.GoMod, route, req), run };
    case 'zip':
      return { status: 200, file: inside(run, out.Zip, route, req), run };
  }
}

function parse(stdout: string): GoModule | undefined {
  if (stdout.trim() === '') return undefined;
  try {
    const v = JSON.parse(stdout) as unknown;
    return typeof v === 'object' && v !== null ? (v as GoModule) : undefined;
  } catch {
    return undefined;
  }
}

/** The go command's file, which must lie in the run's own module cache. */
function inside(run: string, file: string | undefined, route: string, req: ProxyRequest): string {
  if (typeof file !== 'string') throw bad(route, req, 'no file');
  const rel = path.relative(run, file);
  if (rel.startsWith('..') || path.isAbsolute(rel))
    throw bad(route, req, 'a file outside its module cache');
  return file;
}

function bad(route: string, req: ProxyRequest, what: string): ModgateError {
  return new ModgateError(
    'VCS_FAILED',
    `the go command answered ${req.module} ${req.kind} with ${what}`,
    {
      route: req.module,
    },
  );
}
