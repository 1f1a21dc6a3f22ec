// Bundles the two front ends: the VS Code extension and the `airlock` CLI, with the in-box programs
// (src/sandbox) inside them as text. AIRLOCK_OUTDIR builds somewhere other than dist/.
// ssh2 (via dockerode) tries optional native addons (cpu-features, sshcrypto.node) inside try/catch;
// they stay external so the bundle never ships them and ssh2 falls back to its JavaScript crypto.
//
// The extension is three files, so that activating it loads almost nothing (issue 14 §8):
//   extension.js  the VS Code glue only; it loads core.js on first use (after activation)
//   core.js       src/core/index.ts, everything the front ends call
//   dockerode.js  dockerode with ssh2 and grpc-js (more than the rest of the core), loaded on the
//                 first engine connection (locateEngine.ts imports engineClient.ts dynamically)
//   web-tree-sitter.js  the shell parser's runtime, loaded when the first command is classified
// Compiling code costs in proportion to its size whether it runs or not, so what an early path does
// not need must be in another file, not merely behind a lazy import in the same one. The CLI, which
// needs the engine for nearly every command, stays one file.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { bundleSandboxPrograms } from './src/sandbox/bundlePrograms.cjs';

/** @type {esbuild.Plugin} */
const optionalNatives = {
  name: 'optional-natives',
  setup(build) {
    build.onResolve({ filter: /^cpu-features$|\.node$/ }, (args) => ({ path: args.path, external: true }));
  },
};

// zod's namespaces (`z`, zod/v4/core) carry `locales`: some forty translations of its messages, a
// third of zod in a bundle, which esbuild cannot drop from a namespace object. Airlock's messages
// are English (zod registers `en` itself, from its own import), so the namespace keeps only `en`.
/** @type {esbuild.Plugin} */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      if (!/[\\/]node_modules[\\/]zod[\\/]v4[\\/](classic|core|mini)[\\/]/.test(args.importer)) return undefined;
      return { path: path.resolve(path.dirname(args.importer), '../locales/en.js'), namespace: 'zod-english-only' };
    });
    build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * Makes `import(specifier)` of a module (matched by `filter`, from importers matched by `from`) a
 * load of a sibling bundle at run time. With `dynamic-import` marked unsupported, esbuild emits
 * `Promise.resolve().then(() => require('./file'))`: a plain CommonJS load, which works in every
 * extension host (packaged extensions in some VS Code versions cannot run a real `import()`).
 * @param {string} name @param {RegExp} filter @param {RegExp} from @param {string} file
 * @returns {esbuild.Plugin}
 */
const sibling = (name, filter, from, file) => ({
  name,
  setup(build) {
    build.onResolve({ filter }, (args) => (from.test(args.importer) ? { path: `./${file}`, external: true } : undefined));
  },
});
const coreApart = sibling('core-apart', /^\.\.\/core\/index\.js$/, /[\\/]src[\\/]extension[\\/]/, 'core.js');
const dockerodeApart = sibling('dockerode-apart', /^\.\/engineClient\.js$/, /[\\/]src[\\/]core[\\/]engine[\\/]/, 'dockerode.js');
const treeSitterApart = sibling('web-tree-sitter-apart', /^web-tree-sitter$/, /[\\/]src[\\/]core[\\/]/, 'web-tree-sitter.js');

/** The options of every bundle esbuild.mjs writes; test/unit/lazyModules.test.ts builds the same ones. */
export function frontEndBuilds({ outdir = 'dist', production = false, build = 'dev' } = {}) {
  const common = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: !production,
    minify: production,
    logLevel: 'info',
    plugins: [optionalNatives, zodEnglishOnly],
    // web-tree-sitter's ESM build finds its WASM through import.meta.url, which a CJS bundle lacks;
    // its CJS build uses __dirname-free paths we pass in (shellParser.ts locateFile).
    // jsonc-parser's UMD build (its "main") requires its parts at run time by relative path, which a
    // bundle cannot follow; its ESM build bundles cleanly.
    alias: { 'web-tree-sitter': './node_modules/web-tree-sitter/tree-sitter.cjs', 'jsonc-parser': './node_modules/jsonc-parser/lib/esm/main.js' },
  };
  // The supervisor, scanner and relay the front ends start with `node -e`, bundled first so the
  // front ends never load esbuild (src/core/exec/sandboxPrograms.ts). A watch keeps the text it
  // started with: restart it after changing src/sandbox.
  const withPrograms = { ...common, define: { __AIRLOCK_SANDBOX_PROGRAMS__: JSON.stringify(bundleSandboxPrograms(esbuild)) } };
  const apart = { supported: { 'dynamic-import': false } };
  return {
    extension: { ...common, ...apart, plugins: [...common.plugins, coreApart], entryPoints: ['src/extension/extension.ts'], outfile: path.join(outdir, 'extension.js'), external: ['vscode'] },
    core: { ...withPrograms, ...apart, plugins: [...common.plugins, dockerodeApart, treeSitterApart], entryPoints: ['src/core/index.ts'], outfile: path.join(outdir, 'core.js') },
    dockerode: { ...common, entryPoints: ['src/core/engine/engineClient.ts'], outfile: path.join(outdir, 'dockerode.js') },
    treeSitter: { ...common, entryPoints: ['web-tree-sitter'], outfile: path.join(outdir, 'web-tree-sitter.js') },
    cli: { ...withPrograms, define: { ...withPrograms.define, AIRLOCK_BUILD: JSON.stringify(build) }, entryPoints: ['src/cli/main.ts'], outfile: path.join(outdir, 'cli.js'), banner: { js: '#!/usr/bin/env node' } },
  };
}

/** The shell parser (web-tree-sitter) loads its runtime and the bash grammar as WASM files next to the bundles (src/core/commands/shellParser.ts). */
export const WASM_FILES = ['node_modules/web-tree-sitter/tree-sitter.wasm', 'node_modules/tree-sitter-bash/tree-sitter-bash.wasm'];

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const watch = process.argv.includes('--watch');
  const production = process.argv.includes('--production');
  const outdir = process.env.AIRLOCK_OUTDIR || 'dist';
  // One id per build, shared by cli.js and the launcher: a launcher talks only to a daemon of its own build.
  const build = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const builds = Object.values(frontEndBuilds({ outdir, production, build }));
  const writeLauncher = () => {
    const launcher = path.join(outdir, 'airlock');
    fs.writeFileSync(`${launcher}.tmp`, fs.readFileSync('src/cli/airlock.sh', 'utf8').replace('@AIRLOCK_BUILD@', build), { mode: 0o755 });
    fs.renameSync(`${launcher}.tmp`, launcher);
  };

  fs.mkdirSync(outdir, { recursive: true });
  for (const file of WASM_FILES) fs.copyFileSync(file, path.join(outdir, path.basename(file)));

  if (watch) {
    writeLauncher();
    for (const options of builds) await (await esbuild.context(options)).watch();
  } else {
    await Promise.all(builds.map((options) => esbuild.build(options)));
    writeLauncher();
    // The JSON Schema VS Code validates .airlock.json with (contributes.jsonValidation) comes from the
    // same zod schema as the CLI's validation, through the CLI just built.
    fs.writeFileSync(path.join(outdir, 'airlock-policy.schema.json'), execFileSync(process.execPath, [path.join(outdir, 'cli.js'), 'policy', 'schema']));
  }
}
