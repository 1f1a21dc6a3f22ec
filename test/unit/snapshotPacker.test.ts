import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { DEFAULT_SECRET_FILE_PATTERNS } from '../../src/core/config/taskOptions.js';
import { buildGitMetadata, type GitMetadata } from '../../src/core/snapshot/gitMetadata.js';
import { readBaseContent, readManifest, type SnapshotManifest } from '../../src/core/snapshot/snapshotManifest.js';
import { packSnapshot, type PackResult } from '../../src/core/snapshot/snapshotPacker.js';
import { listWorkspace, type WorkspaceListing } from '../../src/core/snapshot/workspaceListing.js';
import { initRepo, makeTempDir, removeTempDirs, runGit, writeFiles } from '../helpers/tempWorkspace.js';

// Until runHost handles stdin EPIPE itself (see runHost.test.ts), keep that crash out of these tests.

const UID = 1000;
const GID = 1000;

interface TarEntry {
  header: tarStream.Header;
  body: Buffer;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Reads a whole tar stream into memory with tar-stream's extract(). */
async function readTar(stream: Readable): Promise<TarEntry[]> {
  const extract = tarStream.extract();
  stream.pipe(extract);
  const entries: TarEntry[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(Buffer.from(chunk as Uint8Array));
    entries.push({ header: entry.header, body: Buffer.concat(chunks) });
  }
  return entries;
}

/**
 * A repository with a committed file that was then modified, an untracked file, a .env, a symlink,
 * a setuid file, and host git config that must never reach the sandbox.
 */
function hostRepo(): string {
  const root = makeTempDir('airlock-pack-');
  initRepo(root, { 'a.txt': 'committed\n', 'src/b.txt': 'bee\n' });
  runGit(root, 'config', 'remote.origin.url', 'https://user:pw@example.invalid/x.git');
  runGit(root, 'config', 'credential.helper', 'store');
  runGit(root, 'config', 'core.hooksPath', path.join(root, 'evil-hooks'));
  writeFiles(root, { '.git/hooks/pre-commit': '#!/bin/sh\necho hook\n' });
  writeFiles(root, { 'a.txt': 'modified on the host\n', 'untracked.txt': 'new\n', '.env': 'TOKEN=hunter2\n', 'tool.sh': '#!/bin/sh\necho tool\n' });
  fs.chmodSync(path.join(root, 'tool.sh'), 0o4755);
  fs.symlinkSync('a.txt', path.join(root, 'link'));
  return root;
}

describe('packSnapshot of a git workspace', () => {
  let root: string;
  let listing: WorkspaceListing;
  let gitMeta: GitMetadata;
  let entries: TarEntry[];
  let result: PackResult;
  let manifestFile: string;
  let manifest: SnapshotManifest;
  const byName = (name: string) => entries.find((entry) => entry.header.name.replace(/\/$/, '') === name);
  const names = () => entries.map((entry) => entry.header.name);

  before(async () => {
    root = hostRepo();
    listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    assert.ok(listing.git, 'the test repository is seen as a git work tree');
    gitMeta = await buildGitMetadata(root, listing.git.commonDir, undefined, DEFAULT_SECRET_FILE_PATTERNS);
    const out = makeTempDir('airlock-pack-out-');
    manifestFile = path.join(out, 'manifest.json');
    const packed = packSnapshot(listing, gitMeta, { uid: UID, gid: GID, manifestFile, contentFile: path.join(out, 'content.bin') });
    entries = await readTar(packed.stream);
    result = await packed.done;
    manifest = readManifest(manifestFile);
  });

  after(() => {
    if (gitMeta?.cleanup) fs.rmSync(gitMeta.cleanup, { recursive: true, force: true });
    removeTempDirs();
  });

  test('the .env file was seen and left out of the listing', () => {
    assert.ok(listing.excluded.includes('.env'));
  });

  test('every entry is owned by the requested uid and gid, with no user or group names', () => {
    assert.ok(entries.length > 0);
    for (const { header } of entries) {
      assert.equal(header.uid, UID, header.name);
      assert.equal(header.gid, GID, header.name);
      assert.ok(!header.uname, header.name);
      assert.ok(!header.gname, header.name);
    }
  });

  test('the root entry is named "/" (the engine skips "." and "./") with mode 0755, so the volume root gets owner and mode too', () => {
    const rootEntry = entries.find((entry) => entry.header.name === '/');
    assert.ok(rootEntry, `entries: ${names().join(', ')}`);
    assert.equal(rootEntry.header.type, 'directory');
    assert.equal(rootEntry.header.mode, 0o755);
    assert.ok(!names().some((name) => name === '.' || name === './'));
  });

  test('the secret .env file is not in the archive', () => {
    assert.equal(byName('.env'), undefined);
    assert.ok(!names().some((name) => name.endsWith('.env')));
  });

  test('workspace files arrive with the host content, including modified and untracked files', () => {
    assert.equal(byName('a.txt')?.body.toString(), 'modified on the host\n');
    assert.equal(byName('src/b.txt')?.body.toString(), 'bee\n');
    assert.equal(byName('untracked.txt')?.body.toString(), 'new\n');
    assert.equal(byName('src')?.header.type, 'directory');
  });

  test('the setuid bit is stripped while the permission bits are kept', () => {
    assert.equal(fs.statSync(path.join(root, 'tool.sh')).mode & 0o4000, 0o4000, 'the host file really is setuid');
    const tool = byName('tool.sh');
    assert.ok(tool, 'tool.sh is in the archive');
    assert.equal(tool.header.mode & 0o7000, 0);
    assert.equal(tool.header.mode & 0o777, 0o755);
  });

  test('no entry carries setuid, setgid or sticky bits', () => {
    for (const { header } of entries) assert.equal(header.mode & 0o7000, 0, header.name);
  });

  test('the symlink is kept as a symlink to a.txt', () => {
    const link = byName('link');
    assert.ok(link, 'link is in the archive');
    assert.equal(link.header.type, 'symlink');
    assert.equal(link.header.linkname, 'a.txt');
  });

  test('a fresh .git has HEAD, config, packed-refs, index and objects', () => {
    assert.equal(byName('.git/HEAD')?.body.toString(), 'ref: refs/heads/main\n');
    assert.ok(byName('.git/config'));
    assert.match(byName('.git/packed-refs')?.body.toString() ?? '', new RegExp(`^${gitMeta.head} refs/heads/main$`, 'm'));
    assert.ok((byName('.git/index')?.body.length ?? 0) > 0);
    assert.ok(entries.some((entry) => entry.header.name.startsWith('.git/objects/') && entry.header.type === 'file'), 'object files are present');
    assert.equal(byName('.git')?.header.type, 'directory');
  });

  test('.git/config has no remote, no credential helper and no hooksPath from the host', () => {
    const hostConfig = fs.readFileSync(path.join(root, '.git', 'config'), 'utf8');
    assert.match(hostConfig, /\[remote "origin"\]/, 'the host repository really has a remote');
    assert.match(hostConfig, /\[credential\]/);
    assert.match(hostConfig, /hooksPath/);
    const config = byName('.git/config')?.body.toString() ?? '';
    assert.match(config, /^\[core\]/);
    assert.doesNotMatch(config, /\[remote/);
    assert.doesNotMatch(config, /\[credential/);
    assert.doesNotMatch(config, /hooksPath/i);
    assert.doesNotMatch(config, /example\.invalid|user:pw/);
  });

  test('nothing from the host .git/hooks (or logs, info) is copied', () => {
    assert.deepEqual(names().filter((name) => /^\.git\/(hooks|logs|info)(\/|$)/.test(name)), []);
  });

  test('the host .git folder is not streamed as workspace content', () => {
    assert.equal(byName('.git/description'), undefined);
    assert.equal(byName('.git/ORIG_HEAD'), undefined);
  });

  test('the manifest lists every copied file with its sha256, size and mode', () => {
    assert.deepEqual(readManifest(manifestFile), result.manifest);
    const files = manifest.entries.filter((entry) => entry.type === 'file');
    assert.deepEqual(files.map((entry) => entry.path).sort(), ['a.txt', 'src/b.txt', 'tool.sh', 'untracked.txt']);
    for (const entry of files) {
      const bytes = fs.readFileSync(path.join(root, entry.path));
      assert.equal(entry.sha256, sha256(bytes), entry.path);
      assert.equal(entry.size, bytes.length, entry.path);
      assert.equal(entry.mode & 0o7000, 0, entry.path);
    }
    assert.equal(manifest.entries.find((entry) => entry.path === 'tool.sh')?.mode, 0o755);
  });

  test('the manifest records the symlink with its target', () => {
    assert.deepEqual(manifest.entries.find((entry) => entry.path === 'link'), { path: 'link', type: 'symlink', mode: 0o777, size: 0, target: 'a.txt' });
  });

  test('the manifest records the symlink and folders, and nothing under .git', () => {
    assert.deepEqual(manifest.entries.filter((entry) => entry.type === 'symlink').map((entry) => entry.path), ['link']);
    assert.equal(manifest.entries.find((entry) => entry.path === 'src')?.type, 'dir');
    assert.ok(!manifest.entries.some((entry) => entry.path === '.git' || entry.path.startsWith('.git/')));
    assert.ok(!manifest.entries.some((entry) => entry.path === '.env'));
  });

  test('the content file holds each file\'s bytes at its offset', () => {
    for (const entry of manifest.entries.filter((item) => item.type === 'file')) {
      const expected = fs.readFileSync(path.join(root, entry.path));
      assert.deepEqual(readBaseContent(manifest, entry), expected, entry.path);
      assert.deepEqual(byName(entry.path)?.body, expected, `${entry.path} in the archive`);
    }
    const total = manifest.entries.reduce((sum, entry) => sum + (entry.type === 'file' ? entry.size : 0), 0);
    assert.equal(fs.statSync(manifest.contentFile).size, total);
  });

  test('the result counts files and symlinks and their bytes', () => {
    assert.equal(result.files, 5);
    assert.equal(result.bytes, manifest.entries.reduce((sum, entry) => sum + entry.size, 0));
    assert.equal(manifest.root, path.resolve(root));
    assert.equal(manifest.version, 1);
  });

  test('the manifest and content files are private to the host user', () => {
    assert.equal(fs.statSync(manifestFile).mode & 0o777, 0o600);
    assert.equal(fs.statSync(manifest.contentFile).mode & 0o777, 0o600);
  });
});

describe('packSnapshot of a plain folder', () => {
  after(removeTempDirs);

  test('a folder without git is packed without any .git entries, still owned by the sandbox user', async () => {
    const root = makeTempDir('airlock-pack-folder-');
    writeFiles(root, { 'notes.md': 'hello\n', 'id_rsa': 'PRIVATE\n', 'docs/guide.md': 'guide\n' });
    const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    const out = makeTempDir('airlock-pack-out-');
    const packed = packSnapshot(listing, undefined, { uid: 4242, gid: 4343, manifestFile: path.join(out, 'm.json'), contentFile: path.join(out, 'c.bin') });
    const entries = await readTar(packed.stream);
    const result = await packed.done;
    assert.deepEqual(entries.map((entry) => (entry.header.name === '/' ? '/' : entry.header.name.replace(/\/$/, ''))).sort(), ['/', 'docs', 'docs/guide.md', 'notes.md']);
    assert.ok(entries.every((entry) => entry.header.uid === 4242 && entry.header.gid === 4343));
    assert.equal(result.files, 2);
    assert.equal(result.bytes, 'hello\n'.length + 'guide\n'.length);
  });
});
