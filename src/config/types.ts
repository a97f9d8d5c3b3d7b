/** The effective configuration, after defaults; mirrors src/config/schema.ts. */
export interface Credential {
  type: 'basic' | 'bearer';
  username?: string;
  password?: string;
  passwordEnv?: string;
  token?: string;
  tokenEnv?: string;
}

export interface RouteConfig {
  pattern: string;
  /** proxy: forward to `upstream`; vcs: the go command fetches from version control (`git`). */
  source: 'proxy' | 'vcs';
  /** The GOPROXY-syntax chain of a proxy route; '' for a vcs route. */
  upstream: string;
  /** Always true for a vcs route. */
  private: boolean;
  git?: GitSourceConfig;
}

/** How a vcs route reaches its repositories (src/vcs). */
export interface GitSourceConfig {
  credentials?: GitCredentials;
  /** git's url.<base>.insteadOf rewrites: base URL -> the prefix it replaces. */
  insteadOf: Record<string, string>;
  /** CA certificates git trusts for this route (GIT_SSL_CAINFO); default the system's. */
  caFile?: string;
  /** The go command to run. */
  goBinary: string;
  concurrency: number;
  timeoutMs: number;
  maxRepoBytes: number;
  cacheRepos: number;
}

export interface GitCredentials {
  type: 'netrc' | 'token' | 'ssh-key';
  /** The host git connects to (after insteadOf rewrites); default the pattern's first element. */
  host?: string;
  username?: string;
  password?: string;
  passwordEnv?: string;
  token?: string;
  tokenEnv?: string;
  keyFile?: string;
  knownHostsFile?: string;
}

/** Groups of equivalent mirrors and their routing (src/routing, docs/upstreams.md). */
export interface MirrorsConfig {
  groups: Array<{ name?: string; members: string[]; equivalent: boolean }>;
  pipeGroups: 'ordered' | 'equivalent';
  ewmaAlpha: number;
  errorPenalty: number;
  breaker: { failures: number; coolOffMs: number };
  hedge: { enabled: boolean; minMs: number; maxMs: number };
  probeIntervalMs: number;
  probePath: string;
  quarantineMs: number;
}

/** What an identity may do beyond fetching modules (the web console). */
export type Role = 'auditor' | 'admin';

export interface ModgateConfig {
  listen: string;
  publicUrl?: string;
  dataDir: string;
  upstream?: string;
  private: string;
  noSumdb: string;
  sumdb?: string;
  routes: RouteConfig[];
  mirrors: MirrorsConfig;
  credentials: Record<string, Credential>;
  followRedirects: Record<string, 'same-origin' | string[]>;
  server: { requestDeadlineMs: number; workers: number };
  http: {
    connectTimeoutMs: number;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
    deadlineMs: number;
    zipDeadlineBaseMs: number;
    zipMinBytesPerSecond: number;
    retries: number;
    retryBaseMs: number;
    connections: number;
  };
  limits: {
    zipBytes: number;
    modBytes: number;
    infoBytes: number;
    listBytes: number;
    coldFetches: number;
    coldFetchQueue: number;
    upstreamFetchesPerRequest: number;
    factsConcurrency: number;
    requestFactsMs: number;
  };
  cache: {
    listTtlSeconds: number;
    queryTtlSeconds: number;
    sumdbLatestTtlSeconds: number;
    memoryBytes: number;
    memoryMaxItemBytes: number;
  };
  storage: {
    kind: 'fs' | 's3';
    s3: {
      bucket?: string;
      prefix: string;
      region?: string;
      endpoint?: string;
      forcePathStyle: boolean;
      partSizeBytes: number;
      uploadConcurrency: number;
    };
    diskCache: { dir?: string; maxBytes: number };
  };
  tls: {
    insecureHttp: boolean;
    certFile: string;
    keyFile: string;
    clientCaFile?: string;
    requireClientCert: boolean;
    hosts: string[];
  };
  pinning: 'required' | 'optional';
  pins: Record<string, string[]>;
  allowHttpUpstream: boolean;
  extraCaFile?: string;
  auth: {
    required: boolean;
    protectHealth: boolean;
    tokens: Array<{ id: string; sha256: string; groups: string[]; roles: Role[] }>;
    subjects: Array<{ cn: string; roles: Role[] }>;
  };
  console: { enabled: boolean };
  policy: {
    path: string;
    dataFile?: string;
    mode: 'enforce' | 'dry-run';
    budgetMs: number;
    workers: number;
  };
  vulndb: { enabled: boolean; source: string; syncMinutes: number };
  audit: {
    enabled: boolean;
    store: 'fs' | 'postgres';
    dir?: string;
    keyFile?: string;
    verifierKey?: string;
    checkpointSeconds: number;
    onFailure: 'refuse' | 'serve';
    retentionDays: number;
    accessBurst: number;
    shipUrl?: string;
    syslog?: string;
  };
  cluster: { replicaId?: string; leaseTtlMs: number; leasePollMs: number };
  state: {
    kind: 'local' | 'postgres';
    serveCachedWhenDown: boolean;
    postgres: {
      url?: string;
      passwordFile?: string;
      poolSize: number;
      connectTimeoutMs: number;
      statementTimeoutMs: number;
    };
  };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
}
