/**
 * The one error class of modgate. Every failure carries a stable string code
 * (documented in docs/errors.md). Only the HTTP layer (src/http/errors.ts)
 * maps codes to statuses; everything else just throws ModgateError.
 */
export class ModgateError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ModgateError';
    this.code = code;
    this.details = details;
  }

  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

export function isModgateError(err: unknown, code?: string): err is ModgateError {
  return err instanceof ModgateError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a ModgateError, keeping ModgateErrors as they are. */
export function asModgateError(err: unknown, fallbackCode = 'INTERNAL'): ModgateError {
  if (err instanceof ModgateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ModgateError(fallbackCode, message, {}, { cause: err });
}
