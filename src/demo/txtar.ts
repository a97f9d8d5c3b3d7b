/** A txtar archive (cmd/go's test format): a comment, then "-- name --" sections. */
export interface Txtar {
  comment: string;
  files: Array<{ name: string; data: string }>;
}

export function parseTxtar(text: string): Txtar {
  const lines = text.split('\n');
  const files: Txtar['files'] = [];
  const comment: string[] = [];
  let cur: { name: string; lines: string[] } | null = null;
  const flush = (): void => {
    if (cur)
      files.push({ name: cur.name, data: cur.lines.length ? `${cur.lines.join('\n')}\n` : '' });
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^-- (.+) --$/.exec(line);
    if (m) {
      flush();
      cur = { name: m[1]!.trim(), lines: [] };
      continue;
    }
    if (i === lines.length - 1 && line === '') break;
    (cur ? cur.lines : comment).push(line);
  }
  flush();
  return { comment: comment.length ? `${comment.join('\n')}\n` : '', files };
}
