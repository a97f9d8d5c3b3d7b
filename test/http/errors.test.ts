import t from 'tap';
import { ModgateError } from '../../src/errors.js';
import { toHttpError } from '../../src/http/errors.js';

// Codes become statuses in one place; fastify's refusals of a request keep their meaning.

const fastifyError = (statusCode: number, code = 'FST_ERR_X') =>
  Object.assign(new Error('refused'), { statusCode, code });

t.test("fastify's client errors keep a 4xx status with a stable code", async (t) => {
  t.match(toHttpError(fastifyError(413, 'FST_ERR_CTP_BODY_TOO_LARGE')), {
    status: 413,
    error: { code: 'REQUEST_TOO_LARGE' },
  });
  t.match(toHttpError(fastifyError(415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE')), {
    status: 415,
    error: { code: 'REQUEST_MEDIA_TYPE_UNSUPPORTED' },
  });
  t.match(toHttpError(Object.assign(new SyntaxError('Unexpected token'), { statusCode: 400 })), {
    status: 400,
    error: { code: 'REQUEST_INVALID' },
    body: /^REQUEST_INVALID: /,
  });
  t.match(toHttpError(fastifyError(404, 'FST_ERR_NOT_FOUND')), {
    status: 404,
    error: { code: 'NOT_FOUND' },
  });
});

t.test('anything else stays internal, and its message is not shown', async (t) => {
  for (const err of [new Error('secret detail'), fastifyError(500), fastifyError(302), 'text']) {
    const h = toHttpError(err);
    t.equal(h.status, 500);
    t.equal(h.error.code, 'INTERNAL');
    t.notMatch(h.body, /secret/);
  }
  const own = new ModgateError('UPSTREAM_TIMEOUT', 'slow', {});
  Object.assign(own, { statusCode: 400 });
  t.match(toHttpError(own), { status: 504, error: { code: 'UPSTREAM_TIMEOUT' } }, 'own codes win');
});
