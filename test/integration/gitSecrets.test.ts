import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { EngineConnection } from '../../src/core/engine/locateEngine.js';
import type { TaskRecord } from '../../src/core/state/taskRecord.js';
import type { TaskService } from '../../src/core/task/taskService.js';
import { realEngine, run, serviceFor, TEST_IMAGE, tempDir } from '../helpers/realEngine.js';

/**
 * The red team's workspace (issue 13 §2): a tracked .env, a secret committed and later deleted, a
 * stash, a blob staged then unstaged, plus secrets the same rules cover elsewhere in history (a
 * key under a nested .ssh/, an .npmrc that once carried a token). Every secret string below must
 * be unreadable inside the sandbox by any git command or object listing.
 */
const SECRETS = {
  trackedEnv: 'TRACKED-ENV-hunter2-7f3a',
  deletedEnv: 'DELETED-ENV-hunter2-91bc',
  stashed: 'STASHED-hunter2-44de',
  unstaged: 'UNSTAGED-BLOB-hunter2-0c11',
  nestedKey: 'NESTED-SSH-KEY-hunter2-5e02',
  npmToken: 'NPM-TOKEN-hunter2-a9d7',
};
const ANY_SECRET = new RegExp(Object.values(SECRETS).join('|'));

const GIT_ENV = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=Host', '-c', 'user.email=host@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
const write = (repo: string, rel: string, content: string) => {
  fs.mkdirSync(path.dirname(path.join(repo, rel)), { recursive: true });
  fs.writeFileSync(path.join(repo, rel), content);
};

function redTeamRepository(): string {
  const repo = tempDir('git-secrets');
  git(repo, 'init', '-q', '-b', 'main');
  write(repo, 'README.md', 'project\n');
  write(repo, 'old/.env.production', `API_KEY=${SECRETS.deletedEnv}\n`);
  write(repo, 'deploy/.ssh/id_ed25519', `-----BEGIN OPENSSH PRIVATE KEY-----\n${SECRETS.nestedKey}\n`);
  write(repo, '.npmrc', `//registry.npmjs.org/:_authToken=${SECRETS.npmToken}\n`);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'first, with secrets');
  git(repo, 'tag', '-a', '-m', 'release one', 'v1');
  git(repo, 'rm', '-q', '-r', 'old/.env.production', 'deploy/.ssh');
  write(repo, '.npmrc', 'registry=https://registry.npmjs.org/\n');
  git(repo, 'add', '.npmrc');
  git(repo, 'commit', '-qm', 'remove the secrets');
  git(repo, 'branch', 'feature');
  write(repo, '.env', `DB_PASSWORD=${SECRETS.trackedEnv}\n`);
  write(repo, 'src/app.js', 'console.log(1);\n');
  git(repo, 'add', '.env', 'src/app.js');
  git(repo, 'commit', '-qm', 'track .env');
  // A stash, then a blob that was staged and unstaged again: both only in the object store.
  write(repo, 'src/app.js', `console.log("${SECRETS.stashed}");\n`);
  git(repo, 'stash', '-q');
  write(repo, 'notes.txt', `${SECRETS.unstaged}\n`);
  git(repo, 'add', 'notes.txt');
  git(repo, 'rm', '-q', '--cached', 'notes.txt');
  fs.rmSync(path.join(repo, 'notes.txt'));
  // The host itself still reads every secret: the attack is only about what the sandbox gets.
  assert.match(git(repo, 'show', 'HEAD:.env'), new RegExp(SECRETS.trackedEnv));
  assert.match(git(repo, 'cat-file', '--batch-all-objects', '--batch'), new RegExp(SECRETS.unstaged));
  return repo;
}

/** Every object in the sandbox's object store, reachable or not, decompressed. */
const ALL_OBJECTS = ['git', 'cat-file', '--batch-all-objects', '--batch'];

describe('secret files left out of the copy are not readable through its git objects (integration)', () => {
  let engine: EngineConnection | undefined;
  let service: TaskService;
  let record: TaskRecord;
  let repo: string;
  const inTask = async (...argv: string[]) => run(service, record.id, argv);
  const needEngine = async (t: TestContext) => {
    engine ??= await realEngine(t);
    return engine !== undefined && record !== undefined;
  };

  before(async () => {
    engine = await realEngine({ skip: () => undefined } as unknown as TestContext);
    if (!engine) return;
    service = serviceFor(engine).service;
    repo = redTeamRepository();
    record = await service.start({ workspace: repo, image: TEST_IMAGE });
  });

  after(async () => {
    if (!record) return;
    await service.stop(record.id).catch(() => undefined);
    service.dispose();
  });

  test('a tracked .env is not readable through HEAD', async (t) => {
    if (!(await needEngine(t))) return;
    assert.deepEqual(record.snapshot.excluded, ['.env']);
    const show = await inTask('git', 'show', 'HEAD:.env');
    assert.notEqual(show.exitCode, 0, 'HEAD:.env must not exist in the sandbox');
    assert.doesNotMatch(show.stdout + show.stderr, ANY_SECRET);
    assert.equal((await inTask('git', 'ls-tree', '-r', '--name-only', 'HEAD')).stdout.split('\n').filter(Boolean).sort().join(' '), '.npmrc README.md src/app.js');
    // The rewritten HEAD matches the copied files: .env is neither tracked nor shown as deleted.
    assert.equal((await inTask('git', 'status', '--porcelain')).stdout.trim(), '');
  });

  test('a deleted secret in history is not readable', async (t) => {
    if (!(await needEngine(t))) return;
    for (const spec of ['HEAD~2:old/.env.production', 'v1:old/.env.production', 'HEAD~2:deploy/.ssh/id_ed25519', 'HEAD~2:.npmrc']) {
      const show = await inTask('git', 'show', spec);
      assert.notEqual(show.exitCode, 0, `${spec} must not exist in the sandbox`);
      assert.doesNotMatch(show.stdout + show.stderr, ANY_SECRET);
    }
    const log = await inTask('git', 'log', '--all', '-p', '--full-history', '--format=%H %s');
    assert.equal(log.exitCode, 0, log.stderr);
    assert.doesNotMatch(log.stdout, ANY_SECRET);
    // The history is all there, only without the secret paths; the clean later .npmrc is kept.
    assert.equal((await inTask('git', 'log', '--format=%s', 'HEAD')).stdout.trim(), 'track .env\nremove the secrets\nfirst, with secrets');
    assert.equal((await inTask('git', 'show', 'HEAD~1:.npmrc')).stdout.trim(), 'registry=https://registry.npmjs.org/');
    assert.equal((await inTask('git', 'branch', '--list', '--format=%(refname:short)')).stdout.trim(), 'feature\nmain');
    assert.equal((await inTask('git', 'tag')).stdout.trim(), 'v1');
    assert.match((await inTask('git', 'cat-file', '-p', 'v1')).stdout, /\n\nrelease one\n$/);
  });

  test('a stash and an unstaged blob are not in the box', async (t) => {
    if (!(await needEngine(t))) return;
    assert.equal((await inTask('git', 'stash', 'list')).stdout.trim(), '');
    const refs = await inTask('git', 'for-each-ref', '--format=%(refname)');
    assert.equal(refs.stdout.trim(), 'refs/heads/feature\nrefs/heads/main\nrefs/tags/v1');
    const fsck = await inTask('git', 'fsck', '--full', '--strict', '--unreachable', '--no-progress');
    assert.equal(fsck.exitCode, 0, fsck.stderr);
    assert.equal(fsck.stdout.trim(), '', 'no unreachable objects');
  });

  test('`git cat-file --batch-all-objects --batch` inside the box shows no secret byte', async (t) => {
    if (!(await needEngine(t))) return;
    const all = await inTask(...ALL_OBJECTS);
    assert.equal(all.exitCode, 0, all.stderr);
    assert.match(all.stdout, /track \.env/, 'the listing did read the commits');
    assert.doesNotMatch(all.stdout, ANY_SECRET);
    // Nor anywhere on the workspace volume, compressed or not (git's own files included).
    const grep = await inTask('sh', '-c', `grep -r -a -l -E '${Object.values(SECRETS).join('|')}' /workspace; git count-objects -v | grep -E '^(count|size-garbage)'`);
    assert.equal(grep.stdout.trim(), 'count: 0\nsize-garbage: 0');
  });

  test('commit ids: the host HEAD stays the push base; the box keeps authors, dates and messages', async (t) => {
    if (!(await needEngine(t))) return;
    const format = '--format=%an %ae %at %cn %ce %ct %s';
    assert.equal(record.snapshot.head, git(repo, 'rev-parse', 'HEAD'));
    assert.equal((await inTask('git', 'log', format, 'HEAD')).stdout.trim(), git(repo, 'log', format, 'HEAD'));
    assert.notEqual((await inTask('git', 'rev-parse', 'HEAD')).stdout.trim(), record.snapshot.head, 'commits that lost a secret are new commits');
  });

  test('--git-depth 1 does not leak HEAD:.env', async (t) => {
    const shallowEngine = await realEngine(t);
    if (!shallowEngine) return;
    const shallowService = serviceFor(shallowEngine).service;
    const shallowRecord = await shallowService.start({ workspace: redTeamRepository(), image: TEST_IMAGE, gitDepth: 1 });
    try {
      const inShallow = (...argv: string[]) => run(shallowService, shallowRecord.id, argv);
      const show = await inShallow('git', 'show', 'HEAD:.env');
      assert.notEqual(show.exitCode, 0);
      assert.doesNotMatch(show.stdout + show.stderr, ANY_SECRET);
      const all = await inShallow(...ALL_OBJECTS);
      assert.equal(all.exitCode, 0, all.stderr);
      assert.doesNotMatch(all.stdout, ANY_SECRET);
      assert.equal((await inShallow('git', 'rev-list', '--count', 'HEAD')).stdout.trim(), '1');
      assert.equal((await inShallow('git', 'rev-parse', '--is-shallow-repository')).stdout.trim(), 'true');
      assert.equal(shallowRecord.snapshot.shallow, true);
    } finally {
      await shallowService.stop(shallowRecord.id).catch(() => undefined);
      shallowService.dispose();
    }
  });
});
