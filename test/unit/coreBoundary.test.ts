import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(process.cwd(), 'src');

/** `from 'vscode'`, `from "vscode"`, `require('vscode')`, `import('vscode')` (also bare `import 'vscode'`). */
const VSCODE_IMPORT = /(?:\bfrom\s*|\brequire\s*\(\s*|\bimport\s*\(\s*|\bimport\s+)(['"`])vscode\1/;

function tsFilesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(m|c)?tsx?$/.test(entry.name))
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
}

function filesImportingVscode(dir: string): string[] {
  return tsFilesUnder(dir)
    .filter((file) => VSCODE_IMPORT.test(fs.readFileSync(file, 'utf8')))
    .map((file) => path.relative(process.cwd(), file));
}

describe('the vscode boundary', () => {
  test('the pattern recognises every way of importing vscode, and nothing else', () => {
    for (const text of [`import * as vscode from 'vscode';`, `import { window } from "vscode";`, `const v = require('vscode');`, `await import('vscode')`, `import 'vscode';`, `export { x } from 'vscode';`]) {
      assert.ok(VSCODE_IMPORT.test(text), text);
    }
    for (const text of [`import x from 'vscode-languageclient';`, `// the vscode front end`, `import { y } from './vscodeish.js';`]) {
      assert.ok(!VSCODE_IMPORT.test(text), text);
    }
  });

  test('no file under src/core imports or requires vscode', () => {
    const files = tsFilesUnder(path.join(SRC, 'core'));
    assert.ok(files.length >= 20, `expected the core sources, found ${files.length}`);
    assert.deepEqual(filesImportingVscode(path.join(SRC, 'core')), [], 'these core files import vscode');
  });

  test('no file under src/cli imports or requires vscode', () => {
    assert.ok(tsFilesUnder(path.join(SRC, 'cli')).length > 0);
    assert.deepEqual(filesImportingVscode(path.join(SRC, 'cli')), [], 'these CLI files import vscode');
  });

  test('the extension is where vscode is imported', () => {
    assert.ok(filesImportingVscode(path.join(SRC, 'extension')).length > 0);
  });
});
