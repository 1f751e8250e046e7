import { ProcessTreeMemory } from './process-tree-memory';
const m = new ProcessTreeMemory(1000000);
const t = performance.now(); for (let i = 0; i < 20; i++) { m.start(); } console.log('per sample ms', (performance.now() - t) / 20, m.stop());
