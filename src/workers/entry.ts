/** The program node:cluster runs in each worker process (see primary.ts). */
import { runWorker } from './worker.js';

await runWorker();
