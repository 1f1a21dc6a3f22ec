// Bundles the two front ends: the VS Code extension and the `airlock` CLI, with the in-box programs
// (src/sandbox) inside them as text. AIRLOCK_OUTDIR builds somewhere other than dist/.
// ssh2 (via dockerode) tries optional native addons (cpu-features, sshcrypto.node) inside try/catch;
// they stay external so the bundle never ships them and ssh2 falls back to its JavaScript crypto.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { bundleSandboxPrograms } from './src/sandbox/bundlePrograms.cjs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const outdir = process.env.AIRLOCK_OUTDIR || 'dist';

const optionalNatives = {
  name: 'optional-natives',
  setup(build) {
    build.onResolve({ filter: /^cpu-features$|\.node$/ }, (args) => ({ path: args.path, external: true }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'info',
  plugins: [optionalNatives],
  // web-tree-sitter's ESM build finds its WASM through import.meta.url, which a CJS bundle lacks;
  // its CJS build uses __dirname-free paths we pass in (shellParser.ts locateFile).
  // jsonc-parser's UMD build (its "main") requires its parts at run time by relative path, which a
  // bundle cannot follow; its ESM build bundles cleanly.
  alias: { 'web-tree-sitter': './node_modules/web-tree-sitter/tree-sitter.cjs', 'jsonc-parser': './node_modules/jsonc-parser/lib/esm/main.js' },
  // The supervisor, scanner and relay the front ends start with `node -e`, bundled first so the
  // front ends never load esbuild (src/core/exec/sandboxPrograms.ts). A watch keeps the text it
  // started with: restart it after changing src/sandbox.
  define: { __AIRLOCK_SANDBOX_PROGRAMS__: JSON.stringify(bundleSandboxPrograms(esbuild)) },
};

const builds = [
  { ...common, entryPoints: ['src/extension/extension.ts'], outfile: path.join(outdir, 'extension.js'), external: ['vscode'] },
  { ...common, entryPoints: ['src/cli/main.ts'], outfile: path.join(outdir, 'cli.js'), banner: { js: '#!/usr/bin/env node' } },
];

// The shell parser (web-tree-sitter) loads its runtime and the bash grammar as WASM files at run
// time; they sit next to the bundles, which is where src/core/commands/shellParser.ts looks.
fs.mkdirSync(outdir, { recursive: true });
for (const file of ['node_modules/web-tree-sitter/tree-sitter.wasm', 'node_modules/tree-sitter-bash/tree-sitter-bash.wasm']) fs.copyFileSync(file, path.join(outdir, path.basename(file)));

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
  // The JSON Schema VS Code validates .airlock.json with (contributes.jsonValidation) comes from the
  // same zod schema as the CLI's validation, through the CLI just built.
  fs.writeFileSync(path.join(outdir, 'airlock-policy.schema.json'), execFileSync(process.execPath, [path.join(outdir, 'cli.js'), 'policy', 'schema']));
}
