/**
 * The licenses of a requirement for `modgate policy check`: its zip is
 * downloaded from the facts source (a modgate, or the upstream serve would
 * use), verified as the gateway verifies it, and only then scanned. Verified
 * means: the go command's zip rules (verifyModuleZip), and an h1 hash that
 * matches every known expected hash, of which there must be at least one:
 * the go.sum line, the checksum database (without a gateway, for public
 * modules), or the gateway itself, which serves only bytes it verified.
 * Unverified bytes are never scanned.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { asModgateError } from '../errors.js';
import type { LicenseFacts } from '../contracts.js';
import { expectedHash } from '../integrity/checksums.js';
import { escapePath, escapeVersion } from '../integrity/module.js';
import { verifyModuleZip } from '../integrity/zip.js';
import { scanZipLicenses } from '../license/scan.js';
import { spool } from '../goproxy/spool.js';
import type { GatewayFacts } from './facts-client.js';

export interface ZipLicenseResult {
  licenses?: LicenseFacts;
  /** Why the licenses are not known (the zip could not be had or verified). */
  unavailable?: string;
  /** The zip's hash differs from an expected one: a SECURITY ERROR, as the go command says. */
  mismatch?: string;
}

export interface ZipLicenseOptions {
  source: GatewayFacts;
  /** A modgate serves only zips it verified against the checksum database or its TOFU ledger. */
  verifiedSource: boolean;
  maxZipBytes: number;
  /** The checksum database's go.sum lines for a public module; undefined when it has none to give. */
  sumdb?: {
    name: string;
    skips(module: string): boolean;
    lookup(module: string, version: string): Promise<string[]>;
  };
}

export class ZipLicenses {
  private dir: Promise<string> | undefined;

  constructor(private readonly o: ZipLicenseOptions) {}

  async forVersion(module: string, version: string, goSumH1?: string): Promise<ZipLicenseResult> {
    this.dir ??= mkdtemp(path.join(os.tmpdir(), 'modgate-licenses-'));
    const file = path.join(await this.dir, `${randomBytes(8).toString('hex')}.zip`);
    try {
      const got = await this.download(module, version, file);
      if (got) return { unavailable: got };
      const h1 = (await verifyModuleZip(file, { path: module, version })).h1;
      const expected = await this.expected(module, version, goSumH1);
      if (typeof expected === 'string') return { unavailable: expected };
      for (const [from, want] of expected)
        if (want !== h1)
          return {
            mismatch: `SECURITY ERROR: ${module}@${version}: the zip from ${this.o.source.base} hashes to ${h1}, ${from} has ${want}`,
          };
      return { licenses: await scanZipLicenses(file, module, version) };
    } catch (err) {
      const e = asModgateError(err);
      return { unavailable: `the zip did not verify: ${e.code}: ${e.message.split('\n')[0]}` };
    } finally {
      await rm(file, { force: true });
    }
  }

  /** The expected hashes by source, or why there is none (then the zip is not scanned). */
  private async expected(
    module: string,
    version: string,
    goSumH1?: string,
  ): Promise<Array<[string, string]> | string> {
    const out: Array<[string, string]> = goSumH1 ? [['go.sum', goSumH1]] : [];
    const db = this.o.sumdb;
    if (db && !db.skips(module)) {
      try {
        const want = expectedHash(await db.lookup(module, version), module, version, 'zip');
        if (want) out.push([db.name, want]);
      } catch (err) {
        if (!out.length)
          return `${db.name} could not be asked: ${asModgateError(err).message.split('\n')[0]}`;
      }
    }
    if (out.length || this.o.verifiedSource) return out;
    return 'no hash to verify the zip against (no go.sum line, and no checksum database for it)';
  }

  /** Spools the zip to file; a string says why it could not be had. */
  private async download(module: string, version: string, file: string): Promise<string | null> {
    const res = await this.o.source.open(`/${escapePath(module)}/@v/${escapeVersion(version)}.zip`);
    if (typeof res === 'string') return res;
    if (res.statusCode !== 200) {
      const text = await res.body.text().catch(() => '');
      return `${this.o.source.base} answered ${res.statusCode} for the zip: ${text.split('\n')[0]?.slice(0, 200)}`;
    }
    await spool(res.body, file, this.o.maxZipBytes, `${module}@${version} .zip`);
    return null;
  }

  async close(): Promise<void> {
    if (this.dir) await rm(await this.dir, { recursive: true, force: true });
  }
}
