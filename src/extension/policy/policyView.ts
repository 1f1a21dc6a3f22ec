import * as path from 'node:path';
import * as vscode from 'vscode';
import type * as Core from '../../core/index.js';
import type { Loosening, PolicyMonitor, PolicyReport, SourceProblem } from '../../core/index.js';
import type { CommandRegistry } from '../commandRegistry.js';
import { noticeText } from '../ui/noticeText.js';
import { defaultImage, extraFloors, settingLayer } from './policySettings.js';

/**
 * The editor side of `.airlock.json`: diagnostics on the file while it is invalid (the last good
 * policy stays in force), an Output line per change, and the acceptance prompt for a repository
 * policy that loosens protection, offered only in a trusted workspace and again whenever it changes.
 * Everything shown that the repository wrote (keys, values, commands, file names, refusal reasons)
 * goes through printableLine: diagnostics, notifications and Output lines must not carry its
 * newlines, bidi overrides or invisible characters.
 */
export function registerPolicyView(context: vscode.ExtensionContext, commands: CommandRegistry, output: vscode.LogOutputChannel, loadCore: () => Promise<typeof Core | undefined>): void {
  const diagnostics = vscode.languages.createDiagnosticCollection('airlock-policy');
  context.subscriptions.push(diagnostics);
  let disposed = false;
  let view: PolicyView | undefined;
  // The view needs the core (zod, the policy loader, chokidar): it starts once activate() has
  // returned, so activation stays thin. Its commands exist from the start and wait for it.
  const started = new Promise<void>((resolve) => setImmediate(resolve))
    .then(loadCore)
    .then((core) => {
      if (core && !disposed) view = startPolicyView(core, context, output, diagnostics);
    })
    .catch((error: unknown) => output.error(`Airlock's policy view did not start: ${error instanceof Error ? error.message : String(error)}`));
  context.subscriptions.push(
    { dispose: () => void (disposed = true) },
    commands.register('airlock.acceptPolicy', async (workspace?: unknown) => {
      await started;
      await view?.accept(typeof workspace === 'string' ? workspace : undefined);
    }),
    commands.register('airlock.showPolicy', async () => {
      await started;
      view?.showPolicy();
    }),
  );
}

/** workspaceState key: the policy files (workspace and digest) whose loosenings the user chose to keep ignored. */
const KEPT_IGNORED = 'airlock.policy.keptIgnored';

interface PolicyView {
  accept(workspace?: string): Promise<void>;
  showPolicy(): void;
}

/** The view proper, once the core has loaded: monitors per workspace folder, diagnostics, the prompt. */
function startPolicyView(core: typeof Core, context: vscode.ExtensionContext, output: vscode.LogOutputChannel, diagnostics: vscode.DiagnosticCollection): PolicyView {
  const { PolicyAcceptances, PolicyMonitor, printableLine, stateDir } = core;
  const monitors = new Map<string, PolicyMonitor>();
  const latest = new Map<string, PolicyReport>();
  const asked = new Set<string>();

  const toDiagnostic = (problem: SourceProblem, severity = vscode.DiagnosticSeverity.Error) => {
    const range = new vscode.Range(problem.line - 1, problem.column - 1, problem.endLine - 1, problem.endColumn - 1);
    const diagnostic = new vscode.Diagnostic(range, printableLine(problem.field ? `${problem.field}: ${problem.message}` : problem.message), severity);
    diagnostic.source = 'Airlock';
    return diagnostic;
  };

  const show = (report: PolicyReport) => {
    latest.set(report.workspace, report);
    diagnostics.clear();
    for (const each of latest.values()) {
      if (each.invalid) diagnostics.set(vscode.Uri.file(each.invalid.file), each.invalid.problems.map((problem) => toDiagnostic(problem)));
      const dev = each.state?.repo?.devcontainer;
      if (dev && !each.invalid) {
        const severity = each.state?.effective.policy.devcontainerRefusals === 'strip' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Error;
        diagnostics.set(vscode.Uri.file(dev.file), dev.refusals.map((refusal) => toDiagnostic({ field: refusal.field, message: `refused: ${refusal.reason}`, line: refusal.line ?? 1, column: refusal.column ?? 1, endLine: refusal.line ?? 1, endColumn: (refusal.column ?? 1) + 1 }, severity)));
      }
    }
    if (report.invalid) output.error(`policy: ${printableLine(report.invalid.message.replace(/\n/g, ' | '))} — the last good policy stays in force`);
    else output.info(`policy: ${report.state?.repo ? `${printableLine(report.state.repo.file)} is valid${report.state.accepted ? ' and accepted' : ''}` : 'no .airlock.json'}`);
    for (const task of report.tasks) if (task.error) output.warn(`task ${printableLine(task.id)} keeps its last good policy`);
    void offerAcceptance(report);
  };

  const describe = (items: Loosening[]) => items.map((item) => `• ${printableLine(item.field)}: ${printableLine(item.value)} — ${printableLine(item.why)}`).join('\n');

  const offerAcceptance = async (report: PolicyReport) => {
    const state = report.state;
    if (!state?.repo || report.invalid || state.accepted || state.effective.loosenings.length === 0) return;
    const key = `${report.workspace}\0${state.repo.digest}`;
    // "Keep ignored" holds across reloads for this exact file (its digest); a changed file asks again.
    const kept = context.workspaceState.get<string[]>(KEPT_IGNORED, []);
    if (asked.has(key) || kept.includes(key)) return;
    asked.add(key);
    if (!vscode.workspace.isTrusted) {
      output.warn(`policy: this workspace is not trusted; the repository policy's loosenings are ignored:\n${describe(state.effective.ignored)}`);
      return;
    }
    const changed = state.acceptance ? ' changed since you accepted it and' : '';
    const choice = await vscode.window.showWarningMessage(`Airlock: ${noticeText(core, path.basename(report.workspace))}/.airlock.json${changed} loosens your sandbox. Its loosenings are ignored until you accept.`, 'Review…', 'Keep ignored');
    if (choice === 'Keep ignored') await context.workspaceState.update(KEPT_IGNORED, [...kept.filter((item) => item.startsWith(`${report.workspace}\0`) === false), key]);
    if (choice === 'Review…') await vscode.commands.executeCommand('airlock.acceptPolicy', report.workspace);
  };

  const startMonitor = (folder: vscode.WorkspaceFolder) => {
    const workspace = folder.uri.fsPath;
    const monitor = new PolicyMonitor({
      workspace,
      stateDir: stateDir(),
      trusted: () => vscode.workspace.isTrusted,
      user: () => settingLayer(core, 'policy') ?? {},
      extraFloors: () => extraFloors(core),
      defaultImage: defaultImage(core),
      onReport: show,
    });
    monitors.set(workspace, monitor);
    show(monitor.start());
  };

  for (const folder of vscode.workspace.workspaceFolders ?? []) startMonitor(folder);
  context.subscriptions.push(
    vscode.workspace.onDidChangeWorkspaceFolders((event) => {
      for (const folder of event.removed) void monitors.get(folder.uri.fsPath)?.close();
      for (const folder of event.added) startMonitor(folder);
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => monitors.forEach((monitor) => show(monitor.check()))),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('airlock')) monitors.forEach((monitor) => show(monitor.check()));
    }),
    { dispose: () => monitors.forEach((monitor) => void monitor.close()) },
  );
  return {
    async accept(workspace?: string) {
      const target = workspace ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      const monitor = target ? monitors.get(target) : undefined;
      const report = monitor?.check();
      const state = report?.state;
      if (!target || !state?.repo || report?.invalid) return void vscode.window.showInformationMessage('Airlock: there is no valid .airlock.json to accept in this workspace.');
      if (!vscode.workspace.isTrusted) return void vscode.window.showWarningMessage('Airlock: trust this workspace first; a repository policy in restricted mode may only tighten.');
      const repoSetup = state.effective.policy.setupCommands.filter((command) => command.layer === 'repo');
      const detail = [describe(state.effective.loosenings), repoSetup.length ? `Setup commands that will run without passing the command rules:\n${repoSetup.map((command) => `• ${printableLine(command.command)}`).join('\n')}` : ''].filter(Boolean).join('\n\n');
      const choice = await vscode.window.showWarningMessage(`Accept ${printableLine(state.repo.file)}? It loosens your sandbox:`, { modal: true, detail }, 'Accept');
      if (choice !== 'Accept') return;
      new PolicyAcceptances(stateDir()).accept(target, state.repo.digest, state.effective.loosenings);
      output.info(`policy: accepted ${printableLine(state.repo.file)} (digest ${state.repo.digest.slice(0, 12)})`);
      show(monitor!.check());
    },
    showPolicy() {
      output.show(true);
      for (const report of latest.values()) {
        output.info(`policy for ${printableLine(report.workspace)}${report.invalid ? ' (file invalid: the last good policy applies)' : ''}`);
        for (const row of report.state?.effective.sources ?? []) output.info(`  ${printableLine(row.field)} = ${printableLine(row.value)} (${row.layer})`);
        for (const item of report.state?.effective.ignored ?? []) output.warn(`  ignored until accepted: ${printableLine(item.field)}: ${printableLine(item.value)}`);
      }
    },
  };
}
