// Worker threads do not inherit the tsx loader of `node --import=tsx`: register it here, then load the probe.
import { register } from 'tsx/esm/api';

register();
await import('./probe-worker.ts');
