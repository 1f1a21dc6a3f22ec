import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { sandboxProgram } from '../../src/core/exec/sandboxPrograms.js';

const load = createRequire(__filename);
const { SANDBOX_PROGRAMS, refuseDependencies } = load('../../src/sandbox/bundlePrograms.cjs') as {
  SANDBOX_PROGRAMS: readonly ('supervisor' | 'scanner' | 'relay')[];
  refuseDependencies: (metafile: { inputs: Record<string, { imports: { path: string; external?: boolean }[] }> }) => void;
};

describe('the in-box program bundles', () => {
  test('each program requires node built-ins only: no package from the host runs in the box', () => {
    for (const name of SANDBOX_PROGRAMS) {
      const text = sandboxProgram(name);
      const required = [...text.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((match) => match[1]);
      assert.ok(required.length > 0, `${name} requires something`);
      assert.deepEqual(required.filter((module) => !module.startsWith('node:')), [], `${name} requires only node: modules`);
    }
  });

  test('the bundler refuses a package, a bare built-in, and a host module that has imports of its own', () => {
    const sandbox = path.join('src', 'sandbox');
    const metafile = {
      inputs: {
        [path.join(sandbox, 'relay.ts')]: { imports: [{ path: 'zod', external: true }, { path: 'os', external: true }, { path: 'node:net', external: true }, { path: 'src/core/ground/errors.ts' }] },
        'src/core/ground/errors.ts': { imports: [{ path: 'src/core/ground/printable.ts' }] },
      },
    };
    assert.throws(() => refuseDependencies(metafile), (error: Error) => /imports zod/.test(error.message) && /imports os\b/.test(error.message) && /errors\.ts imports src\/core\/ground\/printable\.ts/.test(error.message) && !/node:net/.test(error.message));
    assert.doesNotThrow(() => refuseDependencies({ inputs: { [path.join(sandbox, 'relay.ts')]: { imports: [{ path: 'node:net', external: true }, { path: 'src/core/egress/relayProtocol.ts' }] }, 'src/core/egress/relayProtocol.ts': { imports: [] } } }));
  });
});
