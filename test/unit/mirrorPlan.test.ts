import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { BoxState } from '../../src/core/changes/mirrorBox.js';
import { dropFailedRemovals, type HostView, mirrorCandidates, planMirror } from '../../src/core/changes/mirrorPlan.js';
import type { ManifestEntry } from '../../src/core/snapshot/snapshotManifest.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

const hostFile = (text: string, mode = 0o644): HostView => ({ kind: 'file', mode, size: text.length, sha256: sha(text), bytes: Buffer.from(text), mtime: new Date(0) });
const boxFile = (text: string, mode = 0o644): BoxState => ({ kind: 'file', mode, size: text.length, sha256: sha(text) });
const boxDir = (ino = '7'): BoxState => ({ kind: 'dir', mode: 0o755, ino });
const baseFile = (path: string, text: string, mode = 0o644): ManifestEntry => ({ path, type: 'file', mode, size: text.length, sha256: sha(text), offset: 0 });
const baseDir = (path: string): ManifestEntry => ({ path, type: 'dir', mode: 0o755, size: 0 });

/** Runs both stages as the mirror does: the candidates, then the plan with the box's answer. */
function plan(host: Record<string, HostView>, base: ManifestEntry[], box: Record<string, BoxState>) {
  const hostViews = new Map(Object.entries(host));
  const baseEntries = new Map(base.map((entry) => [entry.path, entry]));
  const { candidates, probe, skipped } = mirrorCandidates(Object.keys(host), hostViews, baseEntries);
  const boxStates = new Map(probe.map((rel): [string, BoxState] => [rel, box[rel] ?? { kind: 'absent' }]));
  return { probe, plan: planMirror({ candidates, host: hostViews, base: baseEntries, box: boxStates, skipped }) };
}

const moves = (result: ReturnType<typeof planMirror>) => [...result.moves.values()].map((move) => `${move.entry ? move.entry.type : 'gone'} ${move.path}`).sort();
const writes = (result: ReturnType<typeof planMirror>) => result.writes.map((entry) => `${entry.kind} ${entry.path}${entry.kind === 'dir' ? ` ${entry.mode.toString(8)}` : ''}`);

describe('the host mirror plan (unit)', () => {
  test('a host path that equals the base needs nothing, not even a look at the box', () => {
    const { probe, plan: result } = plan({ 'a.txt': hostFile('one') }, [baseFile('a.txt', 'one')], {});
    assert.deepEqual(probe, []);
    assert.deepEqual(result.synced, []);
  });

  test('a new file in new folders: the folders (host modes) then the file, and all of them join the base', () => {
    const { probe, plan: result } = plan({ 'a/b/c.txt': hostFile('new'), a: { kind: 'dir', mode: 0o750 }, 'a/b': { kind: 'dir', mode: 0o755 } }, [], {});
    assert.deepEqual(probe, ['a', 'a/b', 'a/b/c.txt']);
    assert.deepEqual(writes(result), ['dir a 750', 'dir a/b 755', 'file a/b/c.txt']);
    assert.deepEqual(moves(result), ['dir a', 'dir a/b', 'file a/b/c.txt']);
    assert.deepEqual(result.newFolders, ['a', 'a/b']);
    assert.deepEqual(result.synced, ['a/b/c.txt']);
    assert.deepEqual(result.removals, []);
  });

  test('a folder the box made itself joins the base with its inode, and is not written', () => {
    const { plan: result } = plan({ 'mine/x.txt': hostFile('x') }, [], { mine: boxDir('42') });
    assert.deepEqual(writes(result), ['file mine/x.txt']);
    assert.deepEqual(moves(result), ['dir mine', 'file mine/x.txt']);
    assert.deepEqual([...result.knownFolders], [['mine', '42']]);
  });

  test('an edit the box never touched is written and moves the base; one the box already has only agrees', () => {
    const base = [baseFile('a.txt', 'one'), baseFile('b.txt', 'one')];
    const { plan: result } = plan({ 'a.txt': hostFile('two'), 'b.txt': hostFile('two') }, base, { 'a.txt': boxFile('one'), 'b.txt': boxFile('two') });
    assert.deepEqual(result.synced, ['a.txt']);
    assert.deepEqual(result.agreed, ['b.txt']);
    assert.deepEqual(moves(result), ['file a.txt']);
    assert.deepEqual(result.conflicts, []);
  });

  test('both sides changed: a conflict, nothing written, the base stays', () => {
    const { plan: result } = plan({ 'a.txt': hostFile('host'), 'gone.txt': { kind: 'absent' } }, [baseFile('a.txt', 'base'), baseFile('gone.txt', 'base')], { 'a.txt': boxFile('box'), 'gone.txt': boxFile('box') });
    assert.deepEqual(result.conflicts, ['a.txt', 'gone.txt']);
    assert.deepEqual(result.writes, []);
    assert.deepEqual(result.removals, []);
    assert.equal(result.moves.size, 0);
  });

  test('the exec bit and setuid bits count as changes on the box side', () => {
    const base = [baseFile('run.sh', 'x'), baseFile('suid', 'x')];
    const { plan: result } = plan({ 'run.sh': hostFile('y'), suid: hostFile('y') }, base, { 'run.sh': boxFile('x', 0o755), suid: boxFile('x', 0o4644) });
    assert.deepEqual(result.conflicts, ['run.sh', 'suid']);
  });

  test('a box file that could not be hashed is never taken for the base', () => {
    const { plan: result } = plan({ 'a.txt': hostFile('two') }, [baseFile('a.txt', 'one')], { 'a.txt': { kind: 'file', mode: 0o644, size: 3 } });
    assert.deepEqual(result.conflicts, ['a.txt']);
  });

  test('a box that put a link where a folder was: nothing below it is written', () => {
    const { plan: result } = plan({ 'src/a.txt': hostFile('two') }, [baseDir('src'), baseFile('src/a.txt', 'one')], { src: { kind: 'symlink', target: '/etc' }, 'src/a.txt': boxFile('one') });
    assert.deepEqual(result.conflicts, ['src/a.txt']);
    assert.deepEqual(result.writes, []);
  });

  test('a folder removed on the host: its files go first, then its folders deepest first, each leaves the base', () => {
    const base = [baseDir('d'), baseDir('d/e'), baseFile('d/x.txt', 'x'), baseFile('d/e/y.txt', 'y')];
    const absent: HostView = { kind: 'absent' };
    const { plan: result } = plan({ d: absent, 'd/e': absent, 'd/x.txt': absent, 'd/e/y.txt': absent }, base, { d: boxDir(), 'd/e': boxDir(), 'd/x.txt': boxFile('x'), 'd/e/y.txt': boxFile('y') });
    assert.deepEqual(result.removals, [
      { path: 'd/x.txt', dir: false },
      { path: 'd/e/y.txt', dir: false },
      { path: 'd/e', dir: true },
      { path: 'd', dir: true },
    ]);
    assert.deepEqual(moves(result), ['gone d', 'gone d/e', 'gone d/e/y.txt', 'gone d/x.txt']);
  });

  test('a file the box changed inside a folder the host removed: the file is a conflict, and so is the folder once its removal fails', () => {
    const base = [baseDir('d'), baseFile('d/x.txt', 'x')];
    const absent: HostView = { kind: 'absent' };
    const { plan: result } = plan({ d: absent, 'd/x.txt': absent }, base, { d: boxDir(), 'd/x.txt': boxFile('box edit') });
    assert.deepEqual(result.conflicts, ['d/x.txt']);
    assert.deepEqual(result.removals, [{ path: 'd', dir: true }]);
    dropFailedRemovals(result, new Set(['d']));
    assert.deepEqual(result.conflicts, ['d/x.txt', 'd']);
    assert.deepEqual(result.synced, []);
    assert.equal(result.moves.size, 0);
  });

  test('a file replaced by a folder on the host: the file goes, the folder and what is in it come', () => {
    const { plan: result } = plan({ x: { kind: 'dir', mode: 0o755 }, 'x/y.txt': hostFile('y') }, [baseFile('x', 'was a file')], { x: boxFile('was a file'), 'x/y.txt': { kind: 'absent' } });
    assert.deepEqual(result.removals, [{ path: 'x', dir: false }]);
    assert.deepEqual(writes(result), ['dir x 755', 'file x/y.txt']);
    assert.deepEqual(moves(result), ['dir x', 'file x/y.txt']);
    assert.deepEqual(result.synced, ['x', 'x/y.txt']);
    // The box put something in the way of removing the file: neither the folder nor its file goes in.
    dropFailedRemovals(result, new Set(['x']));
    assert.deepEqual(result.conflicts, ['x', 'x/y.txt']);
    assert.deepEqual(result.writes, []);
    assert.equal(result.moves.size, 0);
  });

  test('a folder replaced by a file: what the base had in it goes, the folder goes, the file comes; a failed removal holds the file back', () => {
    const base = [baseDir('x'), baseFile('x/y.txt', 'y')];
    const { plan: result } = plan({ x: hostFile('now a file'), 'x/y.txt': { kind: 'absent' } }, base, { x: boxDir(), 'x/y.txt': boxFile('y') });
    assert.deepEqual(result.removals, [{ path: 'x/y.txt', dir: false }, { path: 'x', dir: true }]);
    assert.deepEqual(writes(result), ['file x']);
    dropFailedRemovals(result, new Set(['x']));
    assert.deepEqual(result.conflicts, ['x']);
    assert.deepEqual(writes(result), []);
    assert.deepEqual(result.synced, ['x/y.txt']);
  });

  test('links cross as links, with their target text', () => {
    const { plan: result } = plan({ link: { kind: 'symlink', target: '../outside' } }, [], {});
    assert.deepEqual(result.writes, [{ path: 'link', kind: 'symlink', target: '../outside' }]);
    assert.deepEqual(moves(result), ['symlink link']);
  });

  test('skipped paths are reported by reason and never planned; a new empty host folder is no change', () => {
    const { probe, plan: result } = plan({ '.env': { kind: 'skipped', reason: 'secret' }, 'x.log': { kind: 'skipped', reason: 'ignored' }, empty: { kind: 'dir', mode: 0o755 } }, [], {});
    assert.deepEqual(probe, []);
    assert.deepEqual([...result.skipped], [['secret', ['.env']], ['ignored', ['x.log']]]);
    assert.deepEqual(result.synced, []);
  });
});
