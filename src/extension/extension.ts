import * as vscode from 'vscode';
import type * as Core from '../core/index.js';
import { registerPolicyView } from './policyView.js';

/**
 * Thin glue: the core knows nothing of VS Code; this file adapts it to commands and an Output channel.
 *
 * Activation loads none of the core: the build makes `import('../core/index.js')` a load of
 * dist/core.js (esbuild.mjs), which happens when a command first runs or, for the policy view,
 * right after activate() has returned. Only `import type` of the core belongs in src/extension;
 * test/unit/lazyModules.test.ts holds the bundle to that.
 */
export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Airlock', { log: true });
  context.subscriptions.push(output);
  let loading: Promise<typeof Core | undefined> | undefined;
  const loadCore = () => (loading ??= import('../core/index.js').catch((error: unknown) => reportUnloadable(output, error)));

  context.subscriptions.push(
    vscode.commands.registerCommand('airlock.doctor', async () => {
      output.show(true);
      output.info('Airlock doctor: looking for a container engine…');
      const core = await loadCore();
      if (!core) return undefined;
      const { connectEngine, describeError, DEFAULT_IMAGE, formatDoctor, printableLine, printableLines, runDoctor } = core;
      try {
        const engine = await connectEngine();
        const image = vscode.workspace.getConfiguration('airlock').get<string>('image') || DEFAULT_IMAGE;
        const report = await runDoctor(engine, [image]);
        for (const line of formatDoctor(report).split('\n')) output.info(printableLine(line));
        // The image name may come from a workspace's settings, the version from whatever answers on the socket.
        const problems = [!report.seccomp && 'seccomp is off', !report.images[0]?.present && `image ${printableLine(image)} is not present`].filter(Boolean);
        const version = printableLine(String(report.engine.version));
        void vscode.window.showInformationMessage(problems.length ? `Airlock: engine ${version} found; ${problems.join(', ')}.` : `Airlock: engine ${version} is ready.`);
        return report;
      } catch (error) {
        output.error(describeError(error));
        if (error instanceof Error && error.stack) output.debug(printableLines(error.stack));
        void vscode.window.showErrorMessage(`Airlock: ${describeError(error).split('\n')[0]}`, 'Show Output').then((choice) => choice && output.show());
        return undefined;
      }
    }),
  );
  registerPolicyView(context, output, loadCore);
  output.info('Airlock activated');
}

/** The core bundle itself did not load (a broken install): said once, without the core's helpers. */
function reportUnloadable(output: vscode.LogOutputChannel, error: unknown): undefined {
  output.error(`Airlock could not load its core (dist/core.js): ${error instanceof Error ? error.message : String(error)}`);
  void vscode.window.showErrorMessage('Airlock could not load its core; reinstall the extension.', 'Show Output').then((choice) => choice && output.show());
  return undefined;
}

export function deactivate(): void {}
