import * as path from 'node:path';
import * as vscode from 'vscode';
import type { TaskRecord } from '../../core/index.js';
import { defaultImage, extraFloors, userLayer } from '../policy/policySettings.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { showError } from '../ui/errorNotice.js';
import { noticeText } from '../ui/noticeText.js';
import { withWorkProgress } from '../ui/workProgress.js';

async function chooseFolder(given?: vscode.Uri): Promise<string | undefined> {
  if (given?.scheme === 'file') return given.fsPath;
  const folders = vscode.workspace.workspaceFolders?.filter((folder) => folder.uri.scheme === 'file') ?? [];
  if (folders.length <= 1) return folders[0]?.uri.fsPath;
  const chosen = await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Start a sandboxed task for which folder?' });
  return chosen?.uri.fsPath;
}

const SETUP_LOG_LIMIT = 256 * 1024;

/**
 * "Start Task for This Workspace": the core's one use case (planWorkspaceTask, then
 * startWorkspaceTask), with the effective policy shown first (and the repository's loosenings it
 * holds back, with Accept), a progress notification with real percentages and Cancel, and errors
 * as one sentence with their actions as buttons. All or nothing: a cancel or failure leaves no
 * container, volume or record behind (the use case guarantees it).
 */
export async function startTask(session: AirlockSession, output: vscode.LogOutputChannel, given?: vscode.Uri): Promise<TaskRecord | undefined> {
  const { core } = session;
  const workspace = await chooseFolder(given);
  if (!workspace) {
    const choice = await vscode.window.showInformationMessage('Airlock: open a folder first; a task is a sandboxed copy of it.', 'Open Folder…');
    if (choice) await vscode.commands.executeCommand('workbench.action.files.openFolder');
    return undefined;
  }
  const name = noticeText(core, path.basename(workspace));
  try {
    // The engine first: with none, the one clear message comes before any question.
    const service = await session.connect();
    // Host edits (the editor's, an agent's edit tools') reach the box unless the user turned it off.
    const mirrorHostEdits = vscode.workspace.getConfiguration('airlock').inspect<boolean>('mirrorHostEdits')?.globalValue ?? true;
    let plan = core.planWorkspaceTask(core.stateDir(), { workspace, userLayer: userLayer(core), trusted: vscode.workspace.isTrusted, defaultImage: defaultImage(core), extraFloors: extraFloors(core), overrides: { mirrorHostEdits } });
    for (;;) {
      const { effective, trusted } = plan.policy;
      const held = effective.ignored.map((item) => `• ${core.printableLine(item.field)}: ${core.printableLine(item.value)} — ${core.printableLine(item.why)}`);
      const detail = [
        core.policySummary(effective).map((line) => `• ${line}`).join('\n'),
        held.length ? `Held back from ${trusted ? 'the repository policy until you accept it' : 'the repository policy: this workspace is not trusted'}:\n${held.join('\n')}` : '',
        effective.notes.length ? effective.notes.map((note) => core.printableLine(note)).join('\n') : '',
      ].filter(Boolean).join('\n\n');
      const accept = held.length && trusted ? ['Accept Repository Policy…'] : [];
      const choice = await vscode.window.showInformationMessage(`Start a sandboxed task for ${name}?`, { modal: true, detail }, 'Start', ...accept);
      if (choice === 'Start') break;
      if (choice !== 'Accept Repository Policy…') return undefined;
      await vscode.commands.executeCommand('airlock.acceptPolicy', workspace);
      plan = core.planWorkspaceTask(core.stateDir(), plan.request);
    }
    const warnings: string[] = [];
    let setupLogged = 0;
    let step = '';
    const record = await withWorkProgress(
      `Airlock: starting a task for ${name}`,
      core.printableLine,
      ({ signal, onProgress }) =>
        core.startWorkspaceTask(service, plan, {
          signal,
          onProgress,
          onWarning: (message) => {
            warnings.push(core.printableLine(message.split('\n')[0]));
            output.warn(core.printableLines(message));
          },
          onSetupOutput: (chunk) => {
            // The setup's own output is the box's: capped in the log (the audit log has the command).
            if (setupLogged >= SETUP_LOG_LIMIT) return;
            const text = chunk.toString('utf8', 0, Math.min(chunk.length, SETUP_LOG_LIMIT - setupLogged));
            setupLogged += chunk.length;
            output.info(`setup: ${core.printableLines(text.trimEnd())}${setupLogged >= SETUP_LOG_LIMIT ? ' … (more setup output left out of this log)' : ''}`);
          },
          onWaiting: (request) => output.info(`start: setup command waits for approval ${request.id}`),
        }),
      (update, message) => {
        // A line per step in the log; every update (bytes, files) only at debug level.
        if (update.step !== step) output.info(`start: ${message}`);
        else output.debug(`start: ${message}`);
        step = update.step;
      },
    );
    output.info(`task ${record.id} started for ${core.printableLine(workspace)} (${record.snapshot.files} files, ${record.snapshot.excluded.length} left out as secrets)`);
    // The daemon mirrors host edits and serves routed commands; one already serving stays.
    session.ensureDaemon();
    const secrets = record.snapshot.excluded.length ? `; ${record.snapshot.excluded.length} secret file(s) left out` : '';
    void vscode.window.showInformationMessage(`Airlock: task ${record.id} is running for ${name}${secrets}.${warnings.length ? ` ${warnings.length} warning(s) in the log.` : ''}`, 'Show Tasks').then((pick) => pick && vscode.commands.executeCommand('airlock.tasks.focus'));
    return record;
  } catch (error) {
    await showError(core, output, error, `starting a task for ${workspace}`);
    return undefined;
  }
}
