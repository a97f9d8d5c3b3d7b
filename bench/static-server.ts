/** The baseline for cached hits: fastify over HTTPS serving the same files with no verification, policy or audit. */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { createReadStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

const [dir, port, certFile, keyFile] = process.argv.slice(2) as [string, string, string, string];
const types: Record<string, string> = {
  '.info': 'application/json',
  '.mod': 'text/plain; charset=utf-8',
  '.zip': 'application/zip',
};
const app = Fastify({
  http2: true,
  https: { allowHTTP1: true, cert: readFileSync(certFile), key: readFileSync(keyFile) },
} as never) as unknown as ReturnType<typeof Fastify>;
app.get('/*', async (req: FastifyRequest, reply: FastifyReply) => {
  const file = path.join(dir, (req.params as { '*': string })['*']);
  const st = await stat(file).catch(() => null);
  if (!st?.isFile()) return reply.code(404).send('not found\n');
  return reply
    .header('content-type', types[path.extname(file)] ?? 'application/octet-stream')
    .header('content-length', st.size)
    .send(createReadStream(file));
});
app.get('/healthz', async () => 'ok\n');
await app.listen({ host: '127.0.0.1', port: Number(port) });
