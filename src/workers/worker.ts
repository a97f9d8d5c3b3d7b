/**
 * A worker process of `modgate serve` with server.workers: it waits for its
 * slot and config from the primary, runs the whole gateway on the shared
 * listen address, and drains on SIGTERM/SIGINT or when the primary goes away
 * (a worker never outlives its primary: another primary could start the same
 * slots and write the same audit chains).
 */
import { startGateway, type Gateway } from '../main.js';
import { isModgateError } from '../errors.js';
import { CoordinationClient, type Channel } from '../state/coordinator.js';
import { isStart, type FailedMessage, type StartMessage } from './protocol.js';

function channel(): Channel {
  return {
    send: (m) => process.send?.(m),
    listen(onMessage) {
      process.on('message', onMessage);
      return () => process.off('message', onMessage);
    },
  };
}

function waitForStart(): Promise<StartMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if (!isStart(m)) return;
      process.off('message', onMessage);
      process.off('disconnect', onGone);
      resolve(m);
    };
    const onGone = (): void => reject(new Error('the primary process went away before the start'));
    process.on('message', onMessage);
    process.once('disconnect', onGone);
    // Messages that arrive before a listener exists are lost: ask only now.
    process.send?.({ t: 'hello' });
  });
}

function sendAndExit(m: FailedMessage, code: number): void {
  const exit = (): never => process.exit(code);
  if (!process.connected) exit();
  process.send?.(m, undefined, {}, exit);
  setTimeout(exit, 2000).unref();
}

export async function runWorker(): Promise<void> {
  if (!process.send) throw new Error('a worker runs under its primary (modgate serve --workers N)');
  const start = await waitForStart().catch(() => process.exit(1));
  const coordinator =
    start.config.state.kind === 'local' ? new CoordinationClient(channel()) : undefined;
  let gw: Gateway;
  try {
    gw = await startGateway(start.config, {
      worker: {
        slot: start.slot,
        announce: start.announce,
        ...(coordinator ? { coordinator } : {}),
      },
    });
  } catch (err) {
    const code = isModgateError(err) ? err.code : 'INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    return sendAndExit({ t: 'failed', code, message }, 1);
  }
  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    gw.app.log.info(
      { why, slot: start.slot },
      'worker shutting down: finishing in-flight responses',
    );
    await gw.close().catch((err: unknown) => gw.app.log.error({ err }, 'worker close failed'));
    coordinator?.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  // A worker never outlives its primary: a new primary would start this slot again. What it
  // acknowledged is durable; what is in flight fails as with kill -9 of the whole group.
  process.once('disconnect', () => {
    if (!stopping) process.exit(1);
  });
  process.send({ t: 'ready', url: gw.url });
}
