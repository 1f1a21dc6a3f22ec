// The extension in a real VS Code: installed from airlock.vsix into code-server, driven in chromium.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe } from 'node:test';
import { useE2ESession } from './harness/session.js';
import { notificationMessage, openViewContainer, runCommand, showView, waitForNotification } from './harness/workbench.js';

describe('Airlock in VS Code (code-server)', () => {
  const session = useE2ESession({ name: 'smoke' });

  session.test('"Airlock: Doctor" from the command palette says the engine is ready', async () => {
    const { page } = session;
    await runCommand(page, 'Airlock: Doctor');
    // The first run loads the core and asks the engine; two slow cores need a while.
    const notification = await waitForNotification(page, /^Airlock: engine .+ is ready\.$/, 60_000);
    assert.match(await notificationMessage(notification), /^Airlock: engine \S+ is ready\.$/);
    const log = fs.readFileSync(session.server.outputChannelLog('Airlock')!, 'utf8');
    assert.match(log, /Airlock doctor: looking for a container engine/);
    assert.match(log, /seccomp\s+enabled/);
    await session.shot('doctor-engine-ready');
  });

  session.test('the Airlock activity-bar container shows the Tasks and Approvals views', async () => {
    const { page } = session;
    const sideBar = await openViewContainer(page, 'Airlock');
    for (const view of ['Tasks', 'Approvals']) await showView(page, view);
    const titles = await sideBar.locator('.pane-header h3.title').allInnerTexts();
    assert.deepEqual(titles, ['Tasks', 'Approvals']);
    await session.shot('airlock-views-empty');
  });
});
