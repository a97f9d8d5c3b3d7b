/**
 * The console's audit integrity: each chain's last checkpoints with their
 * signatures, and "verify now", the verification `modgate audit verify` runs
 * (verifyAudit per chain), in the background with its progress. One run at a
 * time: asking while one runs returns that run.
 */
import { readFile } from 'node:fs/promises';
import { listCheckpointFiles, openCheckpoint } from '../audit/checkpoint.js';
import type { Chain } from '../audit/chains.js';
import { verifyAudit, type BadSpot } from '../audit/verify.js';

const SHOWN_CHECKPOINTS = 5;

export interface CheckpointView {
  seq: number;
  hash?: string;
  /** The note's signature lines ("— <key name> <base64>"). */
  signatures: string[];
  valid: boolean;
  error?: string;
}

export async function lastCheckpoints(
  chain: Chain,
  verifierKey: string,
): Promise<CheckpointView[]> {
  const files = (await listCheckpointFiles(chain.dir)).slice(-SHOWN_CHECKPOINTS).reverse();
  return Promise.all(
    files.map(async (f) => {
      const note = await readFile(f.file);
      const signatures = note
        .toString('utf8')
        .split('\n')
        .filter((l) => l.startsWith('\u2014 '))
        .slice(0, 8);
      try {
        const body = openCheckpoint(note, verifierKey);
        return { seq: body.seq, hash: body.hash, signatures, valid: true };
      } catch (err) {
        return { seq: f.seq, signatures, valid: false, error: (err as Error).message };
      }
    }),
  );
}

export interface ChainVerdict {
  replica: string;
  ok: boolean;
  records: number;
  checkpoints: number;
  unsigned: number;
  head?: { seq: number; hash: string };
  firstBad?: BadSpot;
  foreign: number;
  warnings: string[];
}

export interface VerifyRun {
  id: number;
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  finishedAt?: string;
  chains: number;
  chainsDone: number;
  /** Segments of the chain being verified, and how many are done. */
  segments: number;
  segmentsDone: number;
  records: number;
  /** 0 to 1. */
  progress: number;
  verdicts: ChainVerdict[];
  error?: string;
}

export class VerifyJobs {
  private current: VerifyRun | undefined;
  private running: Promise<void> | undefined;
  private nextId = 1;

  constructor(
    private readonly chains: () => Promise<Chain[]>,
    private readonly verifierKey: string,
  ) {}

  get last(): VerifyRun | undefined {
    return this.current;
  }

  /** Starts a run unless one is running; returns the run either way. */
  start(): VerifyRun {
    if (this.current?.state === 'running') return this.current;
    const run: VerifyRun = {
      id: this.nextId++,
      state: 'running',
      startedAt: new Date().toISOString(),
      chains: 0,
      chainsDone: 0,
      segments: 0,
      segmentsDone: 0,
      records: 0,
      progress: 0,
      verdicts: [],
    };
    this.current = run;
    this.running = this.execute(run).catch((err: unknown) => {
      run.state = 'failed';
      run.error = (err as Error).message;
      run.finishedAt = new Date().toISOString();
    });
    return run;
  }

  /** Resolves when the run in progress, if any, has ended (for tests and close). */
  async settled(): Promise<void> {
    await this.running;
  }

  private async execute(run: VerifyRun): Promise<void> {
    const chains = await this.chains();
    run.chains = chains.length;
    let before = 0;
    for (const c of chains) {
      const r = await verifyAudit({
        dir: c.dir,
        verifierKey: this.verifierKey,
        ...(c.replica ? { replica: c.replica } : {}),
        onProgress: (p) => {
          run.segments = p.segments;
          run.segmentsDone = p.segmentsDone;
          run.records = before + p.records;
          const within = p.segments > 0 ? p.segmentsDone / p.segments : 0;
          run.progress = Math.min(1, (run.chainsDone + within) / Math.max(1, run.chains));
        },
      });
      before += r.records;
      run.records = before;
      run.chainsDone++;
      run.progress = run.chainsDone / run.chains;
      run.verdicts.push({
        replica: c.replica ?? '',
        ok: r.ok,
        records: r.records,
        checkpoints: r.checkpoints,
        unsigned: r.unsigned,
        ...(r.head ? { head: r.head } : {}),
        ...(r.firstBad ? { firstBad: r.firstBad } : {}),
        foreign: r.foreign.length,
        warnings: r.warnings.slice(0, 20),
      });
    }
    run.progress = 1;
    run.state = 'done';
    run.finishedAt = new Date().toISOString();
  }
}
