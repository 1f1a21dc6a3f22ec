import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, describe, test, type TestContext } from 'node:test';
import { ChangeService } from '../../src/core/changes/changeService.js';
import { scannerSessions } from '../../src/core/changes/scannerSessions.js';
import type { TaskService } from '../../src/core/task/taskService.js';
import { realEngine, run, serviceFor, TEST_IMAGE, waitFor } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

after(() => {
  scannerSessions.closeAll();
  removeTempDirs();
});

/** The pids of Airlock's change scanners running in the box, found through /proc (no ps in stock images). */
async function scannerPids(service: TaskService, id: string): Promise<string[]> {
  const found = await run(service, id, ['sh', '-c', 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q "maxHash[B]ytes" && echo ${p#/proc/}; done; true'], { backend: 'docker-exec' });
  return found.stdout.trim().split('\n').filter(Boolean);
}

async function setup(t: TestContext, runtime: 'runc' | 'runsc') {
  const engine = await realEngine(t);
  if (!engine) return undefined;
  const { service, stateRoot } = serviceFor(engine);
  const workspace = makeTempDir('airlock-scanner-session-');
  writeFiles(workspace, { 'a.txt': 'a\n', 'src/b.txt': 'b\n' });
  const record = await service.start({ workspace, image: TEST_IMAGE, runtime, ttlSeconds: 600 });
  t.after(async () => {
    scannerSessions.closeAll();
    await service.stop(record.id).catch(() => undefined);
    service.dispose();
    fs.rmSync(stateRoot, { recursive: true, force: true });
  });
  return { service, record, changes: new ChangeService(service) };
}

const paths = (files: ReadonlyArray<{ status: string; path: string }>) => files.map((file) => `${file.status} ${file.path}`);

describe('the change scanner stays up between looks (integration)', () => {
  for (const runtime of ['runc', 'runsc'] as const) {
    test(`a repeat look is answered by the same scanner, one killed by the box is replaced, and closing ends it (${runtime})`, async (t) => {
      const env = await setup(t, runtime);
      if (!env) return;
      const { service, record, changes } = env;
      await run(service, record.id, ['sh', '-c', 'echo more >> a.txt']);
      assert.deepEqual(paths((await changes.changes(record.id)).changeSet.files), ['modified a.txt']);
      const first = await scannerPids(service, record.id);
      assert.equal(first.length, 1, 'one scanner is kept in the box after a look');

      await run(service, record.id, ['sh', '-c', 'echo new > src/c.txt']);
      assert.deepEqual(paths((await changes.changes(record.id)).changeSet.files), ['modified a.txt', 'added src/c.txt']);
      assert.deepEqual(await scannerPids(service, record.id), first, 'the second look was answered by the kept scanner');

      // Agents do run `pkill node`: the next look must still be whole.
      assert.equal((await run(service, record.id, ['sh', '-c', `kill -9 ${first[0]}`], { backend: 'docker-exec' })).exitCode, 0);
      await run(service, record.id, ['rm', 'src/b.txt']);
      assert.deepEqual(paths((await changes.changes(record.id)).changeSet.files), ['modified a.txt', 'deleted src/b.txt', 'added src/c.txt']);
      const replaced = await scannerPids(service, record.id);
      assert.equal(replaced.length, 1);
      assert.notEqual(replaced[0], first[0], 'a fresh scanner took the look');

      scannerSessions.closeAll();
      assert.ok(await waitFor(async () => (await scannerPids(service, record.id)).length === 0, 10_000), 'a closed session leaves no scanner in the box');
    });
  }
});
