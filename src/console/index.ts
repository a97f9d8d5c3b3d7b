/**
 * The web console (docs/console.md): the static shell at /console/ and its
 * JSON API at /console/api/, both with the console's security headers. Wired
 * by the composition root when console.enabled; the front door
 * (src/http/auth-hook.ts) alone decides who may call the API.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ModgateError } from '../errors.js';
import { registerConsoleApi, type ConsoleApiDeps } from './api.js';
import type { VerifyJobs } from './integrity.js';
import { defaultAssetsDir, loadAssets, SECURITY_HEADERS } from './static.js';

export { TrailReader } from './trail.js';
export { CONSOLE_CSP } from './static.js';

/** The roles that open the console (auth.tokens[].roles, auth.subjects[].roles). */
export const CONSOLE_ROLES = ['auditor', 'admin'] as const;

export interface ConsoleDeps extends ConsoleApiDeps {
  /** The built shell (default <package>/dist/console-ui). */
  assetsDir?: string;
}

export async function registerConsole(app: FastifyInstance, d: ConsoleDeps): Promise<VerifyJobs> {
  const assets = loadAssets(d.assetsDir ?? defaultAssetsDir());
  let jobs: VerifyJobs | undefined;
  await app.register(async (scope) => {
    scope.addHook('onSend', (_req, reply, payload, done) => {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      done(null, payload);
    });
    scope.get('/console', async (_req, reply) => reply.redirect('/console/', 302));
    const serve = async (name: string, reply: FastifyReply): Promise<FastifyReply> => {
      const asset = assets.get(name);
      if (!asset) {
        if (assets.size === 0)
          throw new ModgateError(
            'CONSOLE_UNAVAILABLE',
            'the console is not built: run npm run build',
          );
        throw new ModgateError('NOT_FOUND', `no console file ${name}`);
      }
      return reply.type(asset.type).send(asset.body);
    };
    scope.get('/console/', async (_req, reply) => serve('index.html', reply));
    scope.get('/console/:name', async (req, reply) =>
      serve((req.params as { name: string }).name, reply),
    );
    jobs = registerConsoleApi(scope, d);
  });
  return jobs!;
}
