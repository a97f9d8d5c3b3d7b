import type { Evidence } from '../integrity/checksums.js';
import type { StateSealer } from '../storage/sealed.js';
import type { BlobStore } from '../storage/types.js';
import type { ArtifactKind } from './paths.js';
import type { LicenseFacts } from '../contracts.js';

export interface StoredEvidence extends Partial<Evidence> {
  kind: ArtifactKind;
  module: string;
  version: string;
  upstream: string;
  sha256: string;
  size: number;
  fetchedAt: string;
  zip?: { fileCount: number; uncompressedSize: number; licenses?: LicenseFacts };
}

export type EvidenceRead =
  | { state: 'ok'; evidence: StoredEvidence }
  | { state: 'absent' }
  | { state: 'tampered'; reason: string };

const PURPOSE = 'evidence';

/**
 * The evidence beside each cached artifact, sealed with the gateway's state
 * key and bound to the artifact's storage key: a record edited on disk, or one
 * copied from another artifact, reads as tampered.
 */
export class EvidenceStore {
  constructor(
    private readonly store: BlobStore,
    private readonly sealer: StateSealer,
  ) {}

  static keyOf(artifactKey: string): string {
    return `${artifactKey}.evidence.json`;
  }

  async read(
    artifactKey: string,
    want: { kind: ArtifactKind; module: string; version: string },
  ): Promise<EvidenceRead> {
    const raw = await this.store.getBytes(EvidenceStore.keyOf(artifactKey));
    if (!raw) return { state: 'absent' };
    const body = this.sealer.open(PURPOSE, artifactKey, raw);
    if (body === null)
      return { state: 'tampered', reason: 'evidence is not authenticated by the state key' };
    let ev: StoredEvidence;
    try {
      ev = JSON.parse(body) as StoredEvidence;
    } catch {
      return { state: 'tampered', reason: 'evidence is not JSON' };
    }
    if (
      ev.kind !== want.kind ||
      ev.module !== want.module ||
      ev.version !== want.version ||
      typeof ev.sha256 !== 'string' ||
      !Number.isSafeInteger(ev.size)
    )
      return { state: 'tampered', reason: 'evidence does not describe this artifact' };
    return { state: 'ok', evidence: ev };
  }

  write(artifactKey: string, ev: StoredEvidence): Promise<void> {
    return this.store.putBytes(
      EvidenceStore.keyOf(artifactKey),
      this.sealer.seal(PURPOSE, artifactKey, JSON.stringify(ev)),
    );
  }
}
