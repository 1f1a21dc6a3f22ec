import * as vscode from 'vscode';
import type { TaskOverview } from '../../core/index.js';
import type { CommandRegistry } from '../commandRegistry.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { showError } from '../ui/errorNotice.js';
import { noticeText } from '../ui/noticeText.js';
import { logUri } from './logDocuments.js';
import { pickTaskFor } from './pickTask.js';
import { startTask } from './startTask.js';

/** The `.log` path gives it VS Code's Log language (colours for times and levels) without asking for it. */
async function openLog(uri: vscode.Uri): Promise<void> {
  await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri), { preview: true });
}

/**
 * The task commands: from the Tasks view (inline and context menu) with the task they were invoked
 * on, or from the command palette, which asks (this workspace's task first).
 */
export function registerTaskCommands(context: vscode.ExtensionContext, commands: CommandRegistry, session: AirlockSession, output: vscode.LogOutputChannel): void {
  const { core } = session;

  const pickTask = (node: unknown, live: boolean, title: string) => pickTaskFor(session, node, live, title);

  /** Stopping destroys the box and whatever was not applied: asked first, with what is known of its changes. */
  const confirmStop = async (task: TaskOverview): Promise<boolean> => {
    const changes = task.lastLook ? `${task.lastLook.files} changed file(s) at the last look` : 'changes nobody has looked at yet';
    const choice = await vscode.window.showWarningMessage(`Stop task ${task.id} for ${noticeText(core, task.folder)}?`, { modal: true, detail: `Its container and its copy of the workspace are destroyed, with ${changes} that are not applied to the host. The record and the audit log remain.` }, 'Stop');
    return choice === 'Stop';
  };

  const stop = async (task: TaskOverview) => {
    const service = await session.connect();
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Airlock: stopping task ${task.id}` }, () => service.stop(task.id));
    output.info(`task ${task.id} stopped: its container and workspace volume are gone; the record and audit log remain`);
  };

  const guarded = (doing: string, work: (node?: unknown) => Promise<unknown>) => async (node?: unknown) => {
    try {
      await work(node);
    } catch (error) {
      await showError(core, output, error, doing);
    }
  };

  context.subscriptions.push(
    commands.register('airlock.startTask', (uri?: unknown) => startTask(session, output, uri instanceof vscode.Uri ? uri : undefined)),
    commands.register(
      'airlock.stopTask',
      guarded('stopping a task', async (node) => {
        const task = await pickTask(node, true, 'Stop which task?');
        if (task && (await confirmStop(task))) await stop(task);
      }),
    ),
    commands.register(
      'airlock.stopAllTasks',
      guarded('stopping all tasks', async () => {
        const live = core.liveAndRecent(session.overviews()).live;
        if (!live.length) return void vscode.window.showInformationMessage('Airlock: no task is running.');
        const choice = await vscode.window.showWarningMessage(`Stop all ${live.length} Airlock task(s)?`, { modal: true, detail: 'Their containers and workspace copies are destroyed. Changes not applied to the host are lost; records and audit logs remain.' }, 'Stop All');
        if (choice !== 'Stop All') return;
        let failed = 0;
        for (const task of live) {
          await stop(task).catch((error: unknown) => {
            failed++;
            output.error(`stopping task ${task.id}: ${core.describeError(error)}`);
          });
        }
        if (failed) void vscode.window.showErrorMessage(`Airlock: ${failed} of ${live.length} task(s) could not be stopped.`, 'Show Log').then((choice) => choice && output.show(true));
      }),
    ),
    commands.register(
      'airlock.copyTaskId',
      guarded('copying a task id', async (node) => {
        const task = await pickTask(node, false, 'Copy the id of which task?');
        if (!task) return;
        await vscode.env.clipboard.writeText(task.id);
        vscode.window.setStatusBarMessage(`Airlock: copied ${task.id}`, 3000);
      }),
    ),
    commands.register(
      'airlock.showAuditLog',
      guarded('showing an audit log', async (node) => {
        const task = await pickTask(node, false, 'Show the audit log of which task?');
        if (task) await openLog(logUri(task.id, 'audit'));
      }),
    ),
    commands.register(
      'airlock.showNetworkLog',
      guarded('showing a network log', async (node) => {
        const task = await pickTask(node, false, 'Show the network log of which task?');
        if (task) await openLog(logUri(task.id, 'network'));
      }),
    ),
    commands.register(
      'airlock.countChanges',
      guarded('counting changes', async (node) => {
        const task = await pickTask(node, true, 'Count the changes of which task?');
        if (!task) return;
        const service = await session.connect();
        const changes = await vscode.window.withProgress({ location: { viewId: 'airlock.tasks' }, title: `Looking at task ${task.id}` }, () => new core.ChangeService(service).changes(task.id));
        output.info(`task ${task.id}: ${changes.changeSet.files.length} changed file(s) (change set ${core.shortChangeSetId(changes.changeSet.id)})`);
        session.invalidate();
      }),
    ),
  );
}
