import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type * as Core from '../core/index.js';
import { registerApprovalActions } from './approvals/approvalActions.js';
import { ApprovalsView } from './approvals/approvalsView.js';
import { CommandRegistry } from './commandRegistry.js';
import { registerDoctor } from './doctor.js';
import { registerPolicyView } from './policy/policyView.js';
import { registerReviewCommands } from './review/reviewCommands.js';
import { ReviewFileSystem } from './review/reviewFileSystem.js';
import { settleInterruptedApplies } from './review/interruptedApplies.js';
import { ReviewManager } from './review/reviewManager.js';
import { registerRouting } from './routing/routeCommands.js';
import { registerLanguageModelTools } from './agents/languageModelTools.js';
import { registerMcpServerProvider } from './agents/mcpServerProvider.js';
import { registerAgentInTask } from './agents/agentInTask.js';
import { AirlockSession } from './session/airlockSession.js';
import { codeCache } from './session/codeCache.js';
import { registerLogDocuments } from './tasks/logDocuments.js';
import { registerTaskCommands } from './tasks/taskCommands.js';
import { TasksView } from './tasks/tasksView.js';
import { registerStatusBar } from './ui/statusBar.js';

/**
 * Thin glue: the core knows nothing of VS Code; this folder adapts it to views, commands, a status
 * bar item and a log channel.
 *
 * Activation loads none of the core: the build makes `import('../core/index.js')` a load of
 * dist/core.js (esbuild.mjs), which happens right after activate() has returned. Until then every
 * contributed command is registered and waits (CommandRegistry). Only `import type` of the core
 * belongs in src/extension; test/unit/lazyModules.test.ts holds the bundle to that.
 */
export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Airlock', { log: true });
  context.subscriptions.push(output);
  // VS Code asks for MCP servers and terminal profiles early; neither needs the core.
  registerMcpServerProvider(context);
  let loading: Promise<typeof Core | undefined> | undefined;
  const cache = codeCache(path.join(context.globalStorageUri.fsPath, 'code-cache'), (line) => output.info(line));
  // A host that shuts down within the first seconds still leaves the cache for the next start.
  context.subscriptions.push({ dispose: () => cache.save() });
  const loadCore = () =>
    (loading ??= Promise.resolve()
      .then(() => cache.preload(bundleBeside('core.js')))
      .then(() => import('../core/index.js'))
      .catch((error: unknown) => reportUnloadable(output, error)));

  let disposed = false;
  context.subscriptions.push({ dispose: () => void (disposed = true) });
  // The review's documents are served from the first moment: after a reload VS Code restores their
  // editors before the core has loaded, and they wait here for the review rather than fail.
  let setReviews: (reviews: ReviewManager | undefined) => void = () => undefined;
  const reviewsReady = new Promise<ReviewManager | undefined>((resolve) => (setReviews = resolve));
  let reviewsNow: ReviewManager | undefined;
  void reviewsReady.then((reviews) => (reviewsNow = reviews));
  const reviewFiles = new ReviewFileSystem({ review: async (key) => (await reviewsReady)?.ensure(key), markedText: (key, file) => reviewsNow?.markedText(key, file) });
  context.subscriptions.push(reviewFiles);
  const ready = new Promise<void>((resolve) => setImmediate(resolve))
    .then(loadCore)
    .then(async (core) => {
      if (!core || disposed) return;
      // The engine connection loads dockerode.js, as large as the core: from the cache too.
      const session = new AirlockSession(core, output, context.extensionPath, () => cache.preload(bundleBeside('dockerode.js')));
      context.subscriptions.push(session);
      const tasksView = new TasksView(session);
      const approvalsView = new ApprovalsView(session);
      const reviews = new ReviewManager(session, output, reviewFiles);
      setReviews(reviews);
      context.subscriptions.push(tasksView, approvalsView, reviews);
      routing.attach(session, tasksView);
      registerTaskCommands(context, commands, session, output);
      registerApprovalActions(context, commands, session, approvalsView, reviews, output);
      registerReviewCommands(context, commands, session, reviews, output);
      registerLogDocuments(context, session);
      registerStatusBar(context, session);
      registerLanguageModelTools(context, session);
      registerAgentInTask(context, commands, session);
      await session.open();
      void settleInterruptedApplies(session, output);
      // Once the first render has compiled what it runs, that goes into the cache too.
      setTimeout(() => cache.save(), 3000).unref();
    })
    .catch((error: unknown) => output.error(`Airlock's views did not start: ${error instanceof Error ? error.message : String(error)}`))
    .finally(() => setReviews(undefined));
  const commands = new CommandRegistry(context, ready, output);
  const routing = registerRouting(context, commands, undefined, output);
  registerDoctor(commands, output, loadCore);
  registerPolicyView(context, commands, output, loadCore);
  output.info('Airlock activated');
}

/** The file the bundle's `require('./core.js')` resolves to: the same key in require's cache. */
function bundleBeside(name: string): string {
  const file = path.join(__dirname, name);
  try {
    return fs.realpathSync(file);
  } catch {
    return file;
  }
}

/** The core bundle itself did not load (a broken install): said once, without the core's helpers. */
function reportUnloadable(output: vscode.LogOutputChannel, error: unknown): undefined {
  output.error(`Airlock could not load its core (dist/core.js): ${error instanceof Error ? error.message : String(error)}`);
  void vscode.window.showErrorMessage('Airlock could not load its core; reinstall the extension.', 'Show Log').then((choice) => choice && output.show());
  return undefined;
}

export function deactivate(): void {}
