import * as vscode from 'vscode';
import { connectEngine, describeError, DEFAULT_IMAGE, formatDoctor, printableLine, printableLines, runDoctor } from '../core/index.js';
import { registerPolicyView } from './policyView.js';

/** Thin glue: the core knows nothing of VS Code; this file adapts it to commands and an Output channel. */
export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Airlock', { log: true });
  context.subscriptions.push(output);

  context.subscriptions.push(
    vscode.commands.registerCommand('airlock.doctor', async () => {
      output.show(true);
      output.info('Airlock doctor: looking for a container engine…');
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
  registerPolicyView(context, output);
  output.info('Airlock activated');
}

export function deactivate(): void {}
