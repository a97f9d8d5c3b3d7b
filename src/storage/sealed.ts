/**
 * Authentication of stored state (cached evidence, the TOFU ledger) with the
 * gateway's own key, so that a record edited on disk is detected rather than
 * trusted. The key is created once, atomically, at first start.
 *
 * Error codes:
 * | code              | meaning                                                   |
 * |-------------------|-----------------------------------------------------------|
 * | STATE_KEY_INVALID | the state key file exists but is not a 32-byte hex key    |
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModgateError } from '../errors.js';
import { createFileExclusive } from './atomic.js';

const KEY_HEX = /^[0-9a-f]{64}$/;
const VERSION = 1;

interface Envelope {
  v: number;
  body: string;
  mac: string;
}

export class StateSealer {
  private constructor(private readonly key: Buffer) {}

  /** A sealer with a given key (tests, tools). */
  static fromKey(key: Buffer): StateSealer {
    if (key.length !== 32)
      throw new ModgateError('STATE_KEY_INVALID', 'the state key must be 32 bytes');
    return new StateSealer(Buffer.from(key));
  }

  /** Loads `file` (e.g. data/keys/state.key), creating it with mode 0600 when absent. */
  static async loadOrCreate(file: string): Promise<StateSealer> {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      await createFileExclusive(file, `${randomBytes(32).toString('hex')}\n`, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const text = (await readFile(file, 'utf8')).trim();
    if (!KEY_HEX.test(text)) {
      throw new ModgateError(
        'STATE_KEY_INVALID',
        `${file} is not a state key (64 hex digits); restore it from backup, or remove it to re-key (cached evidence is then fetched again, and the TOFU ledger must be re-established)`,
        { file },
      );
    }
    return new StateSealer(Buffer.from(text, 'hex'));
  }

  /**
   * Seals `body` for `purpose` and `name` (the record's storage key), so that a
   * record moved to another name or purpose no longer opens.
   */
  seal(purpose: string, name: string, body: string): string {
    const env: Envelope = { v: VERSION, body, mac: this.mac(purpose, name, body) };
    return JSON.stringify(env);
  }

  /** The sealed body, or null when the record is malformed or its MAC does not match. */
  open(purpose: string, name: string, raw: Buffer | string): string | null {
    let env: Partial<Envelope>;
    try {
      env = JSON.parse(raw.toString()) as Partial<Envelope>;
    } catch {
      return null;
    }
    if (!env || env.v !== VERSION || typeof env.body !== 'string' || typeof env.mac !== 'string')
      return null;
    const want = Buffer.from(this.mac(purpose, name, env.body), 'hex');
    const got = Buffer.from(env.mac, 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
    return env.body;
  }

  private mac(purpose: string, name: string, body: string): string {
    return createHmac('sha256', this.key)
      .update(`modgate-state-v${VERSION}\0${purpose}\0${name}\0`)
      .update(body)
      .digest('hex');
  }
}
