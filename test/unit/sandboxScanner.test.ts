import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileHeader, FolderInodeLine, ScanHeader, ScanRecord } from '../../src/core/changes/scannerProtocol.js';
import { IN_BOX_PATH } from '../../src/core/exec/inBoxProgram.js';
import { sandboxProgram } from '../../src/core/exec/sandboxPrograms.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The host's end: the scanner started the way inBoxProgram starts it, walking `root`. */
class Scanner {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  private buffered = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(root: string) {
    this.child = spawn('env', ['-i', `PATH=${IN_BOX_PATH}`, process.execPath, '-e', sandboxProgram('scanner'), root]);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake?.();
    });
    this.child.stdout.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  private async more(): Promise<void> {
    if (this.ended) throw new Error('the scanner closed its stdout');
    await new Promise<void>((resolve) => (this.wake = resolve));
  }

  async line(): Promise<string> {
    let at: number;
    while ((at = this.buffered.indexOf(10)) === -1) await this.more();
    const line = this.buffered.subarray(0, at).toString('utf8');
    this.buffered = this.buffered.subarray(at + 1);
    return line;
  }

  async bytes(count: number): Promise<Buffer> {
    while (this.buffered.length < count) await this.more();
    const out = this.buffered.subarray(0, count);
    this.buffered = this.buffered.subarray(count);
    return out;
  }

  /** Lines until `{done}`, parsed. */
  async untilDone<T>(): Promise<T[]> {
    const lines: T[] = [];
    for (;;) {
      const record = JSON.parse(await this.line()) as T;
      lines.push(record);
      if (typeof record === 'object' && record !== null && 'done' in record) return lines;
    }
  }

  write(data: string | Buffer): void {
    this.child.stdin.write(data);
  }
}

/** The base snapshot's records as workspaceScanner.ts encodes them: kind, mode, size, target, path. */
function encodeBase(root: string, rels: string[]): Buffer {
  const parts: string[] = [];
  for (const rel of rels) {
    const st = fs.lstatSync(path.join(root, rel));
    const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f';
    parts.push(kind, String(st.mode & 0o7777), String(st.size), kind === 'l' ? fs.readlinkSync(path.join(root, rel)) : '', rel);
  }
  return Buffer.from(parts.join('\0') + '\0');
}

async function folderInodes(root: string): Promise<Map<string, string>> {
  const scanner = new Scanner(root);
  scanner.write(JSON.stringify({ baseline: true } satisfies ScanHeader) + '\n');
  const lines = await scanner.untilDone<FolderInodeLine>();
  assert.equal(await scanner.exited, 0);
  const inodes = new Map<string, string>();
  for (const line of lines) if ('b' in line) inodes.set(line.b, line.i);
  return inodes;
}

async function scan(root: string, base: Buffer, readyAtMs: number, inodes = new Map<string, string>()): Promise<{ scanner: Scanner; records: ScanRecord[] }> {
  const scanner = new Scanner(root);
  const inodeBytes = Buffer.from(inodes.size ? [...inodes].flat().join('\0') + '\0' : '');
  scanner.write(JSON.stringify({ readyAtMs, maxHashBytes: 1 << 20, baselineBytes: base.length, inodeBytes: inodeBytes.length } satisfies ScanHeader) + '\n');
  scanner.write(base);
  scanner.write(inodeBytes);
  return { scanner, records: await scanner.untilDone<ScanRecord>() };
}

async function finish(scanner: Scanner): Promise<void> {
  scanner.write(JSON.stringify({ read: [] }) + '\n');
  assert.deepEqual(JSON.parse(await scanner.line()), { end: true });
  assert.equal(await scanner.exited, 0);
}

/**
 * The moment "the copy was complete": file ctimes come from the kernel's coarse clock, which may
 * lag Date.now() by a tick, so leave a margin on both sides.
 */
async function readyMoment(): Promise<number> {
  await sleep(50);
  const readyAtMs = Date.now();
  await sleep(50);
  return readyAtMs;
}

describe('the in-box change scanner, under host node', () => {
  test('baseline mode lists every folder with its inode, leaving out the root .git', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'a/b/file.txt': 'x', 'c/file.txt': 'y', '.git/HEAD': 'ref', 'top.txt': 'z' });
    const inodes = await folderInodes(root);
    assert.deepEqual([...inodes.keys()].sort(), ['a', 'a/b', 'c']);
    for (const [rel, ino] of inodes) assert.equal(ino, String(fs.statSync(path.join(root, rel), { bigint: true }).ino));
  });

  test('reports a created, a modified and a deleted file against the base, and sends what is asked for', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'same.txt': 'unchanged', 'edited.txt': 'before', 'deleted.txt': 'soon gone', 'dir/inner.txt': 'inner' });
    fs.symlinkSync('same.txt', path.join(root, 'link'));
    const base = encodeBase(root, ['same.txt', 'edited.txt', 'deleted.txt', 'dir', 'dir/inner.txt', 'link']);
    const inodes = await folderInodes(root);
    const readyAtMs = await readyMoment();

    // The same size as before: only its ctime tells.
    fs.writeFileSync(path.join(root, 'edited.txt'), 'after!');
    fs.rmSync(path.join(root, 'deleted.txt'));
    fs.writeFileSync(path.join(root, 'created.txt'), 'brand new');
    fs.writeFileSync(Buffer.concat([Buffer.from(`${root}/bad-`), Buffer.from([0xff])]), 'not UTF-8');

    const { scanner, records } = await scan(root, base, readyAtMs, inodes);
    const byName = (name: string) => records.find((record) => 'n' in record && record.n === name);
    assert.deepEqual(byName('edited.txt'), { n: 'edited.txt', k: 'f', m: fs.statSync(path.join(root, 'edited.txt')).mode & 0o7777, s: 6, l: 1, h: sha256('after!') });
    assert.deepEqual(byName('created.txt'), { n: 'created.txt', k: 'f', m: fs.statSync(path.join(root, 'created.txt')).mode & 0o7777, s: 9, l: 1, h: sha256('brand new') });
    assert.deepEqual(records.filter((record) => 'g' in record), [{ g: 'deleted.txt' }]);
    const unreadable = records.filter((record): record is { u: string } => 'u' in record);
    assert.equal(unreadable.length, 1);
    assert.ok(Buffer.from(unreadable[0].u, 'base64').toString('utf8').startsWith('bad-'));
    // Untouched entries are proven so without being reported: same.txt, dir, dir/inner.txt, link.
    assert.deepEqual(records.filter((record) => 'n' in record).map((record) => 'n' in record && record.n).sort(), ['created.txt', 'edited.txt']);
    // Every entry stat'ed or matched: same, edited, created, dir, dir/inner.txt, link.
    assert.deepEqual(records.at(-1), { done: { entries: 6 } });

    scanner.write(JSON.stringify({ read: ['created.txt', 'deleted.txt', 'link'] }) + '\n');
    assert.deepEqual(JSON.parse(await scanner.line()) as FileHeader, { p: 'created.txt', s: 9 });
    assert.equal((await scanner.bytes(9)).toString(), 'brand new');
    assert.deepEqual(JSON.parse(await scanner.line()) as FileHeader, { p: 'deleted.txt', e: 'ENOENT' });
    // O_NOFOLLOW: a symlink is never read through.
    assert.deepEqual(JSON.parse(await scanner.line()) as FileHeader, { p: 'link', e: 'ELOOP' });
    assert.deepEqual(JSON.parse(await scanner.line()) as FileHeader, { end: true });
    assert.equal(await scanner.exited, 0);
  });

  test('a changed link target, a new exec bit and a new kind at a base path are reported', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'tool.sh': 'echo', 'becomes-dir': 'file' });
    fs.symlinkSync('tool.sh', path.join(root, 'link'));
    const base = encodeBase(root, ['tool.sh', 'becomes-dir', 'link']);
    // Every ctime counts as older than the copy: only what the base records can tell these apart.
    fs.chmodSync(path.join(root, 'tool.sh'), 0o755);
    fs.rmSync(path.join(root, 'link'));
    fs.symlinkSync('elsewhere', path.join(root, 'link'));
    fs.rmSync(path.join(root, 'becomes-dir'));
    fs.mkdirSync(path.join(root, 'becomes-dir'));
    const { scanner, records } = await scan(root, base, Number.MAX_SAFE_INTEGER);
    const entries = records.filter((record) => 'n' in record);
    assert.deepEqual(entries.map((record) => 'n' in record && [record.n, record.k, record.t ?? null]).sort(), [['becomes-dir', 'd', null], ['link', 'l', 'elsewhere'], ['tool.sh', 'f', null]]);
    await finish(scanner);
  });

  test('folders swapped onto each other\'s paths are caught by inode, and only with the baseline', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'x/f.txt': 'xxxx', 'y/f.txt': 'yyyy' });
    const base = encodeBase(root, ['x', 'x/f.txt', 'y', 'y/f.txt']);
    const inodes = await folderInodes(root);
    const readyAtMs = await readyMoment();
    fs.renameSync(path.join(root, 'x'), path.join(root, 't'));
    fs.renameSync(path.join(root, 'y'), path.join(root, 'x'));
    fs.renameSync(path.join(root, 't'), path.join(root, 'y'));

    const blind = await scan(root, base, readyAtMs);
    assert.deepEqual(blind.records, [{ done: { entries: 4 } }], 'without inodes every path looks as it was');
    await finish(blind.scanner);

    const { scanner, records } = await scan(root, base, readyAtMs, inodes);
    const hashes = Object.fromEntries(records.flatMap((record) => ('n' in record ? [[record.n, record.h]] : [])));
    assert.deepEqual(hashes, { 'x/f.txt': sha256('yyyy'), 'y/f.txt': sha256('xxxx') });
    await finish(scanner);
  });

  test('the host going away mid-protocol ends the scanner', async () => {
    const root = makeTempDir();
    const scanner = new Scanner(root);
    scanner.child.stdin.end();
    assert.equal(await scanner.exited, 0);
  });
});
