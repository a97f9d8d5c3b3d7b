/**
 * The one configuration schema of modgate. Defaults live here, ajv applies them,
 * and every violation is reported at once with its path. `npm run build` also
 * writes it to modgate.schema.json for editors (see scripts/write-schema.mjs).
 */
import { mirrorsSchema } from './mirrors-schema.js';

const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;
const posInt = { type: 'integer', minimum: 1 } as const;
const strList = { type: 'array', items: { type: 'string' } } as const;
/** Roles of an identity: auditor reads the console; admin may do everything an auditor may. */
const roleList = {
  type: 'array',
  items: { enum: ['auditor', 'admin'] },
  uniqueItems: true,
  default: [],
  description: 'auditor: the web console (read-only); admin: the same, for operators.',
} as const;

const credential = {
  type: 'object',
  additionalProperties: false,
  description: 'Credentials sent to one upstream. Secrets may come from env via *Env fields.',
  properties: {
    type: { enum: ['basic', 'bearer'] },
    username: str,
    password: str,
    passwordEnv: str,
    token: str,
    tokenEnv: str,
  },
  required: ['type'],
} as const;

const gitCredentials = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  description:
    'How git authenticates: netrc (username + password in a private .netrc), token (a git credential helper), ssh-key (a private key and a known_hosts file). Secrets may come from env via *Env fields; they never reach a command line, a log or an error.',
  properties: {
    type: { enum: ['netrc', 'token', 'ssh-key'] },
    host: {
      ...str,
      pattern: '^[A-Za-z0-9.-]+(:[0-9]+)?$',
      description:
        "Host (and port) git connects to, after insteadOf rewrites. Default: the pattern's first element.",
    },
    username: { ...str, description: 'netrc login; token user name (default x-access-token).' },
    password: str,
    passwordEnv: str,
    token: str,
    tokenEnv: str,
    keyFile: { ...str, description: 'ssh-key: the private key file (copied, mode 0600).' },
    knownHostsFile: {
      ...str,
      description: 'ssh-key: known_hosts with the server keys (strict checking).',
    },
  },
} as const;

const gitSource = {
  type: 'object',
  additionalProperties: false,
  description: 'A vcs route: how the go command reaches version control.',
  properties: {
    credentials: gitCredentials,
    insteadOf: {
      type: 'object',
      default: {},
      description:
        'git url.<base>.insteadOf rewrites, base URL -> the URL prefix it replaces (e.g. ssh://git@git.corp.example/ -> https://git.corp.example/).',
      additionalProperties: str,
    },
    caFile: {
      ...str,
      description:
        "PEM CA certificates git trusts for this route's servers (default: the system's).",
    },
    goBinary: { ...str, default: 'go', description: 'The go command to run.' },
    concurrency: {
      ...posInt,
      default: 4,
      description: 'go commands this route runs at once; more wait.',
    },
    timeoutMs: {
      ...posInt,
      default: 120000,
      description:
        'Deadline of one VCS operation; after it the whole process group is killed (VCS_TIMEOUT).',
    },
    maxRepoBytes: {
      ...posInt,
      default: 1073741824,
      description:
        'Largest clone of one repository; a bigger one is killed and deleted (VCS_TOO_LARGE).',
    },
    cacheRepos: {
      ...posInt,
      default: 64,
      description: 'Clones kept per route; the least recently used go first.',
    },
  },
} as const;

export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://modgate.dev/schema/modgate.schema.json',
  title: 'modgate configuration (modgate.yaml)',
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: {
      ...str,
      default: '127.0.0.1:8443',
      description: 'HOST:PORT to listen on; port 0 picks a free port.',
    },
    publicUrl: {
      ...str,
      description: 'The URL clients use, when different from the listen address.',
    },
    dataDir: {
      ...str,
      default: './data',
      description: 'Where cached artifacts, sumdb state, audit trail and keys live.',
    },
    upstream: {
      ...str,
      description:
        'Upstream proxies in GOPROXY syntax (URL,URL|URL). Default: GOPROXY, else `go env GOPROXY`, minus direct and off.',
    },
    private: {
      ...str,
      default: '',
      description:
        'Comma-separated path patterns (GOPRIVATE syntax) that never go to public upstreams or the public sumdb. Default: GOPRIVATE and GONOPROXY.',
    },
    noSumdb: {
      ...str,
      default: '',
      description:
        'Patterns verified by trust-on-first-use instead of the checksum database. Default: GONOSUMDB and GOPRIVATE.',
    },
    sumdb: {
      ...str,
      description:
        'Checksum database in GOSUMDB syntax: "name+hash+key [URL]". Default: GOSUMDB, else sum.golang.org.',
    },
    routes: {
      type: 'array',
      default: [],
      description:
        'Per-path sources, matched with Go prefix-pattern rules; first match wins: an upstream proxy chain (source: proxy) or version control through the go command (source: vcs, see docs/private-modules.md).',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['pattern'],
        properties: {
          pattern: { ...str, minLength: 1, description: 'Module path pattern (GOPRIVATE syntax).' },
          source: {
            enum: ['proxy', 'vcs'],
            default: 'proxy',
            description:
              'proxy: forward to `upstream`; vcs: fetch from version control with the go command (git only).',
          },
          upstream: {
            ...str,
            default: '',
            description: 'GOPROXY-syntax chain for a proxy route (required there; not for vcs).',
          },
          private: {
            ...bool,
            default: false,
            description:
              'Private routes use TOFU and never reach public upstreams or the sumdb. vcs routes are always private.',
          },
          git: gitSource,
        },
      },
    },
    mirrors: mirrorsSchema,
    credentials: {
      type: 'object',
      default: {},
      description:
        'Upstream credentials keyed by upstream URL: sent only to that exact origin (scheme, host, port) and under its path at a segment boundary, never across a redirect to another origin.',
      additionalProperties: credential,
    },
    followRedirects: {
      type: 'object',
      default: {},
      description:
        'Redirects an upstream may send modgate on, keyed by upstream URL (origin and path prefix): "same-origin", or a list of allowed origins (its own origin is always allowed). Upstreams not listed follow no redirect: a 3xx is UPSTREAM_REDIRECT.',
      additionalProperties: {
        oneOf: [
          { enum: ['same-origin'] },
          { type: 'array', items: { type: 'string', pattern: '^https?://[^/?#]+$' } },
        ],
      },
    },
    server: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        requestDeadlineMs: {
          ...posInt,
          default: 120000,
          description:
            "Total time for one client request's work; after it the work is cancelled (REQUEST_TIMEOUT).",
        },
        workers: {
          type: 'integer',
          minimum: 0,
          maximum: 256,
          default: 0,
          description:
            'Server processes on this node, all on the listen address: 0 (auto, the default) runs one per core when there is more than one core, else one process; 1 runs one process; N >= 2 runs a primary that starts N workers and restarts one that crashes. The processes share the stores; see docs/scale-out.md, "Several processes on one node".',
        },
      },
    },
    http: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        connectTimeoutMs: { ...posInt, default: 10000 },
        headersTimeoutMs: { ...posInt, default: 30000 },
        bodyTimeoutMs: { ...posInt, default: 60000 },
        deadlineMs: {
          ...posInt,
          default: 10000,
          description:
            'Total deadline for headers plus body of every upstream answer except a zip body (info, mod, list, latest, query, checksum database).',
        },
        zipDeadlineBaseMs: {
          ...posInt,
          default: 10000,
          description:
            'A zip body must arrive within zipDeadlineBaseMs + size / zipMinBytesPerSecond (size: Content-Length, else limits.zipBytes).',
        },
        zipMinBytesPerSecond: {
          ...posInt,
          default: 1048576,
          description: 'The slowest zip download rate that the zip deadline allows for.',
        },
        retries: { type: 'integer', minimum: 0, maximum: 10, default: 2 },
        retryBaseMs: { ...posInt, default: 200 },
        connections: { ...posInt, default: 64 },
      },
    },
    limits: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        zipBytes: { ...posInt, default: 500 * 1024 * 1024 },
        modBytes: { ...posInt, default: 16 * 1024 * 1024 },
        infoBytes: { ...posInt, default: 64 * 1024 },
        listBytes: { ...posInt, default: 8 * 1024 * 1024 },
        coldFetches: {
          ...posInt,
          default: 8,
          description: 'Zip and go.mod downloads that are fetched and verified at once.',
        },
        coldFetchQueue: {
          type: 'integer',
          minimum: 0,
          default: 64,
          description:
            'Downloads waiting for a verification slot; beyond it requests get 503 OVERLOADED with Retry-After.',
        },
        upstreamFetchesPerRequest: {
          ...posInt,
          default: 32,
          description:
            'Upstream fetches one request may cause (a list with cool-down facts); versions whose facts do not fit are hidden.',
        },
        factsConcurrency: {
          ...posInt,
          default: 8,
          description: 'Publish-time (.info) fetches of one list gathered at once.',
        },
        requestFactsMs: {
          ...posInt,
          default: 10000,
          description:
            'Time one request may spend gathering policy facts: a list hides the versions still without them, a zip is decided with what is known (a missing fact the policy needs denies).',
        },
      },
    },
    cache: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        listTtlSeconds: { type: 'integer', minimum: 0, default: 60 },
        queryTtlSeconds: { type: 'integer', minimum: 0, default: 60 },
        sumdbLatestTtlSeconds: { type: 'integer', minimum: 0, default: 60 },
        memoryBytes: {
          type: 'integer',
          minimum: 0,
          default: 256 * 1024 * 1024,
          description:
            'Bytes of verified artifacts (.info, .mod and zips up to memoryMaxItemBytes) kept in memory, per process: a node holds up to server.workers times this. Hits on them are served from memory; the bytes were hashed against their evidence when read from disk.',
        },
        memoryMaxItemBytes: {
          type: 'integer',
          minimum: 0,
          default: 4 * 1024 * 1024,
          description:
            'Largest artifact kept in memory. Larger zips are streamed from disk, checked against their evidence (or their remembered stamp) on every hit; 0 keeps nothing in memory (every hit then reads and hashes its file).',
        },
      },
    },
    storage: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description:
        'Where verified artifacts, their evidence and quarantine are kept (see docs/scale-out.md).',
      properties: {
        kind: {
          enum: ['fs', 's3'],
          default: 'fs',
          description:
            '"fs": files under <dataDir>/store (one node). "s3": an S3 bucket shared by every replica, with a local disk cache in front.',
        },
        s3: {
          type: 'object',
          default: {},
          additionalProperties: false,
          description:
            'Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and shared config, web identity, container or instance role), never from this file.',
          properties: {
            bucket: { ...str, minLength: 1, description: 'Required with kind "s3".' },
            prefix: {
              type: 'string',
              default: '',
              pattern: '^((?!\\.\\.?/)[A-Za-z0-9._~!+@,=-]+/)*$',
              description: 'Key prefix inside the bucket, ending in "/" (e.g. "modgate/").',
            },
            region: { ...str, description: "Default: AWS_REGION or the profile's region." },
            endpoint: {
              ...str,
              pattern: '^https?://',
              description: 'An S3-compatible endpoint URL; default: AWS S3 for the region.',
            },
            forcePathStyle: {
              ...bool,
              default: false,
              description:
                'Path-style URLs (endpoint/bucket/key), as most S3-compatible servers need.',
            },
            partSizeBytes: {
              type: 'integer',
              minimum: 5 * 1024 * 1024,
              default: 8 * 1024 * 1024,
              description: 'Multipart upload part size (S3 minimum 5 MiB).',
            },
            uploadConcurrency: {
              type: 'integer',
              minimum: 1,
              maximum: 16,
              default: 2,
              description:
                'Parts of one upload in flight; one upload holds at most uploadConcurrency x partSizeBytes in memory.',
            },
          },
        },
        diskCache: {
          type: 'object',
          default: {},
          additionalProperties: false,
          description: 'The local read-through cache of hot artifacts in front of S3.',
          properties: {
            dir: { ...str, description: 'Default: <dataDir>/s3-cache.' },
            maxBytes: {
              type: 'integer',
              minimum: 0,
              default: 10 * 1024 * 1024 * 1024,
              description:
                'Byte budget; least recently used artifacts are evicted. 0 turns the cache off.',
            },
          },
        },
      },
    },
    tls: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        insecureHttp: {
          ...bool,
          default: false,
          description: 'Serve plain HTTP (logs a warning).',
        },
        certFile: { ...str, default: 'certs/server.pem' },
        keyFile: { ...str, default: 'certs/server-key.pem' },
        clientCaFile: {
          ...str,
          description: 'Enables mutual TLS: client certificates signed by this CA are accepted.',
        },
        requireClientCert: { ...bool, default: false },
        hosts: { ...strList, default: [], description: 'Extra host names for `certs init`.' },
      },
    },
    pinning: { enum: ['required', 'optional'], default: 'required' },
    pins: {
      type: 'object',
      default: {},
      description: 'SPKI sha256 pins (sha256/BASE64) per upstream host.',
      additionalProperties: strList,
    },
    allowHttpUpstream: { ...bool, default: false },
    extraCaFile: {
      ...str,
      description: 'Extra CA bundle trusted for upstreams (e.g. a local mirror).',
    },
    auth: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        required: { ...bool, default: false },
        protectHealth: {
          ...bool,
          default: false,
          description:
            '/metrics and /readyz need a token or client certificate even when auth.required is off (with auth.required they always do; /healthz stays open).',
        },
        tokens: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'sha256'],
            properties: {
              id: str,
              sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
              groups: { ...strList, default: [] },
              roles: roleList,
            },
          },
        },
        subjects: {
          type: 'array',
          default: [],
          description:
            'Roles of TLS client certificates by subject CN (the identity of an mTLS client); tokens carry theirs in auth.tokens[].roles.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['cn', 'roles'],
            properties: {
              cn: { type: 'string', minLength: 1, maxLength: 256 },
              roles: roleList,
            },
          },
        },
      },
    },
    console: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description:
        'The read-only web console at /console/ (docs/console.md): its API needs an identity with the auditor or admin role.',
      properties: {
        enabled: { ...bool, default: false },
      },
    },
    policy: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        path: {
          ...str,
          default: 'policies',
          description: 'A policies folder (with build/policy.wasm) or an opa bundle .tar.gz.',
        },
        dataFile: { ...str, description: 'YAML or JSON policy data; default policies/data.yaml.' },
        mode: { enum: ['enforce', 'dry-run'], default: 'enforce' },
        budgetMs: {
          type: 'integer',
          minimum: 1,
          maximum: 60000,
          default: 1000,
          description:
            'Time budget of one policy decision in ms; a decision over it is POLICY_ERROR (a denial) and its worker is replaced.',
        },
        workers: {
          type: 'integer',
          minimum: 1,
          maximum: 16,
          default: 2,
          description:
            'Worker threads evaluating policy decisions off the event loop (each holds the policy and its data).',
        },
      },
    },
    vulndb: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description:
        'The Go vulnerability database: synced, verified and held locally; feeds input.vulns and the GOVULNDB mirror at /vuln/ (docs/vulnerabilities.md).',
      properties: {
        enabled: { ...bool, default: false },
        source: {
          ...str,
          default: 'https://vuln.go.dev',
          description:
            'A URL in the v1 layout (fetched through the pinned upstream client), or a local vulndb.zip or unpacked folder (air-gapped sites).',
        },
        syncMinutes: {
          type: 'integer',
          minimum: 1,
          maximum: 10080,
          default: 60,
          description:
            'How often the source is checked (index/db.json modified); a copy only ever moves forward.',
        },
      },
    },
    audit: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        enabled: { ...bool, default: true },
        store: {
          enum: ['fs', 'postgres'],
          default: 'fs',
          description:
            "Where the audit chain lives: fs (segment files in audit.dir) or postgres (one chain per replica in state.postgres's database).",
        },
        dir: { ...str, description: 'Default: <dataDir>/audit.' },
        keyFile: { ...str, description: 'Default: <dataDir>/keys/audit.key.' },
        verifierKey: {
          ...str,
          description: "The audit key's public verifier key, printed on first start.",
        },
        checkpointSeconds: { ...posInt, default: 300 },
        onFailure: { enum: ['refuse', 'serve'], default: 'refuse' },
        retentionDays: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description: '0 keeps everything.',
        },
        accessBurst: {
          type: 'integer',
          minimum: 1,
          default: 10,
          description:
            'Answers per client address, code and second recorded one by one; the rest of that second become one record with a count.',
        },
        shipUrl: str,
        syslog: str,
      },
    },
    cluster: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description: 'This replica among several that share one state (state.kind: postgres).',
      properties: {
        replicaId: {
          ...str,
          pattern: '^[A-Za-z0-9._:-]{1,128}$',
          description:
            "This replica's name: the holder of its leases and the author of what it writes to the shared state and, with audit.store postgres, the id of its audit chain; unique per live process. Default: the host name.",
        },
        leaseTtlMs: {
          type: 'integer',
          minimum: 1000,
          maximum: 3600000,
          default: 30000,
          description:
            'How long a cold fetch holds its cluster lease without a renewal (renewed every third of it): a crashed holder is taken over after at most this long.',
        },
        leasePollMs: {
          type: 'integer',
          minimum: 10,
          maximum: 10000,
          default: 500,
          description:
            'Longest pause between looks (at the cache, then the lease) while another replica fetches the same artifact; pauses start at 20 ms and double up to this.',
        },
      },
    },
    state: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description:
        'Where tree heads, fork evidence, the TOFU ledger and fetch leases live: local files (one node) or PostgreSQL (replicas).',
      properties: {
        kind: { enum: ['local', 'postgres'], default: 'local' },
        serveCachedWhenDown: {
          ...bool,
          default: true,
          description:
            'While the shared state is unreachable, still serve cache hits whose evidence verifies (everything else is STATE_UNAVAILABLE).',
        },
        postgres: {
          type: 'object',
          default: {},
          additionalProperties: false,
          properties: {
            url: {
              ...str,
              description:
                'postgres://USER@HOST:PORT/DB[?sslmode=verify-full&sslrootcert=FILE] without a password. Default: the PG* environment (PGHOST, PGPORT, PGUSER, PGDATABASE, ...).',
            },
            passwordFile: {
              ...str,
              description:
                'A file holding the password (e.g. a mounted secret). Otherwise PGPASSWORD or ~/.pgpass (PGPASSFILE); never the config file.',
            },
            poolSize: { ...posInt, maximum: 1000, default: 10 },
            connectTimeoutMs: { ...posInt, default: 5000 },
            statementTimeoutMs: { ...posInt, default: 10000 },
          },
        },
      },
    },
    log: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        level: {
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
          default: 'info',
        },
      },
    },
  },
} as const;
