import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { git, runHost } from '../../src/core/ground/runHost.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

// The bug below is proven in a child process; keep its flaky form out of this process's git calls.
after(removeTempDirs);

const RUN_HOST_SOURCE = path.resolve(process.cwd(), 'src/core/ground/runHost.ts');

describe('runHost', () => {
  test('collects stdout, stderr and the exit code, and feeds input to stdin', async () => {
    const result = await runHost('sh', ['-c', 'cat; echo oops >&2; exit 3'], { input: 'hello' });
    assert.equal(result.code, 3);
    assert.equal(result.stdout.toString(), 'hello');
    assert.equal(result.stderr, 'oops\n');
  });

  test('a program that exits without reading its input still resolves with its exit code', () => {
    // In a separate process, because the bug surfaces as an uncaught exception that kills the process.
    const script = `require(${JSON.stringify(RUN_HOST_SOURCE)}).runHost('true', [], { input: 'x'.repeat(4 << 20) }).then((r) => console.log('resolved ' + r.code));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: process.cwd(), encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.stderr.includes('EPIPE'), false, child.stderr);
    assert.equal(child.status, 0);
    assert.equal(child.stdout.trim(), 'resolved 0');
  });
});

describe('git', () => {
  test('a failing git command rejects with an error naming the command', async () => {
    const dir = makeTempDir();
    await assert.rejects(git(dir, ['rev-parse', '--verify', 'no-such-ref']), /^Error: git rev-parse --verify no-such-ref failed: /);
  });

  test('with allowFailure a failing git command resolves with its exit code', async () => {
    const result = await git(makeTempDir(), ['rev-parse', '--verify', 'no-such-ref'], { allowFailure: true });
    assert.notEqual(result.code, 0);
  });

  test('run from inside a git hook (GIT_DIR, GIT_INDEX_FILE of another repository set), git reads the workspace it was given', async () => {
    const workspace = makeTempDir();
    const other = makeTempDir();
    for (const dir of [workspace, other]) spawnSync('git', ['init', '-q', '-b', dir === workspace ? 'mine' : 'theirs', dir]);
    const saved = { GIT_DIR: process.env.GIT_DIR, GIT_INDEX_FILE: process.env.GIT_INDEX_FILE };
    process.env.GIT_DIR = path.join(other, '.git');
    process.env.GIT_INDEX_FILE = path.join(other, '.git', 'index');
    try {
      const branch = await git(workspace, ['symbolic-ref', '--short', 'HEAD']);
      assert.equal(branch.stdout.toString().trim(), 'mine');
      // A caller that means another index still says so explicitly.
      const explicit = await git(workspace, ['rev-parse', '--git-dir'], { env: { GIT_DIR: path.join(other, '.git') } });
      assert.equal(explicit.stdout.toString().trim(), path.join(other, '.git'));
    } finally {
      for (const [name, value] of Object.entries(saved)) if (value === undefined) delete process.env[name]; else process.env[name] = value;
    }
  });
});
