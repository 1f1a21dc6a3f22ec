import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { ChangeService } from '../../src/core/changes/changeService.js';
import type { TaskService } from '../../src/core/task/taskService.js';
import { BASE_LABEL } from '../../src/core/task/workspaceLayers.js';
import { hostTree } from '../helpers/changeFixtures.js';
import { realEngine, run, serviceFor, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

/** The box's tree as {path: description}, without node: `find` and `sha256sum` only. */
async function boxTree(service: TaskService, id: string): Promise<Record<string, string>> {
  const script = `cd /workspace && find . -mindepth 1 -path ./.git -prune -o \\( -type d -printf 'dir %P\\n' \\) -o \\( -type l -printf 'link %P %l\\n' \\) -o \\( -type f -printf 'file %P %m\\n' \\) | sort`;
  const listing = await run(service, id, ['sh', '-c', script]);
  assert.equal(listing.exitCode, 0, listing.stderr);
  const tree: Record<string, string> = {};
  for (const line of listing.stdout.trim().split('\n').filter(Boolean)) {
    const [kind, rel, extra] = line.split(' ');
    if (kind === 'dir') tree[rel] = 'dir';
    else if (kind === 'link') tree[rel] = `link ${extra}`;
    else {
      const sum = await run(service, id, ['sha256sum', rel]);
      tree[rel] = `file ${Number.parseInt(extra, 8) & 0o111 ? 'x' : '-'} ${sum.stdout.split(' ')[0]}`;
    }
  }
  return tree;
}

async function setup(t: TestContext) {
  const engine = await realEngine(t);
  if (!engine) return undefined;
  const { service, stateRoot, warnings } = serviceFor(engine);
  const started: string[] = [];
  t.after(async () => {
    for (const id of started) await service.stop(id).catch(() => undefined);
    service.dispose();
    fs.rmSync(stateRoot, { recursive: true, force: true });
    await service.gc().catch(() => undefined);
  });
  const start = async (workspace: string, extra: Parameters<TaskService['start']>[0] extends infer O ? Partial<O> : never = {}) => {
    const record = await service.start({ workspace, image: TEST_IMAGE, ttlSeconds: 900, ...extra });
    started.push(record.id);
    return record;
  };
  return { engine, service, start, warnings };
}

/** Files old enough that their timestamps can be trusted against the base (git's racy-clean rule). */
async function agedWorkspace(files: Record<string, string>): Promise<string> {
  const root = makeTempDir('airlock-layers-');
  writeFiles(root, files);
  await new Promise((resolve) => setTimeout(resolve, 300));
  return root;
}

describe('layered workspaces: tasks of one workspace start from its base, copy-on-write (integration)', () => {
  for (const runtime of ['runc', 'runsc'] as const) {
    test(`a repeat start shows exactly the host's tree after edits, additions, removals and type changes (${runtime})`, async (t) => {
      const env = await setup(t);
      if (!env) return;
      const files: Record<string, string> = { 'keep.txt': 'same\n', 'edit.txt': 'before\n', 'gone.txt': 'x\n', 'gonedir/a.txt': 'a\n', 'gonedir/sub/b.txt': 'b\n', 'becomes-dir': 'file\n', 'becomes-file/c.txt': 'c\n', 'src/main.js': 'console.log(1)\n' };
      for (let index = 0; index < 300; index++) files[`bulk/f${index}.txt`] = `${index}\n`;
      const workspace = await agedWorkspace(files);
      const first = await env.start(workspace, { runtime });
      assert.ok(first.snapshot.baseVolume, 'the first task is layered');
      assert.deepEqual(await boxTree(env.service, first.id), hostTree(workspace, 'exec'));
      // The first task's own edits never reach its base, so never the next task.
      assert.equal((await run(env.service, first.id, ['sh', '-c', 'echo box > keep.txt && rm edit.txt'])).exitCode, 0);

      fs.writeFileSync(path.join(workspace, 'edit.txt'), 'after, longer\n');
      fs.writeFileSync(path.join(workspace, 'added.txt'), 'new\n');
      fs.rmSync(path.join(workspace, 'gone.txt'));
      fs.rmSync(path.join(workspace, 'gonedir'), { recursive: true });
      fs.rmSync(path.join(workspace, 'becomes-dir'));
      writeFiles(workspace, { 'becomes-dir/inside.txt': 'in\n' });
      fs.rmSync(path.join(workspace, 'becomes-file'), { recursive: true });
      fs.writeFileSync(path.join(workspace, 'becomes-file'), 'now a file\n');
      fs.chmodSync(path.join(workspace, 'src/main.js'), 0o755);
      fs.writeFileSync(path.join(workspace, '.env'), 'API_TOKEN=never-in-the-box\n');

      const second = await env.start(workspace, { runtime });
      assert.equal(second.snapshot.baseVolume, first.snapshot.baseVolume, 'the repeat start stands on the same base');
      const expected = hostTree(workspace, 'exec');
      delete expected['.env'];
      assert.deepEqual(await boxTree(env.service, second.id), expected);
      assert.equal((await run(env.service, second.id, ['cat', '/workspace/.env'])).exitCode, 1, 'the secret stays out of a layered copy too');

      // The review shows only what the box's own commands change, never the layering.
      const changes = new ChangeService(env.service);
      assert.deepEqual((await changes.changes(second.id)).changeSet.files.map((file) => file.path), []);
      assert.equal((await run(env.service, second.id, ['sh', '-c', 'echo mine >> bulk/f7.txt && rm bulk/f8.txt && echo n > becomes-dir/new.txt'])).exitCode, 0);
      const found = (await changes.changes(second.id)).changeSet.files.map((file) => `${file.status} ${file.path}`).sort();
      assert.deepEqual(found, ['added becomes-dir/new.txt', 'deleted bulk/f8.txt', 'modified bulk/f7.txt']);
    });
  }

  test('on a repeat start, the guided scan finds what the archive scan finds, delta paths and base paths alike', async (t) => {
    const env = await setup(t);
    if (!env) return;
    const files: Record<string, string> = { 'keep.txt': 'keep\n', 'base-dir/a.txt': 'a\n', 'base-dir/sub/b.txt': 'b\n', 'opaque/old.txt': 'old\n', 'opaque/deep/x.txt': 'x\n', 'to-file/inner.txt': 'in\n', 'move-me/m.txt': 'm\n', 'link-host/t1': '1\n', 'link-host/t2': '2\n' };
    for (let index = 0; index < 200; index++) files[`bulk/f${index}.txt`] = `${index}\n`;
    const workspace = await agedWorkspace(files);
    const first = await env.start(workspace);
    assert.ok(first.snapshot.baseVolume, 'the first task is layered');
    // The second task's delta: an added file, an edited one, a removed one, all in its upper folder.
    writeFiles(workspace, { 'delta-added.txt': 'added on the host\n', 'delta-dir/d.txt': 'd\n' });
    fs.writeFileSync(path.join(workspace, 'keep.txt'), 'edited on the host\n');
    fs.rmSync(path.join(workspace, 'bulk/f3.txt'));
    fs.symlinkSync('t1', path.join(workspace, 'link-host/link'));
    const second = await env.start(workspace);
    assert.equal(second.snapshot.baseVolume, first.snapshot.baseVolume);
    const changes = new ChangeService(env.service);
    assert.deepEqual((await changes.changes(second.id)).changeSet.files, [], 'the delta is the baseline, not a change');
    const script = [
      'rm delta-added.txt',
      'rm -rf delta-dir',
      "printf 'box\\n' >> keep.txt",
      'rm -rf opaque && mkdir -p opaque/deep && echo fresh > opaque/new.txt',
      'rm -rf to-file && echo now-a-file > to-file',
      'mv move-me moved',
      'ln -sfn t2 link-host/link',
      'rm base-dir/sub/b.txt && rmdir base-dir/sub',
      'chmod +x bulk/f9.txt',
      'mkdir -p brand/new && echo n > brand/new/n.txt && echo gone > brand/tmp.txt && rm brand/tmp.txt',
    ].join(' && ');
    const ran = await run(env.service, second.id, ['sh', '-c', script]);
    assert.equal(ran.exitCode, 0, ran.stderr);
    const byScanner = (await changes.changes(second.id, { method: 'scanner' })).changeSet;
    const byArchive = (await changes.changes(second.id, { method: 'archive' })).changeSet;
    const lines = (set: typeof byScanner) => set.files.map((file) => `${file.status} ${file.path}${file.oldPath ? ` <- ${file.oldPath}` : ''}`);
    assert.deepEqual(lines(byScanner), lines(byArchive));
    assert.deepEqual(lines(byScanner), [
      'deleted base-dir/sub',
      'deleted base-dir/sub/b.txt',
      'added brand/new/n.txt',
      'modified bulk/f9.txt',
      'deleted delta-added.txt',
      'deleted delta-dir',
      'deleted delta-dir/d.txt',
      'modified keep.txt',
      'modified link-host/link',
      'deleted move-me',
      'renamed moved/m.txt <- move-me/m.txt',
      'deleted opaque/deep/x.txt',
      'added opaque/new.txt',
      'deleted opaque/old.txt',
      'typechange to-file',
      'deleted to-file/inner.txt',
    ]);
    assert.deepEqual(byScanner.files.map((file) => file.after?.sha256), byArchive.files.map((file) => file.after?.sha256));
  });

  test('the base is read-only to the box, counted in use by the engine, and kept by gc while a task stands on it', async (t) => {
    const env = await setup(t);
    if (!env) return;
    const workspace = await agedWorkspace({ 'a.txt': 'a\n' });
    const task = await env.start(workspace);
    const baseVolume = task.snapshot.baseVolume!;
    const write = await run(env.service, task.id, ['sh', '-c', 'echo x > /.airlock/base/a.txt']);
    assert.notEqual(write.exitCode, 0, 'the base mount refuses writes');
    assert.match(write.stderr, /Read-only file system/);
    await assert.rejects(env.engine.docker.getVolume(baseVolume).remove(), /in use/, 'the engine refuses to remove a mounted base');
    await env.service.gc();
    const volumes = (await env.engine.docker.listVolumes({ filters: { label: [BASE_LABEL] } })).Volumes ?? [];
    assert.ok(volumes.some((volume) => volume.Name === baseVolume), 'gc kept the base in use');
  });

  test('a workspace changed beyond a quarter gets a fresh base; the old one goes with gc once unused', async (t) => {
    const env = await setup(t);
    if (!env) return;
    const files: Record<string, string> = {};
    for (let index = 0; index < 400; index++) files[`f${index}.txt`] = `${index}\n`;
    const workspace = await agedWorkspace(files);
    const first = await env.start(workspace);
    for (let index = 0; index < 300; index++) fs.writeFileSync(path.join(workspace, `f${index}.txt`), `changed ${index}\n`);
    const second = await env.start(workspace);
    assert.notEqual(second.snapshot.baseVolume, first.snapshot.baseVolume);
    assert.deepEqual(await boxTree(env.service, second.id), hostTree(workspace, 'exec'));
    await env.service.stop(first.id);
    // Superseded bases wait ten minutes (a start may be filling one); the engine is the judge of "in use".
    const bases = (await env.engine.docker.listVolumes({ filters: { label: [BASE_LABEL] } })).Volumes?.map((volume) => volume.Name) ?? [];
    assert.ok(bases.includes(first.snapshot.baseVolume!));
  });
});
