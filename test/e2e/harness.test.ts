// The harness's own helpers against VS Code's built-in UI (Explorer, Source Control, the git and
// markdown extensions), so a change in VS Code's DOM shows up here, not as a puzzling Airlock failure.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe } from 'node:test';
import { runGit } from '../helpers/tempWorkspace.js';
import { useE2ESession } from './harness/session.js';
import {
  activeEditorText,
  answerDialog,
  answerInputBox,
  answerQuickPick,
  clickNotificationButton,
  clickTreeItemAction,
  editorTab,
  openFile,
  exactly,
  expandTreeItem,
  openViewContainer,
  pickTreeItemMenu,
  quickInput,
  readClipboard,
  runCommand,
  statusBarItem,
  statusBarText,
  trustWorkspace,
  waitForTreeItem,
  webviewFrame,
} from './harness/workbench.js';

/** Polls a fact outside the browser (a file, git) that the UI action should bring about. */
async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the e2e harness on VS Code 1.139', () => {
  const session = useE2ESession({ name: 'harness' });

  session.test('the folder opens in Restricted Mode and trustWorkspace trusts it through the UI', async () => {
    const { page } = session;
    assert.equal(await statusBarText(page, 'status.workspaceTrust'), 'Restricted Mode');
    await trustWorkspace(page);
    assert.equal(await statusBarItem(page, 'status.workspaceTrust').count(), 0);
  });

  session.test('openFile, runCommand, answerQuickPick and statusBarText: Change Language Mode', async () => {
    const { page } = session;
    await openFile(page, 'src/greet.js');
    assert.match(await activeEditorText(page), /export const greet/);
    await runCommand(page, 'Change Language Mode');
    await answerQuickPick(page, 'Plain Text');
    assert.equal(await statusBarText(page, 'status.editor.mode'), 'Plain Text');
  });

  session.test('webviewFrame reads a webview\'s content (the markdown preview)', async () => {
    const { page } = session;
    await openFile(page, 'README.md');
    await runCommand(page, 'Markdown: Open Preview to the Side');
    const heading = webviewFrame(page, 'vscode.markdown-language-features').locator('h1');
    await heading.waitFor({ timeout: 30_000 });
    assert.equal((await heading.innerText()).trim(), 'Sample project');
    await runCommand(page, 'View: Close All Editor Groups');
  });

  session.test('answerInputBox: Git: Create Branch... creates and checks out the branch', async () => {
    const { page } = session;
    await runCommand(page, 'Git: Create Branch...');
    await answerInputBox(page, 'e2e-branch');
    await eventually('the branch to be checked out', () => (runGit(session.workspace, 'branch', '--show-current').trim() === 'e2e-branch' ? true : undefined));
  });

  session.test('clickNotificationButton: Git: Push without a remote offers Add Remote, which asks for a URL', async () => {
    const { page } = session;
    await runCommand(page, 'Git: Push');
    await clickNotificationButton(page, 'Your repository has no remotes configured to push to.', 'Add Remote');
    await quickInput(page).waitFor({ state: 'visible' });
    await page.keyboard.press('Escape');
    await quickInput(page).waitFor({ state: 'hidden' });
  });

  session.test('clickTreeItemAction: the inline Stage Changes action on a changed file stages it', async () => {
    const { page } = session;
    fs.appendFileSync(path.join(session.workspace, 'README.md'), '\nA change to stage.\n');
    await openViewContainer(page, 'Source Control');
    await waitForTreeItem(page, 'Changes', 'README.md', 30_000);
    await clickTreeItemAction(page, 'Changes', 'README.md', 'Stage Changes');
    await eventually('README.md to be staged', () => (runGit(session.workspace, 'diff', '--cached', '--name-only').trim() === 'README.md' ? true : undefined));
  });

  session.test('pickTreeItemMenu and readClipboard: Copy Relative Path in the Explorer', async () => {
    const { page } = session;
    await openViewContainer(page, 'Explorer');
    const explorer = path.basename(session.workspace);
    await expandTreeItem(page, explorer, exactly('src'));
    await pickTreeItemMenu(page, explorer, exactly('greet.js'), 'Copy Relative Path');
    assert.equal(await readClipboard(page), path.join('src', 'greet.js'));
  });

  session.test('answerDialog: closing an edited untitled file asks whether to save', async () => {
    const { page } = session;
    await runCommand(page, 'File: New Untitled Text File');
    await editorTab(page, 'Untitled-1').and(page.locator('.active')).waitFor();
    await page.keyboard.type('a draft');
    await editorTab(page, 'Untitled-1').and(page.locator('.dirty')).waitFor();
    await runCommand(page, 'View: Close Editor');
    const text = await answerDialog(page, "Don't Save");
    // An untitled file is named after its first line.
    assert.match(text, /^Do you want to save the changes you made to a draft\?/);
    assert.equal(await page.locator('.part.editor .tab').count(), 0);
    await session.shot('harness-final');
  });
});
