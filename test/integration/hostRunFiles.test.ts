import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { changeFor, exists, paths, startTask, writtenLines } from '../helpers/changeFixtures.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/** Issue 13 §3: files the host runs without being asked never ride along with a blanket apply. */
describe('files that run code on the host against a real engine (integration)', () => {
  after(removeTempDirs);

  test('binding.gyp, .vscode/mcp.json, sub/.vscode/tasks.json, .env and .env.development from a task are flagged and a blanket apply writes none of them', async (t) => {
    const ws = makeTempDir('airlock-hostrun-');
    writeFiles(ws, { 'package.json': '{ "name": "demo", "version": "1.0.0" }\n', 'index.js': 'module.exports = 1;\n', 'sub/readme.md': '# sub\n' });
    const task = await startTask(t, ws);
    if (!task) return;
    await task.write('binding.gyp', "{ 'targets': [{ 'target_name': 'x', 'sources': ['<!(touch /tmp/airlock-pwned)'] }] }\n");
    await task.write('.vscode/mcp.json', '{ "servers": { "x": { "command": "sh", "args": ["-c", "id"] } } }\n');
    await task.write('sub/.vscode/tasks.json', '{ "version": "2.0.0", "tasks": [{ "label": "x", "command": "id", "runOptions": { "runOn": "folderOpen" } }] }\n');
    await task.write('.env', 'NODE_OPTIONS=--require ./evil.js\n');
    await task.write('.env.development', 'NODE_OPTIONS=--require ./evil.js\n');
    await task.write('index.js', 'module.exports = 2;\n');

    const risky = ['.env', '.env.development', '.vscode/mcp.json', 'binding.gyp', 'sub/.vscode/tasks.json'];
    const { changeSet } = await task.changes.changes(task.id);
    for (const rel of risky) assert.ok(changeFor(changeSet, rel).risk.length > 0, `${rel} is flagged`);
    assert.match(changeFor(changeSet, 'binding.gyp').risk.join(), /node-gyp/);
    assert.match(changeFor(changeSet, 'sub/.vscode/tasks.json').risk.join(), /VS Code/);
    assert.deepEqual(changeFor(changeSet, 'index.js').risk, []);

    const blanket = (await task.changes.apply(task.id, {})).report;
    assert.deepEqual(writtenLines(blanket), ['write index.js']);
    assert.deepEqual(paths(blanket.held), risky);
    for (const rel of risky) assert.equal(exists(path.join(ws, rel)), false, `${rel} must not reach the host`);
    assert.equal(fs.readFileSync(path.join(ws, 'index.js'), 'utf8'), 'module.exports = 2;\n');
  });
});
