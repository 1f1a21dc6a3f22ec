import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hostTree, modeOf, numberedLines, sha256, sha256OfFile, writeWithModes } from '../helpers/changeFixtures.js';
import { copyBundle } from '../helpers/cliBundle.js';
import { realEngine, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

const MiB = 1024 * 1024;

/** `airlock diff`, `apply` and `undo` as users run them: the esbuild bundle, outside the repository. */
describe('`airlock diff`, `apply` and `undo` (integration)', () => {
  let cli = '';
  let state = '';
  const airlock = (args: string[], input = '') => {
    const started = Date.now();
    const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', input, env: { ...process.env, AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE }, timeout: 180_000, maxBuffer: 64 * MiB });
    return { ...result, ms: Date.now() - started };
  };

  before(() => {
    cli = copyBundle(makeTempDir('airlock-chgcli-bundle-'));
    state = makeTempDir('airlock-chgcli-state-');
  });

  // One task for the whole sequence: each step below builds on the host state the previous left.
  let id = '';
  let ws = '';
  let bigSha = '';
  const baseF = numberedLines('row ', 20);
  const editedF = numberedLines('row ', 20, { 2: 'ROW 2', 18: 'ROW 18' });
  const hunk2Only = numberedLines('row ', 20, { 18: 'ROW 18' });
  let original: Record<string, string> = {};
  let afterPartial: Record<string, string> = {};
  let afterBlanket: Record<string, string> = {};
  const inTask = (script: string) => {
    const result = airlock(['exec', id, '--', 'sh', '-c', script]);
    assert.equal(result.status, 0, `${script}: ${result.stderr}`);
    return result.stdout;
  };

  before(async (t) => {
    if (!(await realEngine(t as never))) return;
    ws = makeTempDir('airlock-chgcli-ws-');
    writeWithModes(ws, {
      'f.txt': { content: baseF },
      'other.txt': { content: 'other\n' },
      'script.sh': { content: '#!/bin/sh\n', mode: 0o644 },
      'keep.txt': { content: 'keep\n' },
    });
    original = hostTree(ws);
    const started = airlock(['start', '--workspace', ws, '--ttl', '900', '--json']);
    assert.equal(started.status, 0, started.stderr);
    id = JSON.parse(started.stdout).id as string;
    inTask(
      [
        "sed -i 's/^row 2$/ROW 2/; s/^row 18$/ROW 18/' f.txt",
        "printf 'other, edited\\n' > other.txt",
        "printf 'echo hi\\n' >> script.sh && chmod +x script.sh",
        "mkdir -p docs && printf 'new doc\\n' > docs/new.txt",
        'head -c 200M /dev/urandom > big.bin',
      ].join(' && '),
    );
    bigSha = inTask('sha256sum < big.bin').trim().split(/\s+/)[0];
  });

  // One hook, in this order: the task is stopped with the bundle before the temp dirs (bundle and
  // state included) are removed.
  after(() => {
    if (id) {
      const stopped = airlock(['stop', id]);
      assert.equal(stopped.status, 0, `stop ${id}: ${stopped.stderr}`);
    }
    removeTempDirs();
  });

  test('`diff --json` prints the change set in the contract shape', (t) => {
    if (!id) return t.skip('no engine');
    const json = airlock(['diff', id, '--json']);
    assert.equal(json.status, 0, json.stderr);
    const diff = JSON.parse(json.stdout) as { task: string; files: Array<Record<string, unknown>>; scan: Record<string, unknown> };
    assert.equal(diff.task, id);
    assert.equal(diff.scan.method, 'scanner');
    assert.deepEqual(
      diff.files.map((file) => file.path),
      ['big.bin', 'docs/new.txt', 'f.txt', 'other.txt', 'script.sh'],
    );
    for (const file of diff.files) {
      assert.equal(typeof file.path, 'string');
      assert.equal(typeof file.status, 'string');
      assert.equal(typeof file.binary, 'boolean');
      assert.ok(Array.isArray(file.risk), `${JSON.stringify(file.path)}: risk is an array`);
      assert.equal(typeof file.hunks, 'number');
    }
    const byPath = (rel: string) => diff.files.find((file) => file.path === rel);
    assert.match(String((diff as Record<string, unknown>).id), /^[0-9a-f]{64}$/, 'the change set is named');
    assert.deepEqual(byPath('f.txt'), { path: 'f.txt', status: 'modified', binary: false, oldMode: '100644', newMode: '100644', oldSize: baseF.length, newSize: editedF.length, oldSha256: sha256(baseF), newSha256: sha256(editedF), risk: [], hunks: 2 });
    assert.deepEqual(byPath('docs/new.txt'), { path: 'docs/new.txt', status: 'added', binary: false, newMode: '100644', newSize: 8, newSha256: sha256('new doc\n'), risk: [], hunks: 1 });
    assert.deepEqual(byPath('script.sh'), { path: 'script.sh', status: 'modified', binary: false, oldMode: '100644', newMode: '100755', oldSize: 10, newSize: 18, oldSha256: sha256('#!/bin/sh\n'), newSha256: sha256('#!/bin/sh\necho hi\n'), risk: ['exec bit is new'], hunks: 1 });
    const big = byPath('big.bin')!;
    assert.equal(big.status, 'added');
    assert.equal(big.newSize, 200 * MiB);
    assert.match(String(big.refusal), /200 MB is over the per-file limit of 100 MB \(raise it with --max-file-size\)/);
    const only = JSON.parse(airlock(['diff', id, 'f.txt', '--json']).stdout) as { files: Array<{ path: string }> };
    assert.deepEqual(only.files.map((file) => file.path), ['f.txt']);
  });

  test('`diff` prints a unified diff with numbered hunks, risks and refusals', (t) => {
    if (!id) return t.skip('no engine');
    const unified = airlock(['diff', id]);
    assert.equal(unified.status, 0, unified.stderr);
    assert.match(unified.stdout, /^diff --airlock a\/f\.txt b\/f\.txt$/m);
    assert.match(unified.stdout, /^--- a\/f\.txt\n\+\+\+ b\/f\.txt\n@@ -1,5 \+1,5 @@ hunk 1\n row 1\n-row 2\n\+ROW 2\n/m);
    assert.match(unified.stdout, /^@@ -15,6 \+15,6 @@ hunk 2\n row 15\n row 16\n row 17\n-row 18\n\+ROW 18\n/m);
    assert.match(unified.stdout, /^new file mode 100644\n--- a\/docs\/new\.txt\n\+\+\+ b\/docs\/new\.txt\n/m);
    assert.match(unified.stdout, /^old mode 100644\nnew mode 100755\nrisk: exec bit is new\n/m);
    assert.match(unified.stdout, /^never applied: 200 MB is over the per-file limit/m);
    assert.deepEqual(hostTree(ws), original, 'diff writes nothing');
  });

  test('`apply` without --yes and without a terminal refuses at once and writes nothing', (t) => {
    if (!id) return t.skip('no engine');
    const unconfirmed = airlock(['apply', id]);
    assert.notEqual(unconfirmed.status, 0);
    assert.ok(unconfirmed.ms < 15_000, `took ${unconfirmed.ms} ms`);
    assert.match(unconfirmed.stderr, /--yes/);
    assert.equal(unconfirmed.stdout, '');
    assert.deepEqual(hostTree(ws), original);
  });

  test('a bad --hunks value is a usage error (exit 2) naming --hunks', (t) => {
    if (!id) return t.skip('no engine');
    for (const value of ['f.txt:two', 'f.txt', ':2']) {
      const bad = airlock(['apply', id, '--yes', '--hunks', value]);
      assert.equal(bad.status, 2, value);
      assert.match(bad.stderr, /--hunks/, value);
    }
    assert.deepEqual(hostTree(ws), original);
  });

  test('`apply --hunks f.txt:2 f.txt` writes only the second hunk', (t) => {
    if (!id) return t.skip('no engine');
    const partial = airlock(['apply', id, '--yes', '--hunks', 'f.txt:2', 'f.txt']);
    assert.equal(partial.status, 0, partial.stderr + partial.stdout);
    assert.match(partial.stdout, new RegExp(`^write    f\\.txt ${sha256(hunk2Only).slice(0, 12)}$`, 'm'));
    assert.match(partial.stdout, /^applied 1 change\(s\) to .*; undo with `airlock undo [0-9a-z]+`$/m);
    assert.equal(fs.readFileSync(path.join(ws, 'f.txt'), 'utf8'), hunk2Only);
    assert.deepEqual(hostTree(ws), { ...original, 'f.txt': hostTree(ws)['f.txt'] });
    afterPartial = hostTree(ws);
  });

  test('`apply --yes` prints written and held lines and exits 0', (t) => {
    if (!id) return t.skip('no engine');
    const blanket = airlock(['apply', id, '--yes']);
    assert.equal(blanket.status, 0, blanket.stderr + blanket.stdout);
    assert.match(blanket.stdout, /^merge    f\.txt [0-9a-f]{12}$/m);
    assert.match(blanket.stdout, /^write    other\.txt [0-9a-f]{12}$/m);
    assert.match(blanket.stdout, /^mkdir    docs$/m);
    assert.match(blanket.stdout, /^write    docs\/new\.txt [0-9a-f]{12}$/m);
    assert.match(blanket.stdout, /^held     script\.sh: risky: exec bit is new \(choose it with --allow-risky script\.sh\)$/m);
    assert.match(blanket.stdout, /^held     big\.bin: 200 MB is over the per-file limit of 100 MB/m);
    assert.match(blanket.stdout, /^applied 4 change\(s\) to /m);
    assert.equal(fs.readFileSync(path.join(ws, 'f.txt'), 'utf8'), editedF);
    assert.equal(fs.readFileSync(path.join(ws, 'other.txt'), 'utf8'), 'other, edited\n');
    assert.equal(fs.readFileSync(path.join(ws, 'docs/new.txt'), 'utf8'), 'new doc\n');
    assert.equal(fs.existsSync(path.join(ws, 'big.bin')), false);
    assert.equal(modeOf(path.join(ws, 'script.sh')), 0o644);
    afterBlanket = hostTree(ws);
  });

  test('`apply --yes PATH` with a refused path exits non-zero and writes nothing', (t) => {
    if (!id) return t.skip('no engine');
    const risky = airlock(['apply', id, '--yes', 'script.sh']);
    assert.equal(risky.status, 1);
    assert.match(risky.stdout, /^refused  script\.sh: risky: exec bit is new; it needs an explicit choice \(--allow-risky script\.sh\)$/m);
    assert.match(risky.stdout, /^nothing was written$/m);
    const unknown = airlock(['apply', id, '--yes', 'no-such-file.txt']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stdout, /^refused  no-such-file\.txt: no such change in this task$/m);
    const oversized = airlock(['apply', id, '--yes', 'big.bin']);
    assert.equal(oversized.status, 1);
    assert.match(oversized.stdout, /^refused  big\.bin: 200 MB is over the per-file limit of 100 MB/m);
    assert.deepEqual(hostTree(ws), afterBlanket);
  });

  test('`apply --allow-risky PATH PATH` applies the risky file', (t) => {
    if (!id) return t.skip('no engine');
    const chosen = airlock(['apply', id, '--yes', '--allow-risky', 'script.sh', 'script.sh']);
    assert.equal(chosen.status, 0, chosen.stderr + chosen.stdout);
    assert.match(chosen.stdout, /^write    script\.sh [0-9a-f]{12}$/m);
    assert.equal(modeOf(path.join(ws, 'script.sh')), 0o755);
    assert.equal(fs.readFileSync(path.join(ws, 'script.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
  });

  test('`undo` reverts one apply at a time back to the original workspace, then says there is nothing left', (t) => {
    if (!id) return t.skip('no engine');
    const undo1 = airlock(['undo', id]);
    assert.equal(undo1.status, 0, undo1.stderr);
    assert.match(undo1.stdout, /^restored script\.sh$/m);
    assert.match(undo1.stdout, /^undid apply \S+$/m);
    assert.deepEqual(hostTree(ws), afterBlanket);
    const undo2 = airlock(['undo', id]);
    assert.equal(undo2.status, 0, undo2.stderr);
    assert.deepEqual(hostTree(ws), afterPartial);
    const undo3 = airlock(['undo', id]);
    assert.equal(undo3.status, 0, undo3.stderr);
    assert.deepEqual(hostTree(ws), original);
    const nothing = airlock(['undo', id]);
    assert.equal(nothing.status, 1);
    assert.match(nothing.stderr, /there is no apply to undo/);
  });

  test('`apply --max-file-size 300m` carries the 200 MB file across byte for byte', (t) => {
    if (!id) return t.skip('no engine');
    const raised = airlock(['apply', id, '--yes', '--json', '--max-file-size', '300m', 'big.bin']);
    assert.equal(raised.status, 0, raised.stderr + raised.stdout);
    const report = JSON.parse(raised.stdout) as { task: string; written: Array<{ path: string; action: string; sha256: string }>; refused: unknown[] };
    assert.equal(report.task, id);
    assert.deepEqual(report.written, [{ path: 'big.bin', action: 'write', sha256: bigSha }]);
    assert.deepEqual(report.refused, []);
    assert.equal(fs.statSync(path.join(ws, 'big.bin')).size, 200 * MiB);
    assert.equal(sha256OfFile(path.join(ws, 'big.bin')), bigSha);
  });

  test('every apply and undo is in the audit log', (t) => {
    if (!id) return t.skip('no engine');
    const records = airlock(['audit', id]).stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; written?: Array<{ path: string }> });
    const applied = records.filter((record) => record.type === 'changes.applied');
    // --hunks, blanket, three refused, --allow-risky, --max-file-size: usage errors never reach apply.
    assert.equal(applied.length, 7);
    assert.deepEqual(
      applied.map((record) => record.written?.map((item) => item.path).sort().join(',')),
      ['f.txt', 'docs,docs/new.txt,f.txt,other.txt', '', '', '', 'script.sh', 'big.bin'],
    );
    assert.equal(records.filter((record) => record.type === 'changes.undone').length, 3);
  });

  test(
    'a diff that copies megabytes out of the task always completes (15 runs)',
    (t) => {
      if (!id) return t.skip('no engine');
      for (let run = 1; run <= 15; run++) {
        inTask(`rm -f probe-*.bin && head -c 2M /dev/urandom > probe-${run}.bin`);
        const diff = airlock(['diff', id, `probe-${run}.bin`, '--json']);
        assert.equal(diff.status, 0, diff.stderr);
        assert.notEqual(diff.stdout, '', `run ${run}: diff exited 0 without printing anything`);
        const files = (JSON.parse(diff.stdout) as { files: Array<{ path: string; newSize: number }> }).files;
        assert.deepEqual(files.map((file) => [file.path, file.newSize]), [[`probe-${run}.bin`, 2 * MiB]]);
      }
      inTask('rm -f probe-*.bin');
    },
  );
});
