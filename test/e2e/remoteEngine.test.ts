// The extension against remote engines (issue 19), in code-server: DOCKER_HOST=tcp://… with TLS
// both ways (a second dockerd the test owns) and DOCKER_HOST=ssh://… (a loopback sshd of the
// test's, the key in ssh-agent). Start from the command palette, the task running in Tasks, the
// box's change in the review, Apply Selected writing it to the host, and Stop leaving nothing on
// that engine: the copy, the scanner and the gateway's relay all went over the engine API.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, type TestContext } from 'node:test';
import { connectEngine, type EngineConnection } from '../../src/core/engine/locateEngine.js';
import { labelled } from '../helpers/realEngine.js';
import { secondEngine, stopSecondEngine } from '../helpers/secondEngine.js';
import { sshEngine, stopSshEngine } from '../helpers/sshEngine.js';
import { clickScmTitleAction, scmResource } from './harness/scm.js';
import { type E2ESession, useE2ESession } from './harness/session.js';
import { answerDialog, clickTreeItemAction, openViewContainer, runCommand, treeItems, waitForNotification, waitForTreeItem, widenSideBar } from './harness/workbench.js';

// A policy that only tightens, so Start asks nothing but Start (and the extension activates on it).
const FILES = { 'README.md': '# remote\n', 'src/app.js': 'console.log(1);\n', '.airlock.json': `${JSON.stringify({ resources: { ttlSeconds: 900 } }, null, 2)}\n` };

/** For a before hook, which has no skip(): in CI the helpers throw, failing the suite. */
const hookContext = { skip: () => undefined } as unknown as TestContext;

after(async () => {
  await stopSshEngine();
  await stopSecondEngine();
});

/** The same steps on either engine; `engine` is a connection to it for what the screen cannot show. */
function wholeTaskInVsCode(session: E2ESession, name: string, engine: () => EngineConnection): void {
  let taskId = '';
  const task = () => new RegExp(`^sample-project · ${taskId}$`);

  session.test(`1. Start Task over ${name}: the task runs in Tasks, its container on that engine`, async () => {
    const { page } = session;
    await openViewContainer(page, 'Airlock');
    await widenSideBar(page, 480);
    await runCommand(page, 'Airlock: Start Task for This Workspace');
    assert.match(await answerDialog(page, 'Start', 60_000), /Start a sandboxed task for sample-project\?/);
    const running = await waitForNotification(page, /^Airlock: task [0-9a-f]{12} is running for sample-project/, 180_000);
    taskId = /task ([0-9a-f]{12})/.exec(await running.innerText())![1];
    const row = await waitForTreeItem(page, 'Tasks', task(), 60_000);
    await row.locator('.label-description', { hasText: /^running · runc · / }).waitFor({ timeout: 30_000 });
    assert.equal((await labelled(engine(), taskId)).containers, 1, 'the container is on the remote engine');
    await session.shot(`${name}-running`);
  });

  session.test(`2. the box's change shows in the review and Apply Selected writes it to the host, over ${name}`, async () => {
    const { page } = session;
    const edited = await session.airlock('exec', taskId, '--', 'sh', '-c', "echo 'console.log(2);' > src/app.js");
    assert.equal(edited.code, 0, edited.stderr);
    await clickTreeItemAction(page, 'Tasks', task(), 'Review Changes');
    await scmResource(page, 'app.js').first().waitFor({ timeout: 60_000 });
    await session.shot(`${name}-review`);
    await clickScmTitleAction(page, 'Apply Selected');
    await waitForNotification(page, /file\(s\) written to sample-project/, 60_000);
    assert.equal(fs.readFileSync(path.join(session.workspace, 'src/app.js'), 'utf8'), 'console.log(2);\n');
  });

  session.test(`3. Stop from Tasks leaves nothing of the task on the ${name} engine`, async () => {
    const { page } = session;
    await runCommand(page, 'View: Close All Editors');
    await openViewContainer(page, 'Airlock');
    await clickTreeItemAction(page, 'Tasks', task(), 'Stop Task');
    await answerDialog(page, 'Stop');
    await treeItems(page, 'Tasks', task()).first().waitFor({ state: 'detached', timeout: 60_000 });
    assert.deepEqual(await labelled(engine(), taskId), { containers: 0, volumes: 0 });
  });
}

/**
 * A code-server session whose environment points at the engine `start` brings up (filled in by
 * a before hook registered ahead of the session's own, which reads it when it starts the server).
 */
function remoteEngineSuite(title: string, name: string, start: () => Promise<NodeJS.ProcessEnv | undefined>): void {
  describe(title, () => {
    const env: Record<string, string> = {};
    let connection: EngineConnection | undefined;
    before(async () => {
      const engineEnv = await start();
      if (!engineEnv) return;
      Object.assign(env, engineEnv);
      connection = await connectEngine({ env: { ...process.env, ...env }, timeoutMs: 10_000 });
    });
    const session = useE2ESession({ name: `remote-${name}`, files: FILES, trust: true, env });
    wholeTaskInVsCode(session, name, () => connection!);
  });
}

remoteEngineSuite('Airlock in VS Code with a remote engine over tcp+TLS', 'tls', async () => (await secondEngine(hookContext))?.tls.env);
remoteEngineSuite('Airlock in VS Code with a remote engine over ssh', 'ssh', async () => (await sshEngine(hookContext))?.env);
