import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ApplyReport, ReviewItem, TaskReview } from '../../core/index.js';
import type { CommandRegistry } from '../commandRegistry.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { pickTaskFor } from '../tasks/pickTask.js';
import { withWorkProgress } from '../ui/workProgress.js';
import { showError } from '../ui/errorNotice.js';
import { noticeText } from '../ui/noticeText.js';
import type { ReviewResource } from './reviewControl.js';
import { diffTitle } from './reviewLabels.js';
import type { ReviewManager } from './reviewManager.js';
import { parseReviewUri, reviewUri } from './reviewUris.js';

/** Per-file diffs opened by Open All Changes where VS Code has no multi-file diff editor. */
const FALLBACK_DIFFS = 10;

const isResource = (value: unknown): value is ReviewResource => typeof value === 'object' && value !== null && 'key' in value && 'item' in value && 'resourceUri' in value;

/**
 * The review's commands: open a review (from the Tasks view, the palette, or an error's button),
 * choose per file, open diffs and the merge view, Apply Selected and Undo Last Apply with progress
 * and a report. Diffs open beside whatever has focus (`preserveFocus`); nothing opens unless the
 * reviewer asked, so an agent working in the box never moves the cursor.
 */
export function registerReviewCommands(context: vscode.ExtensionContext, commands: CommandRegistry, session: AirlockSession, manager: ReviewManager, output: vscode.LogOutputChannel): void {
  const { core } = session;
  const text = (value: string) => noticeText(core, value);

  const guarded =
    (doing: string, work: (...args: unknown[]) => Promise<unknown>) =>
    async (...args: unknown[]) => {
      try {
        await work(...args);
      } catch (error) {
        await showError(core, output, error, doing);
      }
    };

  /** The review a title button (its source control), a row, or the palette (asking when several are open) means. */
  const reviewKey = async (arg: unknown, own = true): Promise<string | undefined> => {
    if (isResource(arg)) return arg.key;
    const fromScm = manager.keyOf(arg);
    if (fromScm) return fromScm;
    if (typeof arg === 'string' && manager.review(arg)) return arg;
    const open = manager.all().filter(({ review }) => !own || !review.readOnly);
    if (open.length === 1) return open[0].key;
    if (!open.length) {
      void vscode.window.showInformationMessage('Airlock: no review is open. Review a task\'s changes from the Tasks view.');
      return undefined;
    }
    const chosen = await vscode.window.showQuickPick(open.map(({ key, review }) => ({ label: text(path.basename(review.task.workspace)), description: key, key })), { title: 'Which review?' });
    return chosen?.key;
  };

  /** The rows a row action means: the selection it was invoked on, else the one row. */
  const rowsOf = (args: unknown[]): ReviewResource[] => {
    const [first, second] = args;
    const rows = Array.isArray(second) ? second.filter(isResource) : [];
    if (rows.length) return rows;
    return isResource(first) ? [first] : [];
  };

  const liveItems = (rows: ReviewResource[]) => rows.map((row) => ({ row, item: manager.review(row.key)?.item(row.item.path) })).filter((entry): entry is { row: ReviewResource; item: ReviewItem } => entry.item !== undefined);

  const openReview = async (task: string, fresh = false) => {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Airlock: looking at task ${task}'s changes` }, async () => {
      const entry = await manager.openTask(task, { fresh });
      const count = entry.review.items().length;
      output.info(`review of task ${task}: change set ${core.shortChangeSetId(entry.review.changeSetId)}, ${count} file(s)`);
      await vscode.commands.executeCommand('workbench.view.scm');
      if (!count) void vscode.window.showInformationMessage(`Airlock: task ${task} has changed nothing that is not already applied.`);
    });
  };

  const openDiff = async (key: string, file: string) => {
    const review = manager.review(key);
    const item = review?.item(file);
    if (!review || !item) return;
    const left = reviewUri({ key, side: 'base', path: file });
    const right = reviewUri({ key, side: 'proposed', path: file });
    await vscode.commands.executeCommand('vscode.diff', left, right, diffTitle(core, item, path.basename(review.task.workspace)), { preserveFocus: true, preview: true });
    review.markSeen(file);
  };

  const hostUri = (review: TaskReview, file: string) => vscode.Uri.file(path.join(review.task.workspace, ...file.split('/')));

  const openMerge = async (key: string, file: string) => {
    const review = manager.review(key);
    const item = review?.item(file);
    if (!review || !item) return;
    const host = hostUri(review, file);
    const base = reviewUri({ key, side: 'base', path: file });
    const task = reviewUri({ key, side: 'proposed', path: file });
    // An internal command (its id starts with `_`), so only the full list has it.
    if ((await vscode.commands.getCommands(false)).includes('_open.mergeEditor')) {
      // Output is the host's own file: the reviewer's merge is saved by the reviewer, never by Airlock.
      await vscode.commands.executeCommand('_open.mergeEditor', {
        base,
        input1: { uri: host, title: 'Workspace', description: 'the host\'s version', detail: text(file) },
        input2: { uri: task, title: 'Task', description: `task ${review.task.id}`, detail: text(file) },
        output: host,
      });
      return;
    }
    const bytes = (side: Buffer | undefined) => (side ?? Buffer.alloc(0)).toString('utf8');
    const hostText = Buffer.from(await vscode.workspace.fs.readFile(host)).toString('utf8');
    manager.setMarked(key, file, Buffer.from(core.conflictMarkers(bytes(review.base(file)), hostText, bytes(review.proposed(file)))));
    await vscode.commands.executeCommand('vscode.diff', host, reviewUri({ key, side: 'marked', path: file }), text(`${path.basename(file)} (workspace ↔ conflicts marked)`), { preview: true });
  };

  const choose = async (args: unknown[], choice: 'accept' | 'reject' | undefined) => {
    let rows = liveItems(rowsOf(args));
    // A risky file is taken only on its own, through its dialog: never as part of a selection's Accept.
    const risky = choice === 'accept' ? rows.filter(({ item }) => item.change.risk.length) : [];
    if (risky.length) {
      rows = rows.filter(({ item }) => !item.change.risk.length);
      void vscode.window.showInformationMessage(`Airlock: ${risky.length} risky file(s) in the selection were left as they were; accept each with Accept Risky File….`);
    }
    if (!rows.length) return;
    const byKey = new Map<string, string[]>();
    for (const { row, item } of rows) byKey.set(row.key, [...(byKey.get(row.key) ?? []), item.path]);
    for (const [key, paths] of byKey) manager.review(key)?.choose(paths, choice);
  };

  /** A risky file is taken only on its own, after its sentence is shown in a dialog. */
  const acceptRisky = async (args: unknown[]) => {
    const rows = liveItems(rowsOf(args)).filter(({ item }) => item.change.risk.length && !item.change.refusal);
    for (const { row, item } of rows) {
      const choice = await vscode.window.showWarningMessage(
        text(`Accept the risky file ${item.path}?`),
        { modal: true, detail: text(`Risky: ${item.change.risk.join('; ')}. Once applied it can act on the host (the next time it is opened, run or installed). Look at its diff first.`) },
        'Accept',
      );
      if (choice === 'Accept') manager.review(row.key)?.choose([item.path], 'accept');
    }
  };

  /** What is applied is what the reviewer last saw: unsaved edits in the review's editors are saved first. */
  const saveEdits = async (key: string) => {
    for (const document of vscode.workspace.textDocuments) {
      const location = parseReviewUri(document.uri);
      if (location?.key === key && location.side === 'proposed' && document.isDirty && !(await document.save())) {
        throw new core.AirlockError(`apply: the review's edit of ${location.path} could not be saved; nothing was written`, { code: 'review.unsavedEdit', hint: 'Save or revert that editor, then apply.', field: 'path' });
      }
    }
  };

  const reportApply = async (review: TaskReview, key: string, report: ApplyReport, refreshed: string[]) => {
    const written = report.written.filter((entry) => entry.action !== 'mkdir');
    const conflicts = report.refused.filter((note) => note.code === 'conflict');
    const refused = report.refused.length - conflicts.length;
    for (const entry of report.written) output.info(`apply ${report.id ?? ''}: ${entry.action} ${core.printableLine(entry.path)}`);
    for (const note of [...report.refused, ...report.held]) output.info(`apply ${report.id ?? ''}: not written: ${core.printableLine(note.path)}: ${core.printableLine(note.reason)}`);
    const parts = [`${written.length} file(s) written to ${text(path.basename(review.task.workspace))}`];
    if (report.unchanged.length) parts.push(`${report.unchanged.length} already identical`);
    if (report.held.length) parts.push(`${report.held.length} held`);
    if (refused) parts.push(`${refused} refused`);
    if (conflicts.length) parts.push(`${conflicts.length} in conflict (the host's version was kept)`);
    if (refreshed.length) parts.push(`${refreshed.length} changed in the task meanwhile and left for you to look at`);
    const buttons = [...(report.id ? ['Undo Last Apply'] : []), ...(conflicts.length ? ['Open Merge'] : []), 'Show Details'];
    const firstMergeable = conflicts.map((note) => review.item(note.path)).find((item) => item?.mergeable);
    // The merge the reviewer has to settle opens with the report: the apply was theirs to start.
    if (firstMergeable) void openMerge(key, firstMergeable.path);
    const show = conflicts.length || refused ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    const choice = await show(`Airlock: ${parts.join('; ')}.`, ...buttons);
    if (choice === 'Undo Last Apply') await undo(review);
    else if (choice === 'Open Merge' && conflicts[0]) await openMerge(key, firstMergeable?.path ?? conflicts[0].path);
    else if (choice === 'Show Details') output.show(true);
  };

  const apply = async (key: string) => {
    const entry = manager.entry(key);
    if (!entry || entry.review.readOnly) return;
    const { review } = entry;
    await saveEdits(key);
    const taken = review.items().filter((item) => item.taken).length;
    if (!taken) {
      void vscode.window.showInformationMessage('Airlock: nothing in this review is chosen. Accept the files to apply (risky files one by one).');
      return;
    }
    const outcome = await withWorkProgress(`Airlock: applying ${taken} file(s) from task ${review.task.id}`, core.printableLine, (options) => review.apply(options));
    await reportApply(review, key, outcome.report, outcome.refreshed);
  };

  const undo = async (review: TaskReview | undefined, task = review?.task.id, force = false) => {
    if (!task) return;
    const report = await withWorkProgress(`Airlock: undoing the last apply of task ${task}`, core.printableLine, async (progress) => {
      const options = { force, ...progress };
      return review ? review.undo(options) : (await manager.changeService()).undo(task, options);
    });
    output.info(`undo of apply ${report.id}: restored ${report.restored.map((file) => core.printableLine(file)).join(', ')}`);
    void vscode.window.showInformationMessage(`Airlock: undid the last apply of task ${task}: ${report.restored.length} path(s) restored as they were.`);
  };

  const openAll = async (key: string) => {
    const review = manager.review(key);
    if (!review) return;
    const items = review.items().filter((item) => item.group !== 'never');
    if (!items.length) return;
    if ((await vscode.commands.getCommands(true)).includes('vscode.changes')) {
      await vscode.commands.executeCommand(
        'vscode.changes',
        text(`Airlock: task ${review.task.id}`),
        items.map((item) => [hostUri(review, item.path), reviewUri({ key, side: 'base', path: item.path }), reviewUri({ key, side: 'proposed', path: item.path })]),
      );
      return;
    }
    for (const item of items.slice(0, FALLBACK_DIFFS)) await openDiff(key, item.path);
    if (items.length > FALLBACK_DIFFS) void vscode.window.showInformationMessage(`Airlock: opened the first ${FALLBACK_DIFFS} of ${items.length} diffs (this VS Code has no multi-file diff editor); the rest open from the review's rows.`);
  };

  const refresh = async (key: string) => {
    const entry = manager.entry(key);
    if (!entry || entry.review.readOnly) return;
    const changed = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Airlock: looking at task ${entry.review.task.id} again` }, () => manager.lookAgain(entry));
    manager.checkHost(entry);
    if (!changed.length) vscode.window.setStatusBarMessage(`$(check) Airlock: task ${entry.review.task.id} shows the same changes`, 4000);
  };

  const end = async (key: string) => {
    const review = manager.review(key);
    if (!review) return;
    if (review.readOnly) return manager.close(key);
    const choice = await vscode.window.showWarningMessage(`End the review of task ${review.task.id}?`, { modal: true, detail: 'Its choices and the edits made in it are dropped. Nothing is written to the workspace; the task keeps running.' }, 'End Review');
    if (choice === 'End Review') manager.close(key, { end: true });
  };

  /** `{ task, force }` from an error's button, or a task id; anything else (a view's row) is not one. */
  const taskArg = (arg: unknown): { task?: string; force?: boolean } => {
    if (typeof arg === 'string') return { task: arg };
    const given = typeof arg === 'object' && arg !== null ? (arg as { task?: unknown; force?: unknown }) : {};
    return typeof given.task === 'string' ? { task: given.task, force: given.force === true } : {};
  };

  context.subscriptions.push(
    commands.register(
      'airlock.reviewChanges',
      guarded('opening the review', async (arg) => {
        const given = taskArg(arg).task;
        const task = given ?? (await pickTaskFor(session, arg, true, 'Review which task\'s changes?'))?.id;
        if (task) await openReview(task);
      }),
    ),
    commands.register('airlock.review.openDiff', guarded('opening the diff', async (key, file) => typeof key === 'string' && typeof file === 'string' && openDiff(key, file))),
    commands.register('airlock.review.openFile', guarded('opening the diff', async (...args) => {
      for (const { row, item } of liveItems(rowsOf(args))) await openDiff(row.key, item.path);
    })),
    commands.register('airlock.review.accept', guarded('accepting', (...args) => choose(args, 'accept'))),
    commands.register('airlock.review.reject', guarded('rejecting', (...args) => choose(args, 'reject'))),
    commands.register('airlock.review.acceptRisky', guarded('accepting a risky file', (...args) => acceptRisky(args))),
    commands.register('airlock.review.keepHost', guarded('keeping the host file', (...args) => choose(args, 'reject'))),
    commands.register('airlock.review.discardEdit', guarded('discarding the edit', async (...args) => {
      for (const { row, item } of liveItems(rowsOf(args))) manager.review(row.key)?.discardEdit(item.path);
    })),
    commands.register('airlock.review.openMerge', guarded('opening the merge', async (...args) => {
      const [first] = liveItems(rowsOf(args));
      if (first) await openMerge(first.row.key, first.item.path);
    })),
    commands.register('airlock.review.applySelected', guarded('applying', async (arg) => {
      const key = await reviewKey(arg);
      if (key) await apply(key);
    })),
    commands.register('airlock.review.openAll', guarded('opening all changes', async (arg) => {
      const key = await reviewKey(arg, false);
      if (key) await openAll(key);
    })),
    commands.register('airlock.review.refresh', guarded('refreshing the review', async (arg) => {
      const key = await reviewKey(arg);
      if (key) await refresh(key);
    })),
    commands.register('airlock.review.end', guarded('ending the review', async (arg) => {
      const key = await reviewKey(arg, false);
      if (key) await end(key);
    })),
    commands.register('airlock.undoLastApply', guarded('undoing the last apply', async (arg) => {
      const { task: given, force } = taskArg(arg);
      const key = given ? undefined : manager.keyOf(arg);
      const review = key ? manager.review(key) : given ? manager.review(given) : undefined;
      const task = given ?? review?.task.id ?? (await pickTaskFor(session, arg, false, 'Undo the last apply of which task?'))?.id;
      if (task) await undo(review?.readOnly ? undefined : review, task, force === true);
    })),
  );
}
