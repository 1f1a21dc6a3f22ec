import { benchActivation } from './activationBench.js';
process.stdout.write(benchActivation(process.argv[2]).join('\n') + '\n');
