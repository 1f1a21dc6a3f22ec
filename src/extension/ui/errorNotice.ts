import * as vscode from 'vscode';
import type * as Core from '../../core/index.js';
import type { ErrorAction } from '../../core/index.js';
import { noticeText } from './noticeText.js';

/** VS Code settings that hold a task setting an error may point at; the rest live in the policy file. */
const SETTING_FOR: Partial<Record<string, string>> = { image: 'airlock.image', runtime: 'airlock.runtime' };

interface Button {
  title: string;
  run(): Thenable<unknown> | void;
}

/** An error action as a notification button, where VS Code has a way to do it; undefined otherwise. */
function button(action: ErrorAction): Button | undefined {
  const command = (title: string, id: string, ...args: unknown[]): Button => ({ title, run: () => vscode.commands.executeCommand(id, ...args) });
  switch (action.kind) {
    case 'startEngine':
    case 'runDoctor':
      return command('Run Doctor', 'airlock.doctor');
    case 'useRuntime':
      // The setting is opened, not written: switching runtime for every later task is the user's call.
      return command('Open Setting', 'workbench.action.openSettings', 'airlock.runtime');
    case 'acceptPolicy':
      return command('Review Policy…', 'airlock.acceptPolicy', action.workspace);
    case 'startTask':
      return command('Start Task', 'airlock.startTask');
    case 'chooseWorkspace':
      return command('Open Folder…', 'workbench.action.files.openFolder');
    case 'listTasks':
      return command('Show Tasks', 'airlock.tasks.focus');
    case 'listRequests':
      return command('Show Approvals', 'airlock.approvals.focus');
    case 'openFile': {
      const line = Math.max(0, (action.line ?? 1) - 1);
      const column = Math.max(0, (action.column ?? 1) - 1);
      return command('Open File', 'vscode.open', vscode.Uri.file(action.file), { selection: new vscode.Range(line, column, line, column), preview: true });
    }
    case 'changeSetting': {
      const setting = SETTING_FOR[action.setting];
      return setting ? command('Open Setting', 'workbench.action.openSettings', setting) : command('Show Policy', 'airlock.showPolicy');
    }
    case 'reviewChanges':
      return command('Review Changes', 'airlock.reviewChanges', { task: action.task });
    case 'undoApply':
      return command(action.overwriteHostEdits ? 'Undo Anyway' : 'Undo Last Apply', 'airlock.undoLastApply', { task: action.task, force: action.overwriteHostEdits === true });
    default:
      // Push retries and risky-path choices are worded in the log: the review view offers the choice itself.
      return undefined;
  }
}

/**
 * Shows an error the VS Code way: one sentence in a notification, the error's actions as buttons,
 * and everything else (hint, further lines, stack) in the log. A cancellation is not an error.
 */
export async function showError(core: typeof Core, output: vscode.LogOutputChannel, error: unknown, doing: string): Promise<void> {
  if (core.CancelledError.is(error)) {
    output.info(`${doing}: cancelled`);
    return;
  }
  const described = core.describeError(error);
  output.error(`${doing}: ${described}`);
  if (error instanceof Error && error.stack && !core.AirlockError.is(error)) output.debug(core.printableLines(error.stack));
  const sentence = noticeText(core, described.split('\n')[0]);
  const seen = new Set<string>();
  const buttons = (core.AirlockError.is(error) ? error.actions : []).map(button).filter((item): item is Button => item !== undefined && !seen.has(item.title) && Boolean(seen.add(item.title)));
  const choice = await vscode.window.showErrorMessage(`Airlock: ${sentence}`, ...buttons.map((item) => item.title), 'Show Log');
  if (choice === 'Show Log') output.show(true);
  else await buttons.find((item) => item.title === choice)?.run();
}
