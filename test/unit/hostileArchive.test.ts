import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import * as tarStream from 'tar-stream';
import { scanWithArchive } from '../../src/core/changes/archiveScanner.js';
import { BlobStore, type BlobWriter } from '../../src/core/changes/blobStore.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import { BaseSnapshot } from '../../src/core/snapshot/snapshotManifest.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

/**
 * The archive fallback reads a tar the engine makes of the box's workspace: the box chooses every
 * name, size and count in it. These fake the engine's answer with the tar a hostile box would get.
 */
type Entry = { name: string; type?: 'file' | 'directory' | 'symlink'; content?: string; linkname?: string };

function containerSending(entries: Iterable<Entry>): Docker.Container {
  return {
    getArchive: async () => {
      const pack = tarStream.pack();
      // Never rejects: a failed entry is the scan having stopped reading.
      const feed = async () => {
        try {
          for (const entry of entries) {
            await new Promise<void>((resolve, reject) => pack.entry({ name: entry.name, type: entry.type ?? 'file', linkname: entry.linkname, mode: 0o644 }, entry.content ?? '', (error) => (error ? reject(error) : resolve())));
          }
          pack.finalize();
        } catch {
          // the scan stopped reading: what a closed engine connection looks like
        }
      };
      queueMicrotask(() => void feed());
      // What dockerode hands back: a node stream (an HTTP response), not tar-stream's own kind.
      return Readable.from(pack, { objectMode: false });
    },
  } as unknown as Docker.Container;
}

const emptyBase = () => new BaseSnapshot({ version: 1, root: '/workspace', createdAt: new Date().toISOString(), contentFile: '/nonexistent', entries: [] });

function* many(count: number): Generator<Entry> {
  for (let index = 0; index < count; index++) yield { name: `./f${index}`, content: '' };
}

const incoming = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => name.startsWith('.incoming-')) : []);

describe('a hostile box cannot exhaust host memory through the archive diff', () => {
  test('more entries than the limit end the scan with one error', async () => {
    const blobs = new BlobStore(path.join(makeTempDir(), 'blobs'));
    await assert.rejects(scanWithArchive(containerSending(many(50)), emptyBase(), blobs, 1024, undefined, { maxEntries: 20, maxPathBytes: 4096 }), (error: unknown) => {
      assert.ok(error instanceof AirlockError);
      assert.equal(error.message, "the task's workspace has more than 20 entries; Airlock stopped reading it");
      return true;
    });
  });

  test('entries under .git count too (they are held as records as well)', async () => {
    const blobs = new BlobStore(path.join(makeTempDir(), 'blobs'));
    const hooks = [...many(50)].map((entry) => ({ ...entry, name: `./.git/hooks/${entry.name.slice(2)}` }));
    await assert.rejects(scanWithArchive(containerSending(hooks), emptyBase(), blobs, 1024, undefined, { maxEntries: 20, maxPathBytes: 4096 }), /more than 20 entries/);
  });

  test('a path longer than PATH_MAX (a deep tree of long names) is refused, not kept', async () => {
    const blobs = new BlobStore(path.join(makeTempDir(), 'blobs'));
    const deep = `./${Array.from({ length: 40 }, () => 'd'.repeat(200)).join('/')}/file`;
    await assert.rejects(scanWithArchive(containerSending([{ name: './ok.txt', content: 'x' }, { name: deep, content: 'x' }]), emptyBase(), blobs, 1024), /a path or link target longer than 4096 bytes \("d{80}"…\); Airlock stopped reading it/);
  });

  test('a store that fails while a file streams in (full disk, spent budget) ends the scan; the host process lives on and keeps no partial blob', async () => {
    const dir = path.join(makeTempDir(), 'blobs');
    class FullStore extends BlobStore {
      override writer(): BlobWriter {
        const real = super.writer();
        return {
          write: (chunk) => {
            real.write(chunk.subarray(0, 1));
            throw new Error('ENOSPC: no space left on device');
          },
          get size() {
            return real.size;
          },
          commit: (expected) => real.commit(expected),
          discard: () => real.discard(),
        };
      }
    }
    const big = 'y'.repeat(4 * 1024 * 1024);
    await assert.rejects(scanWithArchive(containerSending([{ name: './a.bin', content: big }]), emptyBase(), new FullStore(dir), 64 * 1024 * 1024), /ENOSPC/);
    assert.deepEqual(incoming(dir), [], 'the partial blob was removed');
  });

  test('an ordinary tree still scans: files, folders and links within the limits', async () => {
    const dir = path.join(makeTempDir(), 'blobs');
    const blobs = new BlobStore(dir);
    const result = await scanWithArchive(containerSending([{ name: './src', type: 'directory' }, { name: './src/a.txt', content: 'hello\n' }, { name: './link', type: 'symlink', linkname: 'src/a.txt' }]), emptyBase(), blobs, 1024);
    assert.deepEqual(result.nodes.map((node) => `${node.path} ${node.kind}`).sort(), ['link symlink', 'src dir', 'src/a.txt file']);
    const file = result.nodes.find((node) => node.path === 'src/a.txt')!;
    assert.equal(blobs.read(file.sha256!).toString(), 'hello\n');
  });
});
