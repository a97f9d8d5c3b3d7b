import type { ErrorCode } from './errors/codes.js';
import type { AnyDetails, DetailsParam, ErrorDetails } from './errors/details.js';

export * from './errors/codes.js';
export type {
  AnyDetails,
  DetailsByCode,
  DetailsParam,
  ErrorDetails,
  NoDetails,
} from './errors/details.js';

interface ErrorOptions {
  cause?: unknown;
}

/** The details are optional: an error may carry fewer than its code can. */
type ErrorArgs<C extends ErrorCode> = [details?: DetailsParam<C>, options?: ErrorOptions];

/**
 * The one error class of modgate. Every failure carries a stable code from
 * src/errors/codes.ts (documented in docs/errors.md) and the details that
 * code declares in src/errors/details.ts. Only the HTTP layer
 * (src/http/errors.ts) maps codes to statuses; everything else just throws.
 */
export class ModgateError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  /** Declared fields are typed; any other field reads as unknown. */
  readonly details: ErrorDetails<C> & AnyDetails;

  constructor(code: C, message: string, ...[details, options]: ErrorArgs<C>) {
    super(message, options);
    this.name = 'ModgateError';
    this.code = code;
    this.details = (details ?? {}) as ErrorDetails<C> & AnyDetails;
  }

  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

export function isModgateError<C extends ErrorCode = ErrorCode>(
  err: unknown,
  code?: C,
): err is ModgateError<C> {
  return err instanceof ModgateError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a ModgateError, keeping ModgateErrors as they are. */
export function asModgateError(err: unknown, fallbackCode: ErrorCode = 'INTERNAL'): ModgateError {
  if (err instanceof ModgateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ModgateError(fallbackCode, message, {}, { cause: err });
}
