// @ts-check
'use strict';
/**
 * How the in-box programs (supervisor.ts, scanner.ts, relay.ts beside this file) become the source
 * text Airlock sends with `node -e`. One definition for esbuild.mjs, which injects the result into
 * the shipped bundles, and for src/core/exec/sandboxPrograms.ts, which bundles at first use when
 * Airlock runs from source (tests, bench). Plain CommonJS so both load it without a TS loader.
 */
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const SANDBOX_PROGRAMS = /** @type {const} */ (['supervisor', 'scanner', 'relay']);

/**
 * The programs run on whatever node the image ships (Debian bookworm's is 18) with nothing
 * installed, so they may use node built-ins only, and whatever they share with the host must be a
 * module without imports of its own (a protocol): host code would drag its packages into the box.
 * @param {import('esbuild').Metafile} metafile
 */
function refuseDependencies(metafile) {
  const problems = [];
  for (const [file, input] of Object.entries(metafile.inputs)) {
    const inSandbox = path.resolve(ROOT, file).startsWith(__dirname + path.sep);
    for (const imported of input.imports) {
      if (imported.external ? !imported.path.startsWith('node:') : !inSandbox) problems.push(`${file} imports ${imported.path}`);
    }
  }
  if (problems.length) {
    throw new Error(`the in-box programs may import only node built-ins (as node:NAME), their own modules, and host modules without imports:\n  ${problems.join('\n  ')}`);
  }
}

/**
 * Bundles every in-box program: CommonJS for node 18 ("use strict" comes from the tsconfig's
 * strict), unminified: the text is what `ps` shows in the box and stack traces from it stay
 * readable, and the three together are under 20 KB (one `node -e` argument may be 128 KiB).
 * @param {typeof import('esbuild')} esbuild
 * @returns {Record<typeof SANDBOX_PROGRAMS[number], string>}
 */
function bundleSandboxPrograms(esbuild) {
  const result = esbuild.buildSync({
    absWorkingDir: ROOT,
    entryPoints: SANDBOX_PROGRAMS.map((name) => path.join(__dirname, `${name}.ts`)),
    tsconfig: path.join(__dirname, 'tsconfig.json'),
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    packages: 'external',
    legalComments: 'none',
    metafile: true,
    write: false,
    outdir: path.join(__dirname, 'out'),
    logLevel: 'silent',
  });
  refuseDependencies(result.metafile);
  /** @type {Record<string, string>} */
  const programs = {};
  for (const file of result.outputFiles) programs[path.basename(file.path, '.js')] = file.text;
  for (const name of SANDBOX_PROGRAMS) if (!programs[name]) throw new Error(`esbuild produced no ${name}.js`);
  return /** @type {Record<typeof SANDBOX_PROGRAMS[number], string>} */ (programs);
}

module.exports = { SANDBOX_PROGRAMS, bundleSandboxPrograms, refuseDependencies };
