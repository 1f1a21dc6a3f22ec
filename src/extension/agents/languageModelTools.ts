import * as vscode from 'vscode';
import type { AgentTool, AgentToolContext, ApprovalRequest } from '../../core/index.js';
import type { AirlockSession } from '../session/airlockSession.js';

/** Where a reviewer decides, in VS Code's words. */
function whereToDecide(request: ApprovalRequest): string {
  return request.kind === 'apply' ? 'in the Airlock Approvals view: Review, then approve from the review' : 'in the Airlock Approvals view (Approve or Deny)';
}

/** The chat's cancellation as the core's AbortSignal, for the length of one call. */
function abortOn(token: vscode.CancellationToken): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  const listener = token.onCancellationRequested(() => {
    controller.abort();
  });
  return {
    signal: controller.signal,
    dispose: () => {
      listener.dispose();
    },
  };
}

/**
 * The chat subset of Airlock's agent tools (run command, list changes, read file) as VS Code
 * language-model tools: the names, schemas and handlers are the core's own (the MCP server
 * registers the same). package.json declares them under `contributes.languageModelTools`, with
 * input schemas generated from the same zod schemas (test/unit/agentTools.test.ts).
 *
 * A command the policy gates shows a confirmation first; continuing files the request, and a
 * reviewer still decides it in the Approvals view: the chat's "Continue" is not an approval.
 */
export function registerLanguageModelTools(context: vscode.ExtensionContext, session: AirlockSession): void {
  const { core } = session;
  if (typeof vscode.lm?.registerTool !== 'function') return;

  const toolContext = async (signal: AbortSignal): Promise<AgentToolContext> => ({
    // The engine's own sentence when it is not there, as the tool's failure.
    tasks: await session.connect().catch((error: unknown) => {
      throw new Error(core.describeError(error));
    }),
    // Local folders only: a task's workspace is a folder on this machine.
    folders: (vscode.workspace.workspaceFolders ?? []).filter((folder) => folder.uri.scheme === 'file').map((folder) => folder.uri.fsPath),
    signal,
    whereToDecide,
  });

  const text = (value: string) => core.printableLine(value);

  const prepareRun = async (input: unknown, token: vscode.CancellationToken): Promise<vscode.PreparedToolInvocation | undefined> => {
    const aborting = abortOn(token);
    try {
      const preview = await core.previewRunCommand(input, await toolContext(aborting.signal));
      const command = text(preview.subject);
      if ((input as { approval?: unknown } | undefined)?.approval !== undefined) return { invocationMessage: `Airlock task ${preview.task}: running the approved command, if a reviewer allowed it: ${command}` };
      if (preview.decision === 'deny') return { invocationMessage: `Airlock refuses this command (${text(preview.reason ?? '')}): ${command}` };
      if (preview.decision === 'allow') return { invocationMessage: `Running in Airlock task ${preview.task} (${text(preview.cwd)}): ${command}` };
      const message = new vscode.MarkdownString();
      message.appendText(`In task ${preview.task}, in ${text(preview.cwd)}:`);
      message.appendMarkdown('\n\n');
      message.appendText(command);
      message.appendMarkdown('\n\n');
      message.appendText(`The task's policy gates this command: ${text(preview.reason ?? 'it needs a reviewer')}.`);
      message.appendMarkdown('\n\n');
      message.appendText('Continuing files an approval request. A reviewer must also approve it in the Airlock Approvals view before it runs; until then the agent is told it is waiting.');
      return { invocationMessage: `Asking a reviewer about: ${command}`, confirmationMessages: { title: 'Ask a reviewer to run this command in the Airlock task?', message } };
    } catch {
      // The call itself says what is wrong (no task, bad input), in the tool's answer.
      return undefined;
    } finally {
      aborting.dispose();
    }
  };

  const prepare = (tool: AgentTool, input: unknown, token: vscode.CancellationToken): vscode.ProviderResult<vscode.PreparedToolInvocation> => {
    if (tool.name === 'run_command') return prepareRun(input, token);
    const file = (input as { path?: unknown } | undefined)?.path;
    if (tool.name === 'read_file') return { invocationMessage: `Reading ${typeof file === 'string' ? text(file) : 'a file'} in the Airlock task` };
    return { invocationMessage: "Looking at the Airlock task's changes" };
  };

  for (const tool of core.AGENT_TOOLS) {
    if (!tool.chat) continue;
    context.subscriptions.push(
      vscode.lm.registerTool<unknown>(tool.chat.name, {
        prepareInvocation: (options, token) => prepare(tool, options.input, token),
        invoke: async (options, token) => {
          const aborting = abortOn(token);
          try {
            const result = await core.callAgentTool(tool, options.input, await toolContext(aborting.signal));
            // A refusal or an error reaches the model as the tool's failure, in the same words.
            if (result.isError) throw new Error(result.text);
            return new vscode.LanguageModelToolResult([new vscode.LanguageModelTextPart(result.text)]);
          } finally {
            aborting.dispose();
          }
        },
      }),
    );
  }
}
