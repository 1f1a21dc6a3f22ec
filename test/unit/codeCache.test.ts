import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { codeCache } from '../../src/extension/session/codeCache.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);
const nodeRequire = createRequire(__filename);

/** A bundle-like module that counts how often its body runs, and requires a sibling by relative path. */
function bundle(folder: string, name: string): string {
  fs.writeFileSync(path.join(folder, 'sibling.js'), 'exports.answer = 42;\n');
  const file = path.join(folder, name);
  fs.writeFileSync(file, `globalThis.__airlockRuns = (globalThis.__airlockRuns ?? 0) + 1;\nexports.sibling = require('./sibling.js').answer;\nexports.where = __filename;\n${'exports.pad = [' + Array.from({ length: 2000 }, (_, index) => `function f${index}() { return ${index}; }`).join(',') + '].length;'}\n`);
  return file;
}

describe('codeCache (unit)', () => {
  test('the first load compiles and saves a cache; a later load takes it; require then finds the module loaded once', () => {
    const folder = makeTempDir('airlock-code-cache-');
    const cacheFolder = path.join(folder, 'cache');
    const lines: string[] = [];
    const first = bundle(folder, 'first.js');
    const cache = codeCache(cacheFolder, (line) => lines.push(line));
    const runsBefore = (globalThis as { __airlockRuns?: number }).__airlockRuns ?? 0;
    assert.equal(cache.preload(first), 'compiled');
    const loaded = nodeRequire(first) as { sibling: number; where: string; pad: number };
    assert.equal(loaded.sibling, 42, 'require inside the module resolves next to it');
    assert.equal(loaded.where, first);
    assert.equal((globalThis as { __airlockRuns?: number }).__airlockRuns, runsBefore + 1, 'the plain require did not run it again');
    assert.equal(cache.preload(first), 'skipped');
    cache.save();
    const saved = fs.readdirSync(cacheFolder);
    assert.equal(saved.length, 1);
    assert.match(saved[0], /^first\.js\.[0-9a-f]{16}\.v8$/);
    assert.equal((fs.statSync(path.join(cacheFolder, saved[0])).mode & 0o777).toString(8), '600');

    // The same source under another name in require's cache stands for the next host's load.
    const second = path.join(folder, 'second', 'first.js');
    fs.mkdirSync(path.dirname(second));
    fs.copyFileSync(first, second);
    fs.copyFileSync(path.join(folder, 'sibling.js'), path.join(folder, 'second', 'sibling.js'));
    assert.equal(codeCache(cacheFolder, (line) => lines.push(line)).preload(second), 'cached');
    assert.equal((nodeRequire(second) as { sibling: number }).sibling, 42);
    assert.deepEqual(lines, []);
  });

  test('a corrupt cache is refused by V8 and replaced; a changed file gets a cache of its own and the old one goes', () => {
    const folder = makeTempDir('airlock-code-cache-');
    const cacheFolder = path.join(folder, 'cache');
    const file = bundle(folder, 'core.js');
    const cache = codeCache(cacheFolder, () => undefined);
    assert.equal(cache.preload(file), 'compiled');
    cache.save();
    const [name] = fs.readdirSync(cacheFolder);
    fs.writeFileSync(path.join(cacheFolder, name), Buffer.alloc(4096, 7));
    const again = path.join(folder, 'again', 'core.js');
    fs.mkdirSync(path.dirname(again));
    fs.copyFileSync(file, again);
    fs.copyFileSync(path.join(folder, 'sibling.js'), path.join(folder, 'again', 'sibling.js'));
    const next = codeCache(cacheFolder, () => undefined);
    assert.equal(next.preload(again), 'compiled', 'V8 refused the corrupt cache');
    assert.equal((nodeRequire(again) as { sibling: number }).sibling, 42);
    next.save();
    assert.notDeepEqual(fs.readFileSync(path.join(cacheFolder, name)), Buffer.alloc(4096, 7), 'the corrupt cache was replaced');

    const changed = path.join(folder, 'changed', 'core.js');
    fs.mkdirSync(path.dirname(changed));
    fs.writeFileSync(changed, 'exports.version = 2;\n');
    const third = codeCache(cacheFolder, () => undefined);
    assert.equal(third.preload(changed), 'compiled');
    third.save();
    const names = fs.readdirSync(cacheFolder);
    assert.equal(names.length, 1, 'one cache per bundle name');
    assert.notEqual(names[0], name);
  });

  test('a file that does not parse is left to the plain require, which reports it', () => {
    const folder = makeTempDir('airlock-code-cache-');
    const file = path.join(folder, 'broken.js');
    fs.writeFileSync(file, 'exports.x = (;\n');
    const lines: string[] = [];
    assert.equal(codeCache(path.join(folder, 'cache'), (line) => lines.push(line)).preload(file), 'failed');
    assert.match(lines[0], /broken\.js loads without it/);
    assert.throws(() => nodeRequire(file));
    assert.equal(codeCache(path.join(folder, 'cache'), () => undefined).preload(path.join(folder, 'missing.js')), 'skipped');
  });
});
