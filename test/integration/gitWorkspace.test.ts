import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { readManifest } from '../../src/core/snapshot/snapshotManifest.js';
import { realEngine, run, serviceFor, TEST_IMAGE, tempDir, withTask } from '../helpers/realEngine.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=Host', '-c', 'user.email=host@example.invalid', ...args], { cwd, encoding: 'utf8' }).trim();

/** A repository with history, a remote with credentials, a hook and a credential helper. */
function hostRepository(): string {
  const repo = tempDir('git-ws');
  git(repo, 'init', '-q', '-b', 'main');
  for (let index = 1; index <= 3; index++) {
    fs.writeFileSync(path.join(repo, 'notes.txt'), `version ${index}\n`);
    git(repo, 'add', 'notes.txt');
    git(repo, 'commit', '-qm', `commit ${index}`);
  }
  git(repo, 'branch', 'feature');
  git(repo, 'tag', 'v1');
  git(repo, 'remote', 'add', 'origin', 'https://user:hunter2@example.invalid/repo.git');
  git(repo, 'config', 'credential.helper', 'store');
  fs.writeFileSync(path.join(repo, '.git', 'hooks', 'post-checkout'), '#!/bin/sh\necho pwned\n', { mode: 0o755 });
  fs.writeFileSync(path.join(repo, '.gitignore'), 'build/\n');
  git(repo, 'add', '.gitignore');
  git(repo, 'commit', '-qm', 'ignore build');
  // Uncommitted work: a modification, a new file, an ignored folder, a deletion.
  fs.writeFileSync(path.join(repo, 'notes.txt'), 'version 4 (uncommitted)\n');
  fs.writeFileSync(path.join(repo, 'new.txt'), 'brand new\n');
  fs.mkdirSync(path.join(repo, 'build'));
  fs.writeFileSync(path.join(repo, 'build', 'out.js'), 'generated\n');
  return repo;
}

describe('the private copy of a git workspace (integration)', () => {
  test('history, branches and uncommitted work are there; host config, hooks and credentials are not', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const repo = hostRepository();
    await withTask(service, { workspace: repo, image: TEST_IMAGE }, async (record) => {
      const inTask = async (...argv: string[]) => (await run(service, record.id, argv)).stdout.trimEnd();
      assert.equal(await inTask('git', 'rev-parse', 'HEAD'), git(repo, 'rev-parse', 'HEAD'));
      assert.equal(await inTask('git', 'rev-list', '--count', 'HEAD'), '4');
      assert.equal(await inTask('git', 'branch', '--show-current'), 'main');
      assert.match(await inTask('git', 'branch', '--list'), /feature/);
      assert.equal(await inTask('git', 'tag'), 'v1');
      assert.deepEqual((await inTask('git', 'status', '--porcelain')).split('\n').sort(), [' M notes.txt', '?? new.txt']);
      assert.equal(await inTask('git', 'remote'), '');
      const config = await inTask('sh', '-c', 'cat .git/config; git config --list --show-origin');
      assert.doesNotMatch(config, /hunter2|credential|remote|hooksPath/);
      assert.equal(await inTask('find', '.git', '-path', '*hooks*'), '');
      assert.equal(await inTask('sh', '-c', 'test -e build && echo present || echo absent'), 'absent');
      // The agent can commit normally.
      const commit = await run(service, record.id, ['sh', '-c', 'git -c user.name=Agent -c user.email=agent@example.invalid commit -qam "agent work" && git log --format=%s -1']);
      assert.equal(commit.stdout.trim(), 'agent work');
      // The base snapshot is recorded on the host.
      assert.equal(record.snapshot.kind, 'git');
      assert.equal(record.snapshot.head, git(repo, 'rev-parse', 'HEAD'));
      const manifest = readManifest(record.snapshot.manifestFile);
      assert.deepEqual(manifest.entries.filter((entry) => entry.type === 'file').map((entry) => entry.path).sort(), ['.gitignore', 'new.txt', 'notes.txt']);
    });
  });

  test('a depth setting copies only recent history', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const repo = hostRepository();
    await withTask(service, { workspace: repo, image: TEST_IMAGE, gitDepth: 1 }, async (record) => {
      assert.equal((await run(service, record.id, ['git', 'rev-list', '--count', 'HEAD'])).stdout.trim(), '1');
      assert.equal((await run(service, record.id, ['git', 'rev-parse', '--is-shallow-repository'])).stdout.trim(), 'true');
      assert.equal((await run(service, record.id, ['git', 'status', '--porcelain'])).stdout.trim().split('\n').length, 2);
      assert.equal(record.snapshot.shallow, true);
    });
  });

  test('a repository with no commits starts on its unborn branch with the files untracked', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const repo = tempDir('git-empty');
    git(repo, 'init', '-q', '-b', 'trunk');
    fs.writeFileSync(path.join(repo, 'first.txt'), 'not committed yet\n');
    await withTask(service, { workspace: repo, image: TEST_IMAGE }, async (record) => {
      assert.equal(record.snapshot.kind, 'git');
      assert.equal(record.snapshot.head, undefined);
      assert.notEqual((await run(service, record.id, ['git', 'rev-parse', '--verify', '-q', 'HEAD'])).exitCode, 0);
      assert.equal((await run(service, record.id, ['git', 'symbolic-ref', 'HEAD'])).stdout.trim(), 'refs/heads/trunk');
      assert.equal((await run(service, record.id, ['git', 'status', '--porcelain'])).stdout.trim(), '?? first.txt');
      const commit = await run(service, record.id, ['sh', '-c', 'git add -A && git -c user.name=Agent -c user.email=agent@example.invalid commit -qm first && git rev-list --count HEAD']);
      assert.equal(commit.stdout.trim(), '1', commit.stderr);
    });
  });

  test('a shallow host clone keeps its boundary and still loses the secret paths', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const origin = hostRepository();
    fs.writeFileSync(path.join(origin, '.env'), 'TOKEN=shallow-hunter2\n');
    git(origin, 'add', '.env');
    git(origin, 'commit', '-qm', 'track .env');
    const repo = path.join(tempDir('git-shallow'), 'clone');
    git(origin, 'clone', '-q', '--depth', '2', `file://${origin}`, repo);
    await withTask(service, { workspace: repo, image: TEST_IMAGE }, async (record) => {
      const inTask = (...argv: string[]) => run(service, record.id, argv);
      assert.equal(record.snapshot.shallow, true);
      assert.equal((await inTask('git', 'rev-parse', '--is-shallow-repository')).stdout.trim(), 'true');
      assert.equal((await inTask('git', 'rev-list', '--count', 'HEAD')).stdout.trim(), '2');
      const fsck = await inTask('git', 'fsck', '--full', '--no-progress');
      assert.equal(fsck.exitCode, 0, fsck.stderr);
      const all = await inTask('git', 'cat-file', '--batch-all-objects', '--batch');
      assert.doesNotMatch(all.stdout, /shallow-hunter2/);
      assert.match(all.stdout, /track \.env/);
    });
  });

  test('a repository that borrows objects through alternates arrives self-contained', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const origin = hostRepository();
    const repo = path.join(tempDir('git-alternates'), 'shared');
    git(origin, 'clone', '-q', '--shared', origin, repo);
    assert.ok(fs.existsSync(path.join(repo, '.git', 'objects', 'info', 'alternates')));
    await withTask(service, { workspace: repo, image: TEST_IMAGE }, async (record) => {
      const inTask = (...argv: string[]) => run(service, record.id, argv);
      assert.equal((await inTask('git', 'rev-parse', 'HEAD')).stdout.trim(), git(repo, 'rev-parse', 'HEAD'));
      assert.equal((await inTask('git', 'rev-list', '--count', 'HEAD')).stdout.trim(), '4');
      assert.equal((await inTask('sh', '-c', 'test -e .git/objects/info/alternates && echo present || echo absent')).stdout.trim(), 'absent');
      const fsck = await inTask('git', 'fsck', '--full', '--no-progress');
      assert.equal(fsck.exitCode, 0, fsck.stderr);
    });
  });

  test('a linked worktree is copied as plain files without any history', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const main = hostRepository();
    const worktree = path.join(tempDir('git-worktree'), 'wt');
    git(main, 'worktree', 'add', '-q', worktree, 'feature');
    await withTask(service, { workspace: worktree, image: TEST_IMAGE }, async (record) => {
      assert.equal(record.snapshot.kind, 'folder');
      assert.equal((await run(service, record.id, ['sh', '-c', 'test -e .git && echo present || echo absent'])).stdout.trim(), 'absent');
      assert.equal((await run(service, record.id, ['cat', 'notes.txt'])).stdout, 'version 3\n');
    });
  });
});
