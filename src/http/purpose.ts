/**
 * The purpose a client declares for its request (`x-modgate-purpose`), for
 * the audit record. Only known words are kept: the header is client input,
 * and the audit trail must not carry whatever a client writes into it.
 */
export const PURPOSE_HEADER = 'x-modgate-purpose';

export const PURPOSES = ['preflight', 'prefetch', 'import'] as const;
export type Purpose = (typeof PURPOSES)[number];

/** The declared purpose, or undefined when absent, repeated or unknown. */
export function purposeOf(
  headers: Record<string, string | string[] | undefined>,
): Purpose | undefined {
  const v = headers[PURPOSE_HEADER];
  if (typeof v !== 'string') return undefined;
  const word = v.trim().toLowerCase();
  return (PURPOSES as readonly string[]).includes(word) ? (word as Purpose) : undefined;
}
