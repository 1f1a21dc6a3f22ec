import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readUntrustedFile, readUntrustedText, UntrustedFileError } from '../../src/core/ground/untrustedFile.js';
import { launchNode } from '../helpers/cliProcess.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const MiB = 1024 * 1024;
const CHILD = path.resolve('test/fixtures/untrusted/readInChild.ts');

interface ChildOutcome {
  bytes?: number | null;
  error?: string;
  type?: string;
  rssBytes: number;
  ms: number;
}

/**
 * The reads that could hang (a FIFO) or fill memory (a device, a huge file) run in a child with a
 * hard timeout: a regression must fail this test, not hang or kill the test runner.
 */
async function readInChild(file: string, maxBytes: number, within = ''): Promise<ChildOutcome> {
  const run = launchNode(['--import', 'tsx', CHILD, file, String(maxBytes), within], { timeoutMs: 15_000 });
  const result = await run.result;
  assert.equal(result.signal, null, `the read did not finish within 15 s (killed by ${result.signal}); stderr: ${result.stderr}`);
  assert.equal(result.status, 0, result.stderr);
  return { ...(JSON.parse(result.stdout) as Omit<ChildOutcome, 'ms'>), ms: result.ms };
}

function refusal(work: () => unknown): UntrustedFileError {
  try {
    work();
  } catch (error) {
    assert.ok(error instanceof UntrustedFileError, `expected UntrustedFileError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the read to be refused');
}

describe('readUntrustedFile: hostile files end in one clear error, not a hang or a full memory', () => {
  test('a symlink to /dev/zero is refused without reading it', async () => {
    const dir = makeTempDir();
    fs.symlinkSync('/dev/zero', path.join(dir, '.airlock.json'));
    const outcome = await readInChild(path.join(dir, '.airlock.json'), MiB);
    assert.equal(outcome.type, 'UntrustedFileError');
    assert.match(outcome.error!, /^the file is not a regular file \(a device\); Airlock did not read it$/);
    assert.ok(outcome.rssBytes < 200 * MiB, `the reader grew to ${outcome.rssBytes} bytes`);
    // Inside a workspace the same link is refused for where it leads.
    const inside = await readInChild(path.join(dir, '.airlock.json'), MiB, dir);
    assert.match(inside.error!, /resolves outside .* \(to \/dev\/zero\)/);
  });

  test('a FIFO is refused at once: opening it does not wait for a writer', async () => {
    const dir = makeTempDir();
    const fifo = path.join(dir, '.airlock.json');
    execFileSync('mkfifo', [fifo]);
    const outcome = await readInChild(fifo, MiB, dir);
    assert.match(outcome.error!, /is not a regular file \(a FIFO\)/);
    // Startup of node with tsx dominates; a blocked open would have hit the 15 s kill.
    assert.ok(outcome.ms < 10_000, `took ${outcome.ms} ms`);
  });

  test('/dev/urandom (endless, never empty) is refused', async () => {
    const outcome = await readInChild('/dev/urandom', MiB);
    assert.match(outcome.error!, /is not a regular file \(a device\)/);
    assert.ok(outcome.rssBytes < 200 * MiB, `the reader grew to ${outcome.rssBytes} bytes`);
  });

  test('a 2 GB sparse file is refused by its size before a byte is read', async () => {
    const dir = makeTempDir();
    const file = path.join(dir, 'devcontainer.json');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 2 * 1024 ** 3);
    const outcome = await readInChild(file, MiB, dir);
    assert.equal(outcome.error, `the file is ${2 * 1024 ** 3} bytes, more than the ${MiB} allowed; Airlock did not read it`);
    assert.ok(outcome.rssBytes < 200 * MiB, `the reader grew to ${outcome.rssBytes} bytes`);
  });

  test('a symlink out of the workspace is refused, naming where it leads', () => {
    const outside = makeTempDir();
    const workspace = makeTempDir();
    writeFiles(outside, { 'secret.json': '{"a": 1}' });
    fs.symlinkSync(path.join(outside, 'secret.json'), path.join(workspace, '.airlock.json'));
    const error = refusal(() => readUntrustedFile(path.join(workspace, '.airlock.json'), { maxBytes: MiB, within: workspace, what: '.airlock.json' }));
    assert.equal(error.message, `.airlock.json resolves outside ${workspace} (to ${path.join(outside, 'secret.json')}); Airlock did not read it`);
    assert.equal(error.field, '.airlock.json');
    assert.equal(error.hint, `Replace it with a regular file inside ${workspace}.`);
  });

  test('a dangling symlink is refused, not taken as "no file"', () => {
    const workspace = makeTempDir();
    fs.symlinkSync('/nonexistent/airlock-policy.json', path.join(workspace, '.airlock.json'));
    const error = refusal(() => readUntrustedFile(path.join(workspace, '.airlock.json'), { maxBytes: MiB, within: workspace, what: '.airlock.json' }));
    assert.match(error.message, /^\.airlock\.json is a symlink to something that does not exist; Airlock did not read it$/);
  });

  test('a dangling symlinked folder on the way is refused too', () => {
    const workspace = makeTempDir();
    fs.symlinkSync('/nonexistent/airlock-folder', path.join(workspace, '.devcontainer'));
    const error = refusal(() => readUntrustedFile(path.join(workspace, '.devcontainer', 'devcontainer.json'), { maxBytes: MiB, within: workspace, what: 'devcontainer.json' }));
    assert.match(error.message, /is under .*\.devcontainer, a symlink to something that does not exist/);
  });

  test('a symlinked parent folder leading out of the workspace is refused', () => {
    const outside = makeTempDir();
    const workspace = makeTempDir();
    writeFiles(outside, { 'devcontainer.json': '{}' });
    fs.symlinkSync(outside, path.join(workspace, '.devcontainer'));
    const error = refusal(() => readUntrustedFile(path.join(workspace, '.devcontainer', 'devcontainer.json'), { maxBytes: MiB, within: workspace }));
    assert.match(error.message, new RegExp(`resolves outside ${workspace} \\(to ${path.join(outside, 'devcontainer.json')}\\)`));
  });

  test('a folder where a file is expected is refused', () => {
    const workspace = makeTempDir();
    fs.mkdirSync(path.join(workspace, '.airlock.json'));
    assert.match(refusal(() => readUntrustedFile(path.join(workspace, '.airlock.json'), { maxBytes: MiB, within: workspace })).message, /is not a regular file \(a folder\)/);
  });

  test('a symlink loop is refused', () => {
    const workspace = makeTempDir();
    fs.symlinkSync('b', path.join(workspace, 'a'));
    fs.symlinkSync('a', path.join(workspace, 'b'));
    assert.match(refusal(() => readUntrustedFile(path.join(workspace, 'a'), { maxBytes: MiB, within: workspace })).message, /is a symlink loop/);
  });

  test('followSymlinks: false refuses a symlink even inside the folder', () => {
    const workspace = makeTempDir();
    writeFiles(workspace, { 'real.dockerignore': 'node_modules\n' });
    fs.symlinkSync('real.dockerignore', path.join(workspace, '.dockerignore'));
    const error = refusal(() => readUntrustedText(path.join(workspace, '.dockerignore'), { maxBytes: MiB, within: workspace, followSymlinks: false, what: '.dockerignore' }));
    assert.match(error.message, /^\.dockerignore is a symlink \(to .*real\.dockerignore\); it is not followed/);
    // Followed, the same link is fine: it stays inside.
    assert.equal(readUntrustedText(path.join(workspace, '.dockerignore'), { maxBytes: MiB, within: workspace }), 'node_modules\n');
  });

  test('ordinary files: absent is undefined, the limit is inclusive, a symlink inside is followed', () => {
    const workspace = makeTempDir();
    writeFiles(workspace, { 'exact.json': 'x'.repeat(1000), 'over.json': 'x'.repeat(1001), 'config/policy.json': '{}', '..name.json': '{}' });
    fs.symlinkSync('config/policy.json', path.join(workspace, '.airlock.json'));
    assert.equal(readUntrustedFile(path.join(workspace, 'missing.json'), { maxBytes: 1000, within: workspace }), undefined);
    assert.equal(readUntrustedFile(path.join(workspace, 'nofolder', 'missing.json'), { maxBytes: 1000, within: workspace }), undefined);
    assert.equal(readUntrustedFile(path.join(workspace, 'exact.json'), { maxBytes: 1000, within: workspace })!.length, 1000);
    assert.match(refusal(() => readUntrustedFile(path.join(workspace, 'over.json'), { maxBytes: 1000, within: workspace })).message, /is 1001 bytes, more than the 1000 allowed/);
    assert.equal(readUntrustedText(path.join(workspace, '.airlock.json'), { maxBytes: 1000, within: workspace }), '{}');
    // A name that merely starts with two dots is inside.
    assert.equal(readUntrustedText(path.join(workspace, '..name.json'), { maxBytes: 1000, within: workspace }), '{}');
  });

  test('a file that reports 0 bytes but has content is read to its end, still within the limit', () => {
    // /proc files are regular files with st_size 0: reading only st_size bytes would truncate them.
    const text = readUntrustedText('/proc/self/status', { maxBytes: MiB })!;
    assert.match(text, /^Name:/);
    assert.match(text, /\nPid:\s+\d+/);
    assert.match(refusal(() => readUntrustedFile('/proc/self/status', { maxBytes: 16 })).message, /grew past the 16 bytes allowed/);
  });
});
