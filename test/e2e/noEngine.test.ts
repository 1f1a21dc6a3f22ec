// With no engine answering, VS Code still works: the Tasks view says so, and Start gives one clear
// sentence with an action as a button, the details in the log, and nothing half-created.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe } from 'node:test';
import { useE2ESession } from './harness/session.js';
import { notificationMessage, openViewContainer, runCommand, viewPane, waitForNotification } from './harness/workbench.js';

describe('Airlock in VS Code without a container engine', () => {
  // Set explicitly, so it is authoritative: no other socket is tried (engineSearch).
  const session = useE2ESession({ name: 'no-engine', env: { DOCKER_HOST: 'unix:///nonexistent/airlock-e2e/docker.sock' } });

  session.test('6. Start says in one sentence that no engine answered, offers Run Doctor, and creates nothing', async () => {
    const { page } = session;
    const containersBefore = execFileSync('/usr/bin/docker', ['ps', '-aq', '--filter', 'label=airlock.task'], { encoding: 'utf8' });
    await openViewContainer(page, 'Airlock');
    await viewPane(page, 'Tasks').locator('.message', { hasText: /No container engine: No container engine answered at unix:\/\/\/nonexistent\/airlock-e2e\/docker\.sock/ }).waitFor({ timeout: 60_000 });
    await runCommand(page, 'Airlock: Start Task for This Workspace');
    const notice = await waitForNotification(page, /^Airlock: No container engine answered at/, 60_000);
    const message = await notificationMessage(notice);
    assert.doesNotMatch(message, /\n|    at /, 'one sentence, no stack');
    const buttons = await notice.locator('.notification-list-item-buttons-container .monaco-button').allInnerTexts();
    assert.deepEqual(buttons.map((text) => text.trim()), ['Run Doctor', 'Show Log']);
    assert.match(await page.locator('.part.statusbar [id="airlock.airlock.airlock.status"]').innerText(), /Airlock: no engine/);
    await session.shot('start-without-engine');
    const log = fs.readFileSync(session.server.outputChannelLog('Airlock')!, 'utf8');
    assert.match(log, /starting a task for .*: No container engine answered at .*\n\s+→ Start the engine there/);
    // Nothing half-created: no task folder, record or container.
    assert.deepEqual(fs.existsSync(path.join(session.stateDir, 'tasks')) ? fs.readdirSync(path.join(session.stateDir, 'tasks')) : [], []);
    assert.equal(execFileSync('/usr/bin/docker', ['ps', '-aq', '--filter', 'label=airlock.task'], { encoding: 'utf8' }), containersBefore);
    // The button runs Doctor, which says the same in the log.
    await notice.locator('.notification-list-item-buttons-container .monaco-button', { hasText: 'Run Doctor' }).click();
    await waitForNotification(page, /^Airlock: No container engine answered at/, 30_000);
  });
});
