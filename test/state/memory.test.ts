import t from 'tap';
import { MemoryBacking, MemoryState } from '../../src/state/memory.js';
import { stateContract } from './contract.js';

let clock = 1_000_000;
stateContract(t, {
  async replicas(n) {
    const backing = new MemoryBacking();
    backing.now = () => clock;
    return Array.from({ length: n }, (_, i) => new MemoryState(`memory-${i}`, backing));
  },
  async expire(ms) {
    clock += ms + 1;
  },
});

t.test('a memory engine that is down refuses with STATE_UNAVAILABLE', async (t) => {
  const s = new MemoryState('r1');
  s.backing.down = true;
  await t.rejects(s.check(), { code: 'STATE_UNAVAILABLE' });
  await t.rejects(s.claimTofu('k', 'v'), { code: 'STATE_UNAVAILABLE' });
  await t.rejects(s.acquire('k', 1000), { code: 'STATE_UNAVAILABLE' });
});
