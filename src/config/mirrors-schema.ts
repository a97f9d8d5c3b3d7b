/** The `mirrors` section of the schema: groups of equivalent mirrors and how they are routed. */
const posInt = { type: 'integer', minimum: 1 } as const;

export const mirrorsSchema = {
  type: 'object',
  default: {},
  additionalProperties: false,
  description:
    'Adaptive routing among equivalent mirrors (docs/upstreams.md): a group is served by the mirror with the best score, with a circuit breaker, hedging and quarantine.',
  properties: {
    groups: {
      type: 'array',
      default: [],
      description:
        'Groups of upstreams that serve the same modules. Members must stand together, joined by |, in each chain that names one of them.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['members'],
        properties: {
          name: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9._-]+$' },
          members: { type: 'array', minItems: 2, items: { type: 'string', minLength: 1 } },
          equivalent: {
            type: 'boolean',
            default: false,
            description: 'true: route among the members by score; false: keep the fixed order.',
          },
        },
      },
    },
    pipeGroups: {
      enum: ['ordered', 'equivalent'],
      default: 'ordered',
      description:
        'equivalent: every | group of two or more entries in every chain is a group of equivalent mirrors; ordered: | keeps its fixed GOPROXY order.',
    },
    ewmaAlpha: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.3,
      description: 'Weight of the newest sample in the latency and error averages.',
    },
    errorPenalty: {
      type: 'number',
      minimum: 0,
      default: 10,
      description: 'Score = latency x (1 + errorPenalty x error rate); lower wins.',
    },
    breaker: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        failures: {
          ...posInt,
          default: 5,
          description: 'Consecutive failures that open a mirror circuit.',
        },
        coolOffMs: {
          ...posInt,
          default: 30000,
          description: 'Time an open circuit waits before one half-open trial.',
        },
      },
    },
    hedge: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true },
        minMs: {
          ...posInt,
          default: 50,
          description: 'Shortest wait for the first answer before the next mirror is asked.',
        },
        maxMs: {
          ...posInt,
          default: 2000,
          description:
            'Longest wait (and the wait while the best mirror has no latency samples); the wait is its p95 within [minMs, maxMs].',
        },
      },
    },
    probeIntervalMs: {
      type: 'integer',
      minimum: 0,
      default: 30000,
      description: 'Background probe of every group member; 0 turns probes off.',
    },
    probePath: {
      type: 'string',
      pattern: '^/',
      default: '/',
      description: 'The path probed (any answer below 500 is a success).',
    },
    quarantineMs: {
      ...posInt,
      default: 3600000,
      description: 'How long a mirror that served bytes failing verification is left out.',
    },
  },
} as const;
