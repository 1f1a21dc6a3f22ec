import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { packContext } from '../../src/core/devcontainer/imageBuild.js';
import type { DevcontainerBuild } from '../../src/core/devcontainer/devcontainerPlan.js';
import { airlockErrorFrom } from '../helpers/airlockErrorFrom.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const contextBuild = (context: string, dockerfile = path.join(context, 'Dockerfile')): DevcontainerBuild => ({ context, dockerfile, args: {} });

interface Packed {
  entries: Map<string, { type: string; size: number; linkname?: string }>;
  bytes: number;
}

/** Every entry of a packed context and the stream's total size, with a deadline. */
async function unpack(stream: NodeJS.ReadableStream): Promise<Packed> {
  const entries: Packed['entries'] = new Map();
  let bytes = 0;
  const extract = tarStream.extract();
  (stream as Readable).on('data', (chunk: Buffer) => (bytes += chunk.length));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise<void>((resolve, reject) => {
      extract.on('entry', (header, body, next) => {
        let size = 0;
        body.on('data', (chunk: unknown) => (size += (chunk as Buffer).length));
        body.on('end', () => {
          entries.set(header.name.replace(/\/$/, ''), { type: header.type, size, linkname: header.linkname || undefined });
          next();
        });
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
      (stream as Readable).on('error', reject);
      (stream as Readable).pipe(extract);
    }),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('packing did not finish within 20 s')), 20_000);
    }),
  ]).finally(() => clearTimeout(timer));
  return { entries, bytes };
}

describe('a hostile build context cannot make the host read, hang on or send without bound', () => {
  test('a symlink to /dev/zero in the context is sent as a link, never read through', async () => {
    const context = makeTempDir('airlock-ctx-');
    writeFiles(context, { Dockerfile: 'FROM scratch\nCOPY . /ctx\n' });
    fs.symlinkSync('/dev/zero', path.join(context, 'zero'));
    fs.symlinkSync('/etc/shadow', path.join(context, 'shadow'));
    const packed = await unpack(packContext(contextBuild(context)).stream);
    assert.deepEqual(packed.entries.get('zero'), { type: 'symlink', size: 0, linkname: '/dev/zero' });
    assert.deepEqual(packed.entries.get('shadow'), { type: 'symlink', size: 0, linkname: '/etc/shadow' });
    assert.ok(packed.bytes < 64 * 1024, `the context is ${packed.bytes} bytes`);
  });

  test('a FIFO in the context is left out, and packing does not wait on it', async () => {
    const context = makeTempDir('airlock-ctx-');
    writeFiles(context, { Dockerfile: 'FROM scratch\n', 'kept.txt': 'x\n' });
    execFileSync('mkfifo', [path.join(context, 'pipe')]);
    const packed = await unpack(packContext(contextBuild(context)).stream);
    assert.deepEqual([...packed.entries.keys()].sort(), ['Dockerfile', 'kept.txt']);
  });

  test('a context over the size limit (a sparse multi-gigabyte file) is refused before anything is sent', () => {
    const context = makeTempDir('airlock-ctx-');
    writeFiles(context, { Dockerfile: 'FROM scratch\n' });
    fs.writeFileSync(path.join(context, 'huge.bin'), '');
    fs.truncateSync(path.join(context, 'huge.bin'), 3 * 1024 ** 3);
    const error = airlockErrorFrom(() => packContext(contextBuild(context)));
    assert.equal(error.field, 'build.context');
    assert.equal(error.message, `build: the build context ${context} is larger than the ${2 * 1024 ** 3} bytes Airlock sends to the engine`);
    assert.match(error.hint ?? '', /\.dockerignore/);
    // Excluded, the same file costs nothing.
    writeFiles(context, { '.dockerignore': 'huge.bin\n' });
    assert.ok(packContext(contextBuild(context)).stream);
  });

  test('a context with more entries than the limit is refused', () => {
    const context = makeTempDir('airlock-ctx-');
    writeFiles(context, { Dockerfile: 'FROM scratch\n', 'a/1': '', 'a/2': '', 'a/3': '' });
    const error = airlockErrorFrom(() => packContext(contextBuild(context), { maxBytes: 1024 ** 3, maxEntries: 3 }));
    assert.match(error.message, /has more than the 3 files and folders Airlock sends to the engine/);
  });

  test('a file that grows past the limit between the walk and the pack ends the stream with the same error', async () => {
    const context = makeTempDir('airlock-ctx-');
    writeFiles(context, { Dockerfile: 'FROM scratch\n', 'grows.bin': 'small' });
    const { stream } = packContext(contextBuild(context), { maxBytes: 4096, maxEntries: 100 });
    fs.truncateSync(path.join(context, 'grows.bin'), 1024 ** 3);
    await assert.rejects(unpack(stream), /is larger than the 4096 bytes Airlock sends to the engine/);
  });

  test('a .dockerignore that is a symlink to /dev/zero, a FIFO or too large is refused by name', () => {
    for (const make of [
      (file: string) => fs.symlinkSync('/dev/zero', file),
      (file: string) => execFileSync('mkfifo', [file]),
      (file: string) => fs.writeFileSync(file, 'x'.repeat(1024 * 1024 + 1)),
    ]) {
      const context = makeTempDir('airlock-ctx-');
      writeFiles(context, { Dockerfile: 'FROM scratch\n' });
      make(path.join(context, '.dockerignore'));
      const error = airlockErrorFrom(() => packContext(contextBuild(context)));
      assert.match(error.message, new RegExp(`^build: ${path.join(context, '.dockerignore').replace(/[.]/g, '\\.')} (resolves outside .* \\(to /dev/zero\\)|is not a regular file \\(a FIFO\\)|is 1048577 bytes, more than the 1048576 allowed)`), error.message);
    }
  });

  test('a Dockerfile outside the context that is a FIFO or a symlink to /dev/zero is refused, not read', () => {
    for (const make of [(file: string) => execFileSync('mkfifo', [file]), (file: string) => fs.symlinkSync('/dev/zero', file)]) {
      const workspace = makeTempDir('airlock-ws-');
      fs.mkdirSync(path.join(workspace, 'ctx'));
      make(path.join(workspace, 'Dockerfile'));
      const error = airlockErrorFrom(() => packContext(contextBuild(path.join(workspace, 'ctx'), path.join(workspace, 'Dockerfile'))));
      assert.match(error.message, /^build\.dockerfile: .*Dockerfile (is not a regular file \(a FIFO\)|is a symlink \(to \/dev\/zero\); it is not followed); Airlock did not read it$/);
    }
  });
});
