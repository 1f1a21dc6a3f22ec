import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EncodedManifest, encodeManifest, ManifestFormatError } from '../../src/core/snapshot/manifestCodec.js';
import { BaseSnapshot, readManifest, writeManifest, type ManifestEntry, type SnapshotManifest } from '../../src/core/snapshot/snapshotManifest.js';

const sha = (digit: string) => digit.repeat(64);
const entries: ManifestEntry[] = [
  { path: 'src', type: 'dir', mode: 0o755, size: 0 },
  { path: 'src/b.ts', type: 'file', mode: 0o644, size: 3, sha256: sha('b'), offset: 0 },
  { path: 'src/a.ts', type: 'file', mode: 0o755, size: 5, sha256: sha('a'), offset: 3 },
  { path: 'src-x', type: 'file', mode: 0o644, size: 0, sha256: sha('e'), offset: 8 },
  { path: 'src/deep', type: 'dir', mode: 0o700, size: 0 },
  { path: 'src/deep/link', type: 'symlink', mode: 0o777, size: 6, target: '../a.ts' },
  { path: 'ünïcødé/名前.txt', type: 'file', mode: 0o600, size: 2 ** 40, sha256: sha('c'), offset: 2 ** 41 },
  { path: 'ünïcødé', type: 'dir', mode: 0o755, size: 0 },
  { path: 'README', type: 'file', mode: 0o644, size: 1, sha256: sha('d'), offset: 8 },
];
const manifest: SnapshotManifest = { version: 1, root: '/home/dev/shop', createdAt: '2026-12-03T06:00:00.000Z', contentFile: '/state/base.bin', entries };

describe('encoded manifest', () => {
  it('decodes to exactly the manifest it encoded, in its own order, with absent fields absent', () => {
    const decoded = new EncodedManifest(encodeManifest(manifest)).decode();
    assert.deepStrictEqual(decoded, manifest);
  });

  it('finds every path, and nothing else, including siblings that sort between a folder and its children', () => {
    const base = new BaseSnapshot(manifest);
    for (const entry of entries) assert.deepStrictEqual(base.entries.get(entry.path), entry, entry.path);
    for (const missing of ['', 'sr', 'src/', 'src/c.ts', 'src/deep/link/x', 'ünïcødé/名', 'readme']) assert.equal(base.entries.get(missing), undefined, missing);
    assert.equal(base.entries.size, entries.length);
    assert.deepStrictEqual([...base.entries.keys()].sort(), entries.map((entry) => entry.path).sort());
  });

  it("lists a folder's direct children only, the root's included", () => {
    const base = new BaseSnapshot(manifest);
    assert.deepStrictEqual(base.children('src').map((entry) => entry.path), ['src/a.ts', 'src/b.ts', 'src/deep']);
    assert.deepStrictEqual(base.children('').map((entry) => entry.path), ['README', 'src', 'src-x', 'ünïcødé']);
    assert.deepStrictEqual(base.children('src/deep/link'), []);
    assert.deepStrictEqual(base.children('nowhere'), []);
  });

  it('keeps the last entry of a path listed twice, as a Map would', () => {
    const twice: SnapshotManifest = { ...manifest, entries: [...entries, { path: 'src/a.ts', type: 'file', mode: 0o644, size: 9, sha256: sha('f'), offset: 20 }] };
    const base = new BaseSnapshot(twice);
    assert.equal(base.entries.get('src/a.ts')?.sha256, sha('f'));
    assert.equal(base.entries.size, entries.length);
    assert.equal(base.children('src').length, 3);
  });

  it('finds entries by content without decoding the rest', () => {
    const base = new BaseSnapshot(manifest);
    const found = base.entriesBySha(new Set([sha('a'), sha('d'), sha('9')]));
    assert.deepStrictEqual([...found.keys()].sort(), [sha('a'), sha('d')]);
    assert.equal(found.get(sha('a'))?.path, 'src/a.ts');
  });

  it('is written in one piece and read back; a JSON manifest still opens', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-manifest-'));
    const file = path.join(dir, 'manifest.bin');
    writeManifest(file, manifest);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepStrictEqual(readManifest(file), manifest);
    assert.deepStrictEqual(fs.readdirSync(dir), ['manifest.bin']);
    const legacy = path.join(dir, 'manifest.json');
    fs.writeFileSync(legacy, JSON.stringify(manifest));
    assert.deepStrictEqual(BaseSnapshot.load(legacy).entries.get('src/deep/link'), entries[5]);
  });

  it('refuses a truncated or padded file with one clear error', () => {
    const data = encodeManifest(manifest);
    assert.throws(() => new EncodedManifest(data.subarray(0, data.length - 1)), ManifestFormatError);
    assert.throws(() => new EncodedManifest(Buffer.concat([data, Buffer.from('x')])), /past its end/);
    assert.throws(() => new EncodedManifest(data.subarray(0, 20)), ManifestFormatError);
  });

  it('refuses a hash that is not 64 hex digits rather than storing something else', () => {
    assert.throws(() => encodeManifest({ ...manifest, entries: [{ path: 'x', type: 'file', mode: 0o644, size: 1, sha256: 'nothex' }] }), /sha256/);
  });
});
