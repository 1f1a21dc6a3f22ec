import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import type Docker from 'dockerode';
import * as tarStream from 'tar-stream';
import type { TaskOptionsInput } from '../../src/core/config/taskOptions.js';
import { hostTree, startTask, statusLines } from '../helpers/changeFixtures.js';
import { realEngine, run, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * Stock images (node:22-bookworm, a `debootstrap` + `docker import` rootfs) have no /workspace:
 * the engine then makes the volume root owned by root, and unless the copy sets its owner the
 * agent cannot create a file at the top of its own workspace. The test image is built that way
 * (scripts/setup-engine.sh, recipe 2); the first test checks it still is, so these tests cannot
 * pass by an image that hides the problem.
 */

const RUN = `${process.pid}-${Date.now().toString(36)}`;
const POPULATED_IMAGE = `airlock-test-populated-workspace:${RUN}`;

const FILES = { 'README.md': '# hello\n', 'src/main.js': 'console.log(1);\n' };

/** Owner, group and mode of a path as `find` prints them: Debian's 2022 gVisor answers coreutils' statx() (stat, ls) with EINVAL. */
const ownerOf = (path: string) => ['find', path, '-maxdepth', '0', '-printf', '%U:%G %m'];

/** A task on a fresh copy of FILES; undefined when the engine is missing outside CI. */
async function startOnStock(t: TestContext, options: Partial<TaskOptionsInput>) {
  const workspace = makeTempDir('airlock-stock-ws-');
  writeFiles(workspace, FILES);
  const task = await startTask(t, workspace, options);
  return task && { ...task, inTask: (argv: string[]) => run(task.service, task.id, argv) };
}

/**
 * What a user sees first: a file written at the workspace root, the root owned by the sandbox
 * user, and that file (and only it) in the change set.
 */
async function assertRootWritable(t: TestContext, options: Partial<TaskOptionsInput>, ids: string) {
  const task = await startOnStock(t, options);
  if (!task) return;
  const touched = await task.inTask(['touch', '/workspace/x']);
  assert.equal(touched.exitCode, 0, `touch /workspace/x: ${touched.stderr}`);
  assert.equal((await task.inTask(ownerOf('/workspace'))).stdout, `${ids} 755`);
  assert.equal((await task.inTask(ownerOf('/workspace/x'))).stdout.split(' ')[0], ids);
  const { changeSet } = await task.changes.changes(task.id);
  assert.deepEqual(statusLines(changeSet), ['added x']);
}

describe('a task on a stock image (integration)', () => {
  after(removeTempDirs);
  after(async () => {
    await populated?.docker.getImage(POPULATED_IMAGE).remove({ force: true }).catch(() => undefined);
  });

  test('the test image has no /workspace and no /home/airlock of its own', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const container = await engine.docker.createContainer({ Image: TEST_IMAGE, Cmd: ['true'], Entrypoint: [] });
    try {
      for (const path of ['/workspace', '/home/airlock']) {
        await assert.rejects(container.infoArchive({ path }), (error: { statusCode?: number }) => error.statusCode === 404, `${TEST_IMAGE} has ${path}: rebuild it with scripts/setup-engine.sh`);
      }
    } finally {
      await container.remove({ force: true });
    }
  });

  for (const runtime of ['runc', 'runsc'] as const) {
    test(`under ${runtime}, the default user can write at the workspace root and in its home`, async (t) => {
      const task = await startOnStock(t, { runtime });
      if (!task) return;
      const touched = await task.inTask(['sh', '-c', 'touch /workspace/x && touch "$HOME/y"']);
      assert.equal(touched.exitCode, 0, touched.stderr);
      assert.equal((await task.inTask(ownerOf('/workspace'))).stdout, '1000:1000 755');
      assert.equal((await task.inTask(ownerOf('/workspace/src'))).stdout.split(' ')[0], '1000:1000');
      const { changeSet } = await task.changes.changes(task.id);
      assert.deepEqual(statusLines(changeSet), ['added x']);
    });

    test(`under ${runtime}, a non-default --user 1234:1234 owns the workspace root`, async (t) => {
      await assertRootWritable(t, { runtime, user: '1234:1234' }, '1234:1234');
    });

    test(`under ${runtime}, root with --allow-root owns the workspace root`, async (t) => {
      await assertRootWritable(t, { runtime, user: '0:0', allowRoot: true }, '0:0');
    });
  }

  // The copy names the root "/" rather than extracting at "/", which the engine refuses for a read-only root.
  test('under runc, with a read-only root filesystem, the workspace root is writable', async (t) => {
    await assertRootWritable(t, { runtime: 'runc', readOnlyRoot: true }, '1000:1000');
  });

  // The in-memory workspace is runc only (taskOptions refuses it with runsc).
  test('under runc, an in-memory workspace (--workspace-tmpfs) is writable at the root', async (t) => {
    await assertRootWritable(t, { runtime: 'runc', workspaceTmpfs: '64m' }, '1000:1000');
  });

  test('under runc, an in-memory workspace with --user 1234:1234 is owned by that user', async (t) => {
    await assertRootWritable(t, { runtime: 'runc', workspaceTmpfs: '64m', user: '1234:1234' }, '1234:1234');
  });

  /**
   * The engine copies an image's own /workspace (files and owner) into a fresh volume unless the
   * mount says NoCopy; the task's workspace must still be exactly the snapshot.
   */
  const imageWorkspaces = [
    { runtime: 'runc', workspaceTmpfs: undefined },
    { runtime: 'runsc', workspaceTmpfs: undefined },
    { runtime: 'runc', workspaceTmpfs: '64m' },
  ] as const;
  for (const { runtime, workspaceTmpfs } of imageWorkspaces) {
    test(`under ${runtime}${workspaceTmpfs ? ' (tmpfs)' : ''}, an image with its own /workspace (another owner, files) gives exactly the snapshot`, async (t) => {
      const engine = await realEngine(t);
      if (!engine) return;
      await populatedImage(engine.docker);
      const task = await startOnStock(t, { runtime, workspaceTmpfs, image: POPULATED_IMAGE });
      if (!task) return;
      assert.deepEqual(await task.taskTree(), hostTree(task.workspace, 'exec'));
      assert.equal((await task.inTask(ownerOf('/workspace'))).stdout, '1000:1000 755');
      assert.equal((await task.inTask(['touch', '/workspace/x'])).exitCode, 0);
      const { changeSet } = await task.changes.changes(task.id);
      assert.deepEqual(statusLines(changeSet), ['added x']);
    });
  }
});

let populated: { docker: Docker; built: Promise<void> } | undefined;

/** TEST_IMAGE plus a /workspace owned by uid 1001, mode 0700, holding files: built once, by commit (no RUN, no network). */
function populatedImage(docker: Docker): Promise<void> {
  populated ??= { docker, built: buildPopulatedImage(docker) };
  return populated.built;
}

async function buildPopulatedImage(docker: Docker): Promise<void> {
  const container = await docker.createContainer({ Image: TEST_IMAGE, Cmd: ['true'], Entrypoint: [] });
  try {
    const pack = tarStream.pack();
    const owner = { uid: 1001, gid: 1001, mtime: new Date() };
    pack.entry({ ...owner, name: 'workspace/', type: 'directory', mode: 0o700 });
    pack.entry({ ...owner, name: 'workspace/from-image.txt', mode: 0o644 }, 'image content\n');
    pack.entry({ ...owner, name: 'workspace/src/', type: 'directory', mode: 0o755 });
    pack.entry({ ...owner, name: 'workspace/src/main.js', mode: 0o644 }, 'from the image\n');
    pack.finalize();
    await container.putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/' });
    const [repo, tag] = POPULATED_IMAGE.split(':');
    await container.commit({ repo, tag });
  } finally {
    await container.remove({ force: true });
  }
}
