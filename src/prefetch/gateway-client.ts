/**
 * `modgate prefetch` speaks to a running gateway as any client does: through
 * its front door (authentication, verification, policy, the audit record),
 * each request marked `x-modgate-purpose: prefetch`. Each request has its own
 * deadline; network errors and 5xx answers that are not refusals are retried
 * (bounded, with backoff); every other answer is final.
 */
import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { PURPOSE_HEADER } from '../http/purpose.js';

export interface GatewayClientOptions {
  token?: string;
  /** PEM file of a CA to trust (the gateway's own), beside the system roots. */
  caFile?: string;
  deadlineMs: number;
  retries: number;
  /** Backoff base between attempts (doubled each time). */
  retryBaseMs?: number;
}

/** An answer read to its end by `sink` (200) or kept as text (anything else). */
export type Answer =
  | { ok: true; status: 200; bytes: number; result: unknown }
  | { ok: false; status?: number; code?: string; reason: string; transient: boolean };

/** Codes of a 5xx that are a refusal of the bytes (verification), not a passing failure. */
const TRANSIENT_5XX =
  /^(UPSTREAM_|SUMDB_UNAVAILABLE$|OVERLOADED$|SHUTTING_DOWN$|REQUEST_TIMEOUT$|STORAGE_UNAVAILABLE$|STATE_UNAVAILABLE$|AUDIT_UNAVAILABLE$|INTERNAL$)/;

/** Whether a non-200 answer may succeed when asked again. */
export function isTransient(status: number, code: string | undefined): boolean {
  if (status === 429 || status === 408) return true;
  if (status < 500) return false;
  return code === undefined || TRANSIENT_5XX.test(code);
}

/** The error code of a refusal: the x-modgate-error header, else the body's first `CODE:`. */
export function codeOf(header: string | string[] | undefined, body: string): string | undefined {
  if (typeof header === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(header)) return header;
  return /^([A-Z][A-Z0-9_]{1,63}):/m.exec(body)?.[1];
}

const MAX_REASON = 4096;

export class GatewayClient {
  private readonly dispatcher: Dispatcher;

  constructor(
    readonly base: string,
    private readonly o: GatewayClientOptions,
  ) {
    this.dispatcher = new Agent({
      ...(o.caFile ? { connect: { ca: readFileSync(o.caFile, 'utf8') } } : {}),
      connections: 32,
    });
  }

  /**
   * GETs `path`; a 200 body goes to `sink` (which returns the result, e.g. the
   * file written); anything else becomes a reason. Never throws for the
   * network: a failed attempt is an answer without a status.
   */
  async get<R>(path: string, sink: (body: AsyncIterable<Buffer>) => Promise<R>): Promise<Answer> {
    let last: Answer = { ok: false, reason: 'not asked', transient: true };
    for (let attempt = 0; attempt <= this.o.retries; attempt++) {
      if (attempt > 0) await pause((this.o.retryBaseMs ?? 200) * 2 ** (attempt - 1));
      last = await this.once(path, sink);
      if (last.ok || !last.transient) return last;
    }
    return last;
  }

  private async once<R>(
    path: string,
    sink: (body: AsyncIterable<Buffer>) => Promise<R>,
  ): Promise<Answer> {
    const signal = AbortSignal.timeout(this.o.deadlineMs);
    try {
      const res = await request(`${this.base}${path}`, {
        dispatcher: this.dispatcher,
        signal,
        headers: {
          [PURPOSE_HEADER]: 'prefetch',
          ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}),
        },
      });
      if (res.statusCode === 200) {
        let bytes = 0;
        const counted = (async function* () {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            bytes += chunk.length;
            yield chunk;
          }
        })();
        const result = await sink(counted);
        return { ok: true, status: 200, bytes, result };
      }
      const text = (await res.body.text().catch(() => '')).slice(0, MAX_REASON);
      const code = codeOf(res.headers['x-modgate-error'], text);
      return {
        ok: false,
        status: res.statusCode,
        ...(code ? { code } : {}),
        reason: text.trim() || `HTTP ${res.statusCode}`,
        transient: isTransient(res.statusCode, code),
      };
    } catch (err) {
      const e = err as Error & { code?: string };
      const why = signal.aborted
        ? `no complete answer within ${this.o.deadlineMs} ms`
        : `${e.code ? `${e.code}: ` : ''}${e.message}`;
      return { ok: false, reason: `${this.base} unreachable: ${why}`, transient: true };
    }
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
