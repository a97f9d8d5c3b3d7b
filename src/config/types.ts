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
  upstream: string;
  private: boolean;
}

export interface ModgateConfig {
  listen: string;
  publicUrl?: string;
  dataDir: string;
  upstream?: string;
  private: string;
  noSumdb: string;
  sumdb?: string;
  routes: RouteConfig[];
  credentials: Record<string, Credential>;
  followRedirects: Record<string, 'same-origin' | string[]>;
  server: { requestDeadlineMs: number };
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
    engine: 'fs' | 's3';
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
    tokens: Array<{ id: string; sha256: string; groups: string[] }>;
  };
  policy: {
    path: string;
    dataFile?: string;
    mode: 'enforce' | 'dry-run';
    budgetMs: number;
    workers: number;
  };
  audit: {
    enabled: boolean;
    store: 'fs' | 'postgres';
    replica?: string;
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
