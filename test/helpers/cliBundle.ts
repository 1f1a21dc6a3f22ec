import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What `npm run build` ships for the CLI: the bundle and the shell parser's two WASM files. */
export const BUNDLE_FILES = ['cli.js', 'tree-sitter.wasm', 'tree-sitter-bash.wasm'];

/**
 * Copies the built CLI into `dir`, away from node_modules, so tests prove the shipped files are
 * all it needs. Returns the path of cli.js.
 */
export function copyBundle(dir: string): string {
  for (const file of BUNDLE_FILES) {
    const source = path.resolve('dist', file);
    assert.ok(fs.existsSync(source), `dist/${file} is missing: run \`npm run build\` first`);
    fs.copyFileSync(source, path.join(dir, file));
  }
  return path.join(dir, 'cli.js');
}
