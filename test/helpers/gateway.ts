import pino from 'pino';
import { validateConfig, type RawConfig } from '../../src/config/load.js';
import { startGateway, type Gateway, type GatewayParts } from '../../src/main.js';

/** Starts a gateway on 127.0.0.1:0 over plain HTTP with a fresh data folder. */
export async function startTestGateway(
  dataDir: string,
  raw: RawConfig,
  parts: GatewayParts = {},
): Promise<Gateway> {
  const config = validateConfig({
    listen: '127.0.0.1:0',
    dataDir,
    tls: { insecureHttp: true },
    allowHttpUpstream: true,
    pinning: 'optional',
    sumdb: 'off',
    http: { retries: 1, retryBaseMs: 5, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 },
    ...raw,
  });
  const gw = await startGateway(config, {
    logger: pino({ level: process.env.MODGATE_TEST_LOG ?? 'silent' }),
    ...parts,
  });
  // Tests count upstream requests: the start-up probe's are done before the test begins.
  await gw.probed;
  return gw;
}
