import * as os from 'node:os';
import * as vscode from 'vscode';
import type * as Core from '../core/index.js';
import type { CommandRegistry } from './commandRegistry.js';
import { defaultImage } from './policy/policySettings.js';
import { showError } from './ui/errorNotice.js';

/** "Airlock: Doctor": the engine, its runtimes and the image, in the log, with one sentence in a notification. */
export function registerDoctor(commands: CommandRegistry, output: vscode.LogOutputChannel, loadCore: () => Promise<typeof Core | undefined>): void {
  commands.register('airlock.doctor', async () => {
    output.show(true);
    output.info('Airlock doctor: looking for a container engine…');
    const core = await loadCore();
    if (!core) return undefined;
    const { connectEngine, formatDoctor, printableLine, runDoctor, stateDir } = core;
    try {
      const engine = await connectEngine();
      const image = defaultImage(core);
      const report = await runDoctor(engine, [image], { 'state folder': stateDir(), home: os.homedir() });
      for (const line of formatDoctor(report).split('\n')) output.info(printableLine(line));
      // The image name may come from the user's settings, the version from whatever answers on the socket.
      const problems = [!report.seccomp && 'seccomp is off', !report.images[0]?.present && `image ${printableLine(image)} is not present`].filter(Boolean);
      const version = printableLine(String(report.engine.version));
      void vscode.window.showInformationMessage(problems.length ? `Airlock: engine ${version} found; ${problems.join(', ')}.` : `Airlock: engine ${version} is ready.`);
      return report;
    } catch (error) {
      await showError(core, output, error, 'doctor');
      return undefined;
    }
  });
}
