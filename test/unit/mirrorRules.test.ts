import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readHostViews } from '../../src/core/changes/mirrorHost.js';
import { DEFAULT_SECRET_FILE_PATTERNS } from '../../src/core/config/taskOptions.js';
import { lockBase, moveBase } from '../../src/core/snapshot/baseUpdate.js';
import { listingRules } from '../../src/core/snapshot/listingRules.js';
import { BaseSnapshot, type SnapshotManifest } from '../../src/core/snapshot/snapshotManifest.js';
import { listWorkspace } from '../../src/core/snapshot/workspaceListing.js';
import { initRepo, makeTempDir, removeTempDirs, runGit, writeFiles } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

/** Every file and link below `root`, .git left out, as posix paths. */
function everything(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.name === '.git' && !rel) continue;
      if (entry.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk('');
  return out.sort();
}

const FILES = {
  'README.md': '# hi\n',
  'src/a.ts': 'export {};\n',
  '.gitignore': 'build/\n*.log\n!keep.log\n',
  'build/out.js': 'built\n',
  'debug.log': 'noise\n',
  'keep.log': 'kept\n',
  'sub/.gitignore': 'local-only.txt\n',
  'sub/local-only.txt': 'x\n',
  'sub/shared.txt': 'x\n',
  ':colon.txt': 'a name git would read as pathspec magic\n',
  '*star.txt': 'a glob in a name\n',
  '.env': 'TOKEN=1\n',
  'certs/server.key': 'key\n',
  'config/.npmrc': '//registry.npmjs.org/:_authToken=abc\n',
  'clean/.npmrc': 'save-exact=true\n',
  '.aws/credentials': '[default]\n',
  'nested/inner.txt': 'in a nested repository\n',
};

/** What the mirror would carry of every path on disk, by the same rules it uses for each batch. */
async function mirrorListing(root: string): Promise<string[]> {
  const rules = await listingRules(root, DEFAULT_SECRET_FILE_PATTERNS);
  const read = await readHostViews(root, everything(root), rules, { maxBatchBytes: Number.MAX_SAFE_INTEGER });
  return [...read.views].filter(([, view]) => view.kind === 'file' || view.kind === 'symlink').map(([rel]) => rel).sort();
}

describe('the host mirror follows the snapshot listing rules (unit)', () => {
  test('in a git work tree: exactly the paths listWorkspace copies (nested .gitignore, a tracked file in an ignored folder, secrets, content checks, odd names)', async () => {
    const root = makeTempDir('airlock-mirror-rules-git-');
    initRepo(root, { 'README.md': '# hi\n' });
    writeFiles(root, FILES);
    runGit(path.join(root, 'nested'), 'init', '-q');
    runGit(root, 'add', '-f', 'build/out.js');
    fs.symlinkSync('../outside', path.join(root, 'src/link'));
    fs.mkdirSync(path.join(root, 'real'));
    fs.writeFileSync(path.join(root, 'real/behind.txt'), 'behind a link\n');
    fs.symlinkSync('real', path.join(root, 'linked'));
    const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    const mirrored = await mirrorListing(root);
    assert.deepEqual(mirrored, [...listing.files].filter((rel) => !rel.endsWith('/')).sort());
    assert.ok(mirrored.includes('build/out.js') && mirrored.includes(':colon.txt') && mirrored.includes('clean/.npmrc') && mirrored.includes('linked'));
    for (const absent of ['debug.log', 'sub/local-only.txt', '.env', 'config/.npmrc', '.aws/credentials', 'nested/inner.txt', 'linked/behind.txt']) assert.ok(!mirrored.includes(absent), absent);
  });

  test('in a plain folder: exactly the paths listWorkspace copies (the root .gitignore only)', async () => {
    const root = makeTempDir('airlock-mirror-rules-folder-');
    writeFiles(root, FILES);
    const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual(await mirrorListing(root), [...listing.files].sort());
  });

  test('the watch never enters a .git folder, a secret folder or an ignored folder without tracked files', async () => {
    const root = makeTempDir('airlock-mirror-rules-watch-');
    initRepo(root, { '.gitignore': 'node_modules/\nbuild/\n', 'src/a.ts': 'x\n' });
    writeFiles(root, { 'node_modules/x/index.js': 'x\n', 'build/keep.js': 'x\n' });
    runGit(root, 'add', '-f', 'build/keep.js');
    runGit(root, 'commit', '-q', '-m', 'tracked in an ignored folder');
    const rules = await listingRules(root, DEFAULT_SECRET_FILE_PATTERNS);
    assert.equal(rules.unwatched('.git', true), true);
    assert.equal(rules.unwatched('.aws', true), true);
    assert.equal(rules.unwatched('node_modules', true), true);
    assert.equal(rules.unwatched('build', true), false);
    assert.equal(rules.unwatched('src', true), false);
    // Files are always heard, so a secret one can be reported as left out.
    assert.equal(rules.unwatched('.env', false), false);
  });
});

function manifestIn(dir: string, files: Record<string, string>): { manifestFile: string; contentFile: string } {
  const manifestFile = path.join(dir, 'manifest.json');
  const contentFile = path.join(dir, 'base.bin');
  let offset = 0;
  const entries: SnapshotManifest['entries'] = [];
  const bytes: Buffer[] = [];
  for (const [rel, text] of Object.entries(files)) {
    const content = Buffer.from(text);
    entries.push({ path: rel, type: 'file', mode: 0o644, size: content.length, sha256: createHash('sha256').update(content).digest('hex'), offset });
    offset += content.length;
    bytes.push(content);
  }
  fs.writeFileSync(contentFile, Buffer.concat(bytes));
  fs.writeFileSync(manifestFile, JSON.stringify({ version: 1, root: dir, createdAt: new Date().toISOString(), contentFile, entries } satisfies SnapshotManifest));
  return { manifestFile, contentFile };
}

describe('moving the base snapshot (unit)', () => {
  test('new bytes are appended, so a base loaded before the move still reads what it named', () => {
    const dir = makeTempDir('airlock-base-move-');
    const { manifestFile, contentFile } = manifestIn(dir, { 'a.txt': 'one\n', 'b.txt': 'bee\n' });
    const before = BaseSnapshot.load(manifestFile);
    moveBase(manifestFile, [
      { path: 'a.txt', entry: { type: 'file', mode: 0o755, size: 4, sha256: createHash('sha256').update('two\n').digest('hex') }, bytes: Buffer.from('two\n') },
      { path: 'b.txt' },
      { path: 'new', entry: { type: 'dir', mode: 0o755, size: 0 } },
      { path: 'new/link', entry: { type: 'symlink', mode: 0o777, size: 0, target: '../a.txt' } },
    ]);
    const after = BaseSnapshot.load(manifestFile);
    assert.equal(after.bytes('a.txt').toString(), 'two\n');
    assert.equal(after.entries.get('a.txt')?.mode, 0o755);
    assert.equal(after.entries.has('b.txt'), false);
    assert.equal(after.entries.get('new/link')?.target, '../a.txt');
    assert.equal(before.bytes('a.txt').toString(), 'one\n');
    assert.equal(before.bytes('b.txt').toString(), 'bee\n');
    assert.equal(fs.readFileSync(contentFile, 'utf8'), 'one\nbee\ntwo\n');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['base.bin', 'manifest.json']);
  });

  test('a task whose content file was dropped (it ended) gets no new one', () => {
    const dir = makeTempDir('airlock-base-gone-');
    const { manifestFile, contentFile } = manifestIn(dir, { 'a.txt': 'one\n' });
    fs.rmSync(contentFile);
    assert.throws(() => moveBase(manifestFile, [{ path: 'a.txt', entry: { type: 'file', mode: 0o644, size: 4, sha256: createHash('sha256').update('two\n').digest('hex') }, bytes: Buffer.from('two\n') }]), (error: { code?: string }) => error.code === 'task.gone');
    assert.equal(fs.existsSync(contentFile), false);
  });

  test('one writer at a time: a second lock waits for the first, and a dead holder is taken over', async () => {
    const dir = makeTempDir('airlock-base-lock-');
    const manifestFile = path.join(dir, 'manifest.json');
    const release = await lockBase(manifestFile);
    let second = false;
    const waiting = lockBase(manifestFile).then((releaseSecond) => {
      second = true;
      releaseSecond();
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(second, false);
    release();
    await waiting;
    assert.equal(second, true);

    // A holder that died without letting go (its pid is gone) does not block the next one.
    const child = spawn(process.execPath, ['-e', '']);
    const deadPid = child.pid!;
    await new Promise((resolve) => child.on('exit', resolve));
    fs.mkdirSync(`${manifestFile}.lock`);
    fs.writeFileSync(`${manifestFile}.lock/owner`, String(deadPid));
    const taken = await lockBase(manifestFile, undefined, 2000);
    taken();
    assert.equal(fs.existsSync(`${manifestFile}.lock`), false);
  });
});
