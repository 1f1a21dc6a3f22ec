import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_SECRET_FILE_PATTERNS } from '../../src/core/config/taskOptions.js';
import { buildGitMetadata, type GitMetadata } from '../../src/core/snapshot/gitMetadata.js';
import { initRepo, makeTempDir, removeTempDirs, runGit, writeFiles } from '../helpers/tempWorkspace.js';

/** The sandbox's .git as buildGitMetadata describes it, written to a folder so host git can read it. */
function materialise(meta: GitMetadata): string {
  const box = makeTempDir('airlock-box-');
  for (const dir of meta.dirs) fs.mkdirSync(path.join(box, '.git', dir), { recursive: true });
  for (const entry of meta.entries) {
    const file = path.join(box, '.git', entry.name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'content' in entry ? entry.content : fs.readFileSync(entry.file));
  }
  if (meta.cleanup) fs.rmSync(meta.cleanup, { recursive: true, force: true });
  return box;
}

const allObjects = (box: string) => execFileSync('git', ['cat-file', '--batch-all-objects', '--batch'], { cwd: box, env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } }).toString('latin1');

after(() => removeTempDirs());

describe('the history a sandbox gets (unit, host git only)', () => {
  test('an .npmrc or .bundle/config that once carried a credential is removed by content; clean ones are kept', async () => {
    const repo = makeTempDir('airlock-hist-');
    initRepo(repo, { '.npmrc': '//r/:_authToken=NPMTOKEN-hunter2\n', 'pkg/.npmrc': 'registry=https://registry.example.invalid/\n', 'a.txt': 'a\n', '.bundle/config': 'BUNDLE_GEMS__EXAMPLE__COM: "u:BUNDLE-hunter2"\n', 'lib/config': 'BUNDLE_GEMS__EXAMPLE__COM: not a bundler file\n' });
    writeFiles(repo, { '.npmrc': 'registry=https://registry.example.invalid/\n' });
    runGit(repo, 'commit', '-qam', 'clean now');
    const meta = await buildGitMetadata(repo, path.join(repo, '.git'), undefined, DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual(meta.removedFromHistory, ['.bundle/config', '.npmrc']);
    const box = materialise(meta);
    assert.doesNotMatch(allObjects(box), /NPMTOKEN-hunter2|BUNDLE-hunter2/);
    assert.match(runGit(box, 'show', 'HEAD:lib/config'), /not a bundler file/);
    assert.equal(runGit(box, 'show', 'HEAD:.npmrc'), 'registry=https://registry.example.invalid/\n');
    assert.equal(runGit(box, 'show', 'HEAD~1:pkg/.npmrc'), 'registry=https://registry.example.invalid/\n');
    assert.equal(runGit(box, 'ls-tree', '--name-only', 'HEAD~1'), 'a.txt\nlib\npkg\n');
  });

  test('a secret folder pattern removes the folder at any depth; a root-anchored pattern only at the root', async () => {
    const repo = makeTempDir('airlock-hist-');
    initRepo(repo, { 'deep/er/.aws/credentials': 'AWSKEY-hunter2\n', 'config/prod.yml': 'PRODKEY-hunter2\n', 'lib/config/prod.yml': 'not a secret here\n' });
    const meta = await buildGitMetadata(repo, path.join(repo, '.git'), undefined, [...DEFAULT_SECRET_FILE_PATTERNS, '**/.aws/', '/config/prod.yml']);
    assert.deepEqual(meta.removedFromHistory, ['config/prod.yml', 'deep/er/.aws']);
    const box = materialise(meta);
    assert.doesNotMatch(allObjects(box), /AWSKEY-hunter2|PRODKEY-hunter2/);
    assert.equal(runGit(box, 'ls-tree', '-r', '--name-only', 'HEAD'), 'lib/config/prod.yml\n');
  });

  test('history that never held a secret keeps its commit and tag ids', async () => {
    const repo = makeTempDir('airlock-hist-');
    initRepo(repo, { 'a.txt': 'one\n' });
    runGit(repo, 'tag', '-a', '-m', 'first', 'v1');
    writeFiles(repo, { 'a.txt': 'two\n' });
    runGit(repo, 'commit', '-qam', 'two');
    const meta = await buildGitMetadata(repo, path.join(repo, '.git'), undefined, DEFAULT_SECRET_FILE_PATTERNS);
    assert.equal(meta.rewrittenCommits, 0);
    assert.equal(meta.sandboxHead, meta.head);
    const box = materialise(meta);
    assert.equal(runGit(box, 'rev-parse', 'v1'), runGit(repo, 'rev-parse', 'v1'));
    assert.equal(runGit(box, 'fsck', '--full', '--strict', '--no-progress'), '');
  });

  test('an annotated tag on a rewritten commit names the rewritten commit; a tag of a secret blob is left out', async () => {
    const repo = makeTempDir('airlock-hist-');
    initRepo(repo, { '.env': 'TAGGED-hunter2\n', 'a.txt': 'a\n' });
    runGit(repo, 'tag', '-a', '-m', 'release', 'v1');
    const blob = runGit(repo, 'rev-parse', 'HEAD:.env').trim();
    runGit(repo, 'tag', 'secret-blob', blob);
    runGit(repo, 'tag', '-a', '-m', 'blob tag', 'secret-blob-annotated', blob);
    const meta = await buildGitMetadata(repo, path.join(repo, '.git'), undefined, DEFAULT_SECRET_FILE_PATTERNS);
    const box = materialise(meta);
    assert.doesNotMatch(allObjects(box), /TAGGED-hunter2/);
    assert.equal(runGit(box, 'tag'), 'v1\n');
    assert.equal(runGit(box, 'rev-parse', 'v1^{commit}'), runGit(box, 'rev-parse', 'HEAD'));
    assert.match(runGit(box, 'cat-file', '-p', 'v1'), /\n\nrelease\n$/);
    assert.equal(runGit(box, 'fsck', '--full', '--strict', '--no-progress'), '');
  });

  test('a history that never held a secret crosses as it is, without its stash, unreachable objects or tags of other objects', async () => {
    const repo = makeTempDir('airlock-hist-');
    initRepo(repo, { 'a.txt': 'a\n', 'src/b.ts': 'export const b = 1;\n' });
    writeFiles(repo, { 'src/b.ts': 'export const b = 2;\n' });
    runGit(repo, 'commit', '-qam', 'two');
    runGit(repo, 'tag', '-a', '-m', 'release', 'v1');
    runGit(repo, 'tag', 'light', 'HEAD~1');
    const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: repo, input: 'BLOB-TAGGED-hunter2\n' }).toString().trim();
    runGit(repo, 'tag', 'blob-tag', blob);
    execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: repo, input: 'LOOSE-hunter2\n' });
    runGit(repo, 'checkout', '-q', '-b', 'gone');
    writeFiles(repo, { 'a.txt': 'DANGLING-hunter2\n' });
    runGit(repo, 'commit', '-qam', 'soon dangling');
    runGit(repo, 'checkout', '-q', 'main');
    runGit(repo, 'branch', '-q', '-D', 'gone');
    writeFiles(repo, { 'a.txt': 'STASH-hunter2\n' });
    runGit(repo, 'stash', '-q');
    const host = runGit(repo, 'rev-parse', 'HEAD').trim();
    const meta = await buildGitMetadata(repo, path.join(repo, '.git'), undefined, DEFAULT_SECRET_FILE_PATTERNS);
    assert.equal(meta.historyCopy, 'as-is', 'no tree needed reading');
    assert.equal(meta.sandboxHead, host);
    const box = materialise(meta);
    assert.doesNotMatch(allObjects(box), /hunter2/);
    assert.equal(runGit(box, 'rev-parse', 'HEAD'), `${host}\n`);
    assert.equal(runGit(box, 'tag'), 'light\nv1\n');
    assert.equal(runGit(box, 'show', 'HEAD:src/b.ts'), 'export const b = 2;\n');
    assert.equal(runGit(box, 'fsck', '--full', '--strict', '--no-progress'), '');
  });

  test('a secret path anywhere in the history, or a config judged by content, sends it through the filter', async () => {
    const cases: Array<Record<string, string>> = [{ 'old/.env': 'X=1\n' }, { '.npmrc': 'registry=https://registry.example.invalid/\n' }, { 'home/.ssh/known_hosts': 'h\n' }];
    for (const files of cases) {
      const repo = makeTempDir('airlock-hist-');
      initRepo(repo, { 'a.txt': 'a\n', ...files });
      runGit(repo, 'rm', '-rq', Object.keys(files)[0]);
      runGit(repo, 'commit', '-qm', 'removed');
      const meta = await buildGitMetadata(repo, path.join(repo, '.git'), undefined, DEFAULT_SECRET_FILE_PATTERNS);
      assert.equal(meta.historyCopy, 'filtered', Object.keys(files)[0]);
    }
  });

  test('a config blob over the content-check limit in an old commit is removed without being read whole', async () => {
    const repo = makeTempDir('airlock-hist-');
    initRepo(repo, { 'a.txt': 'a\n', '.npmrc': `registry=https://registry.example.invalid/\n${'#'.repeat(3 * 1024 * 1024)}\n` });
    runGit(repo, 'rm', '-q', '.npmrc');
    runGit(repo, 'commit', '-qm', 'gone');
    const meta = await buildGitMetadata(repo, path.join(repo, '.git'), undefined, DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual(meta.removedFromHistory, ['.npmrc']);
    assert.equal(runGit(materialise(meta), 'ls-tree', '--name-only', 'HEAD~1'), 'a.txt\n');
  });

  test('a sha256 repository is filtered with sha256 ids', async () => {
    const repo = makeTempDir('airlock-hist-');
    runGit(repo, 'init', '-q', '-b', 'main', '--object-format=sha256');
    writeFiles(repo, { '.env': 'SHA256-hunter2\n', 'a.txt': 'a\n' });
    runGit(repo, 'add', '-A');
    runGit(repo, 'commit', '-qm', 'one');
    const meta = await buildGitMetadata(repo, path.join(repo, '.git'), undefined, DEFAULT_SECRET_FILE_PATTERNS);
    assert.match(meta.sandboxHead ?? '', /^[0-9a-f]{64}$/);
    const box = materialise(meta);
    assert.doesNotMatch(allObjects(box), /SHA256-hunter2/);
    assert.equal(runGit(box, 'ls-tree', '--name-only', 'HEAD'), 'a.txt\n');
    assert.equal(runGit(box, 'fsck', '--full', '--strict', '--no-progress'), '');
  });
});
