/** Small shared pieces: times in the viewer's zone with exact UTC on hover, status lines. */
import type { ComponentChildren } from 'preact';

export function Time({ iso }: { iso: string | undefined | null }) {
  if (!iso) return <span>—</span>;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return <span>{iso}</span>;
  return (
    <time dateTime={iso} title={`${d.toISOString()} (UTC)`}>
      {d.toLocaleString()}
    </time>
  );
}

export function Status({
  error,
  children,
}: {
  error?: string | null;
  children?: ComponentChildren;
}) {
  if (error)
    return (
      <p class="error" role="alert">
        {error}
      </p>
    );
  return (
    <p class="status" role="status" aria-live="polite">
      {children}
    </p>
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="card" aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
