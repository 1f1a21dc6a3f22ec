import * as vscode from 'vscode';

type Handler = (...args: unknown[]) => unknown;

/**
 * Every command package.json contributes is registered at activation, so the palette and the views'
 * buttons work from the first moment; each waits for the part that implements it, which starts
 * once the core has loaded (after activation, to keep it cheap). A command whose part failed to
 * start says so instead of doing nothing.
 */
export class CommandRegistry {
  private readonly handlers = new Map<string, Handler>();

  constructor(context: vscode.ExtensionContext, private readonly ready: Promise<unknown>, private readonly output: vscode.LogOutputChannel) {
    const contributed = (context.extension.packageJSON as { contributes?: { commands?: { command: string }[] } }).contributes?.commands ?? [];
    for (const { command } of contributed) {
      context.subscriptions.push(vscode.commands.registerCommand(command, (...args: unknown[]) => this.run(command, args)));
    }
  }

  /** Implements a contributed command; the registration itself happened at activation. */
  register(id: string, handler: Handler): vscode.Disposable {
    this.handlers.set(id, handler);
    return { dispose: () => this.handlers.delete(id) };
  }

  private async run(id: string, args: unknown[]): Promise<unknown> {
    await this.ready.catch(() => undefined);
    const handler = this.handlers.get(id);
    if (handler) return handler(...args);
    this.output.error(`command ${id} is not available: the part of Airlock that implements it did not start (see above)`);
    void vscode.window.showErrorMessage('Airlock did not start completely; see the log.', 'Show Log').then((choice) => choice && this.output.show());
    return undefined;
  }
}
