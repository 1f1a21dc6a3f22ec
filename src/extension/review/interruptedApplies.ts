import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AirlockSession } from '../session/airlockSession.js';
import { noticeText } from '../ui/noticeText.js';

/**
 * Once per window: an apply a killed window (or CLI, or MCP server) left part-way is put back, so
 * the host is never left half-applied, and the user is told what was restored. A put-back that
 * would lose host edits made since is offered, never done.
 */
export async function settleInterruptedApplies(session: AirlockSession, output: vscode.LogOutputChannel): Promise<void> {
  const { core } = session;
  for (const task of session.store.ids()) {
    try {
      const settled = await core.settleInterruptedApplies(session.store, task);
      if (!settled) continue;
      const workspace = path.basename(session.store.load(task)?.workspace ?? '');
      for (const rel of settled.restored) output.info(`task ${task}: interrupted apply ${settled.apply ?? ''}: restored ${core.printableLine(rel)}`);
      for (const name of settled.leftovers) output.info(`task ${task}: removed the staged file ${core.printableLine(name)} an interrupted apply left`);
      if (!settled.apply) continue;
      const choice = await vscode.window.showInformationMessage(noticeText(core, `Airlock: an apply of task ${task} to ${workspace} was cut short (its window or process ended mid-way); the ${settled.restored.length} path(s) it had written were put back as they were.`), 'Show Details');
      if (choice) output.show(true);
    } catch (error) {
      output.warn(`task ${task}: an interrupted apply was not put back: ${core.describeError(error)}`);
      if (!(error instanceof core.AirlockError) || error.code !== 'apply.interrupted') continue;
      const choice = await vscode.window.showWarningMessage(noticeText(core, `Airlock: ${core.describeError(error).split('\n')[0]}`), 'Put Back Anyway', 'Show Details');
      if (choice === 'Put Back Anyway') await vscode.commands.executeCommand('airlock.undoLastApply', { task, force: true });
      else if (choice === 'Show Details') output.show(true);
    }
  }
}
