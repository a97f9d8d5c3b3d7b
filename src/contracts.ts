/**
 * The shared contracts: the shapes that the flow, policy, audit, auth and the
 * HTTP layer exchange (Identity, Decision, ModuleFacts, Evidence) and the ports
 * through which the flow reaches policy and audit. A leaf module: it imports
 * nothing, so every room may depend on it and it depends on none.
 */

export interface Identity {
  id: string;
  method: 'basic' | 'bearer' | 'mtls' | 'anonymous';
  groups: string[];
  /** Roles beyond fetching modules (auditor, admin: the web console); none when absent. */
  roles?: string[];
}

export interface RequestContext {
  /** modgate's own id for the request (the audit record id's prefix); never the client's. */
  requestId: string;
  /** The client's X-Request-Id, kept apart from modgate's own id. */
  clientRequestId?: string;
  identity: Identity;
  address: string;
  startedAt: number;
  /**
   * The request's lifetime: aborted when its deadline passes or the client is
   * gone. Every piece of work done for this request alone listens to it.
   */
  signal: AbortSignal;
  /**
   * Why the client asks, when it says so (`x-modgate-purpose`, e.g.
   * `preflight` from `modgate policy check`): recorded so that pre-flight
   * traffic is told apart from builds.
   */
  purpose?: string;
}

export interface Reason {
  code: string;
  message: string;
}

export interface Decision {
  allow: boolean;
  deny: Reason[];
  warn: Reason[];
  policyRevision: string;
  dataRevision: string;
  /** In dry-run mode denials are turned into warnings by the gate. */
  dryRun: boolean;
  /**
   * The path is only an ancestor of allowed source patterns (the go command asks
   * every prefix of an import path): answer 404 rather than 403 so resolution goes on.
   */
  notFound?: boolean;
}

export type DecisionKind = 'list' | 'info' | 'mod' | 'zip' | 'latest' | 'sumdb';

/** One vulnerability-database entry that affects the requested version. */
export interface VulnFact {
  id: string;
  aliases: string[];
  summary: string;
  /** The earliest fixed version past the requested one that is not itself affected, or "". */
  fixed: string;
  /** RFC 3339 time of withdrawal, or "". */
  withdrawn: string;
}

/** The licenses found in a verified zip (src/license). */
export interface LicenseFacts {
  files: Array<{ path: string; spdx: string }>;
  /** SPDX expression (the AND of the files' ids), or "" when unknown. */
  expression: string;
  unknown: boolean;
}

export interface ModuleFacts {
  /** Licenses of the verified zip (kind zip). */
  licenses?: LicenseFacts;
  /** Entries of the vulnerability database affecting this version (when it is configured). */
  vulns?: VulnFact[];
  /** The vulnerability database's state: configured, a verified copy held, its modified. */
  vulndb?: { enabled: boolean; loaded: boolean; modified: string };
  publishTime?: string;
  retracted?: boolean;
  deprecated?: string;
  zipSize?: number;
  fileCount?: number;
  checksum?: { verified: boolean; method: 'sumdb' | 'tofu' | 'none' };
}

export interface DecisionRequest {
  kind: DecisionKind;
  module: string;
  version?: string;
  identity: Identity;
  facts: ModuleFacts;
}

/** Facts gathered from the upstream for policy rules, beyond what a request carries itself. */
export type PolicyFact = 'publishTime' | 'retracted' | 'deprecated';

export interface PolicyGate {
  decide(req: DecisionRequest): Promise<Decision>;
  /** Versions of a list the policy allows (metadata rules only). */
  filterVersions(module: string, versions: string[], identity: Identity): Promise<string[]>;
  /**
   * The gathered facts the policy in force needs to decide a zip: a zip waits
   * for these and no others. A gate without it is taken to need them all.
   */
  factsNeeded?(): ReadonlySet<PolicyFact>;
}

export interface DecisionRecord {
  ctx: RequestContext;
  kind: DecisionKind;
  module: string;
  version?: string;
  /**
   * `not_found`: the upstream has no such version (404, 410 or 403), so no
   * policy was applied; `deny` means policy only.
   */
  decision: 'allow' | 'deny' | 'warn' | 'error' | 'not_found';
  codes: string[];
  policyRevision?: string;
  dataRevision?: string;
  cache: 'hit' | 'miss' | 'stale';
  upstream?: string;
  evidence?: Evidence & { zipSha256?: string; licenses?: LicenseFacts };
  /** Defaults to ctx.purpose. */
  purpose?: string;
}

export interface CompletionRecord {
  ctx: RequestContext;
  status: number;
  bytes: number;
  outcome: 'complete' | 'aborted' | 'error';
}

export interface SecurityEvent {
  event: string;
  module?: string;
  version?: string;
  details: Record<string, unknown>;
  ctx?: RequestContext;
}

/**
 * An answer that no decision record covers (authentication refusals, malformed
 * requests, unknown paths, checksum-database relay, metrics and readiness
 * reads). `count` > 1 aggregates answers of one client, code and second.
 */
export interface AccessRecord {
  ctx: RequestContext;
  /** Route kind: info, mod, zip, list, latest, query, sumdb, metrics, readyz, unknown. */
  kind: string;
  method: string;
  /** The request path, truncated (never the query string). */
  path: string;
  status: number;
  code?: string;
  module?: string;
  version?: string;
  count?: number;
  /** For an aggregated record: the second (ISO time) its answers fall in. */
  window?: string;
}

export interface AuditPort {
  /** Resolves once the record is durable (fsynced); rejects with AUDIT_UNAVAILABLE. */
  decision(rec: DecisionRecord): Promise<void>;
  /** Records an answer no decision covers; resolves once written. */
  access?(rec: AccessRecord): Promise<void>;
  completion(rec: CompletionRecord): void;
  security(ev: SecurityEvent): Promise<void>;
  /** false when records cannot be written (the gateway then refuses with 503). */
  healthy(): boolean;
}

/** A gate that allows everything: used when no policy is configured (tests, `--no-policy`). */
export const allowAllGate: PolicyGate = {
  async decide() {
    return {
      allow: true,
      deny: [],
      warn: [],
      policyRevision: 'none',
      dataRevision: 'none',
      dryRun: false,
    };
  },
  async filterVersions(_m, versions) {
    return versions;
  },
};

/** An audit port that records nothing (audit disabled explicitly). */
export const noAudit: AuditPort = {
  async decision() {},
  async access() {},
  completion() {},
  async security() {},
  healthy: () => true,
};

/**
 * Where a hash's trust comes from: a verified checksum-database record, or a
 * local trust-on-first-use ledger for private modules.
 */
export interface Evidence {
  method: 'sumdb' | 'tofu';
  h1: string;
  sumdb?: { name: string; treeSize: number; rootHash: string; recordId: number };
  /** For TOFU: when the hash was first seen. */
  firstSeen?: string;
}
