// Bundles the two front ends: the VS Code extension and the `airlock` CLI.
// ssh2 (via dockerode) tries optional native addons (cpu-features, sshcrypto.node) inside try/catch;
// they stay external so the bundle never ships them and ssh2 falls back to its JavaScript crypto.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

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
};

const builds = [
  { ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] },
  { ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
];

// The shell parser (web-tree-sitter) loads its runtime and the bash grammar as WASM files at run
// time; they sit next to the bundles, which is where src/core/commands/shellParser.ts looks.
fs.mkdirSync('dist', { recursive: true });
for (const file of ['node_modules/web-tree-sitter/tree-sitter.wasm', 'node_modules/tree-sitter-bash/tree-sitter-bash.wasm']) fs.copyFileSync(file, `dist/${file.split('/').pop()}`);

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
  // The JSON Schema VS Code validates .airlock.json with (contributes.jsonValidation) comes from the
  // same zod schema as the CLI's validation, through the CLI just built.
  fs.writeFileSync('dist/airlock-policy.schema.json', execFileSync(process.execPath, ['dist/cli.js', 'policy', 'schema']));
}
