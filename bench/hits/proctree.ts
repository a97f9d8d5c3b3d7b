/** CPU seconds of a process and all of its descendants, from /proc (Linux). */
import { readdirSync, readFileSync } from 'node:fs';

// sysconf(_SC_CLK_TCK) is 100 on every Linux that Node supports.
const CLOCK_TICKS = 100;

interface Stat {
  ppid: number;
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone between the listing and the read
  }
  // The command name (field 2) may hold spaces and parentheses; fields are counted after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Field 4 is the parent; 14 and 15 are utime and stime (of every thread of the process).
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}

/** The pids of `root` and every live descendant (workers of nginx, cluster workers of modgate). */
export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) parent.set(Number(name), s.ppid);
  }
  const tree = new Set([root]);
  // Bounded: each pass adds at least one pid or stops.
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent)
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
  }
  return [...tree];
}

/** utime + stime of the tree rooted at `root`, in seconds. */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) ticks += readStat(pid)?.ticks ?? 0;
  return ticks / CLOCK_TICKS;
}
