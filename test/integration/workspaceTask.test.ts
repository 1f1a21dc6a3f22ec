import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { CancelledError } from '../../src/core/ground/errors.js';
import type { ProgressUpdate } from '../../src/core/ground/progress.js';
import { planWorkspaceTask, startWorkspaceTask } from '../../src/core/usecases/workspaceTask.js';
import { realEngine, run, serviceFor, TEST_IMAGE, tempDir } from '../helpers/realEngine.js';

/** A workspace with enough files that copying reports several updates. */
function workspaceWithFiles(count: number): string {
  const workspace = tempDir('usecase-ws');
  fs.mkdirSync(path.join(workspace, 'src'));
  for (let index = 0; index < count; index++) fs.writeFileSync(path.join(workspace, 'src', `file${index}.txt`), `${'x'.repeat(4096)}${index}\n`);
  fs.writeFileSync(path.join(workspace, 'README.md'), '# use case\n');
  return workspace;
}

describe('starting a task for a workspace, the one use case (integration)', () => {
  test('policy, start and setup phase in one call, with progress that only rises and reaches the end', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const workspace = workspaceWithFiles(300);
    fs.writeFileSync(path.join(workspace, '.airlock.json'), JSON.stringify({ image: TEST_IMAGE, resources: { ttlSeconds: 600 } }));
    const plan = planWorkspaceTask(service.store.root, { workspace, userLayer: { setupCommands: ['echo setup-ran > /tmp/setup-marker'] }, trusted: true, defaultImage: TEST_IMAGE });
    assert.equal(plan.policy.effective.policy.image, TEST_IMAGE, 'the plan shows the merged policy before anything starts');
    const updates: ProgressUpdate[] = [];
    const record = await startWorkspaceTask(service, plan, { onProgress: (update) => updates.push(update) });
    try {
      assert.equal((await run(service, record.id, ['cat', '/tmp/setup-marker'])).stdout, 'setup-ran\n');
      const fractions = updates.map((update) => update.fraction ?? 0);
      assert.deepEqual(fractions, [...fractions].sort((a, b) => a - b), 'the whole start only moves forward');
      assert.equal(fractions.at(-1), 1);
      const copying = updates.filter((update) => update.step === 'copying');
      assert.ok(copying.length >= 3, `copying reports as it goes (${copying.length} updates)`);
      const bytes = copying.map((update) => update.done ?? 0);
      assert.deepEqual(bytes, [...bytes].sort((a, b) => a - b), 'bytes copied only rise');
      const last = copying.at(-1)!;
      assert.equal(last.unit, 'bytes');
      assert.equal(last.done, last.total, 'copying reaches its total');
      assert.equal(last.files?.done, last.files?.total);
      assert.equal(last.files?.total, 302, 'every file of the workspace, .airlock.json included');
      const setup = updates.filter((update) => update.step === 'setup');
      assert.deepEqual(setup.map((update) => [update.done, update.total]), [[0, 1], [1, 1]]);
      for (const step of ['listing', 'creating', 'copying', 'recording', 'setup'] as const) assert.ok(updates.some((update) => update.step === step), `step ${step} is reported`);
    } finally {
      await service.stop(record.id);
      service.dispose();
    }
  });

  test('an abort while copying leaves nothing behind', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const workspace = workspaceWithFiles(300);
    const plan = planWorkspaceTask(service.store.root, { workspace, userLayer: { image: TEST_IMAGE }, trusted: true, defaultImage: TEST_IMAGE });
    const airlockObjects = async () => ({
      containers: (await engine.docker.listContainers({ all: true, filters: { label: ['airlock.task'] } })).length,
      volumes: (await engine.docker.listVolumes({ filters: { label: ['airlock.task'] } })).Volumes?.length ?? 0,
    });
    const before = await airlockObjects();
    const controller = new AbortController();
    await assert.rejects(startWorkspaceTask(service, plan, {
      signal: controller.signal,
      onProgress: (update) => { if (update.step === 'copying' && (update.done ?? 0) > 0) controller.abort(); },
    }), (error: unknown) => CancelledError.is(error) || (error as Error).name === 'AbortError');
    assert.deepEqual(service.store.ids(), [], 'no task record');
    assert.deepEqual(await airlockObjects(), before, 'no container or volume of this start');
    service.dispose();
  });
});
