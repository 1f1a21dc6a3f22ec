import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goneFromListings } from '../../src/core/changes/layerGone.js';
import { BaseSnapshot, type ManifestEntry } from '../../src/core/snapshot/snapshotManifest.js';

const dir = (rel: string): ManifestEntry => ({ path: rel, type: 'dir', mode: 0o755, size: 0 });
const file = (rel: string): ManifestEntry => ({ path: rel, type: 'file', mode: 0o644, size: 1, sha256: 'a'.repeat(64), offset: 0 });
const base = new BaseSnapshot({
  version: 1,
  root: '/w',
  createdAt: '2026-12-03T00:00:00.000Z',
  contentFile: '/w/base.bin',
  entries: [file('top.txt'), dir('src'), file('src/a.ts'), file('src/b.ts'), dir('src/lib'), file('src/lib/x.ts'), dir('src/lib/deep'), file('src/lib/deep/y.ts'), dir('docs'), file('docs/d.md'), dir('untouched'), file('untouched/u.txt')],
});
const listed = (entries: Record<string, string[]>) => new Map(Object.entries(entries).map(([folder, names]) => [folder, new Set(names)]));

describe('what a layered scan finds gone, from the folders it listed', () => {
  it('a name missing from a listed folder is gone, with everything the base had below it', () => {
    const gone = goneFromListings(base, listed({ '': ['top.txt', 'docs', 'untouched'], src: [] }), []);
    assert.deepEqual(gone.sort(), ['src', 'src/a.ts', 'src/b.ts', 'src/lib', 'src/lib/deep', 'src/lib/deep/y.ts', 'src/lib/x.ts'], 'each path once, though src was listed too');
  });

  it('a folder the scan did not list lost nothing, even when it holds paths the scan never saw', () => {
    assert.deepEqual(goneFromListings(base, listed({ '': ['top.txt', 'src', 'docs', 'untouched'], src: ['a.ts', 'b.ts', 'lib'] }), []), []);
  });

  it('a removed folder and its contents are gone when its parent is listed without it', () => {
    assert.deepEqual(goneFromListings(base, listed({ src: ['a.ts', 'b.ts'] }), []).sort(), ['src/lib', 'src/lib/deep', 'src/lib/deep/y.ts', 'src/lib/x.ts']);
  });

  it('a folder that is now a file keeps its path but loses what was below it', () => {
    const nodes = [{ path: 'docs', kind: 'file' as const, mode: 0o644, size: 3 }];
    assert.deepEqual(goneFromListings(base, listed({ '': ['top.txt', 'src', 'docs', 'untouched'] }), nodes), ['docs/d.md']);
  });

  it('a folder listed again (swapped or replaced) is judged by its own listing', () => {
    assert.deepEqual(goneFromListings(base, listed({ '': ['top.txt', 'src', 'docs', 'untouched'], docs: ['new.md'] }), [{ path: 'docs', kind: 'dir', mode: 0o755, size: 0 }]), ['docs/d.md']);
  });
});
