import type { Command } from 'commander';
import { AGENT_TOOLS, callAgentTool, type AgentToolContext } from '../core/usecases/agentTools.js';
import type { ApprovalRequest } from '../core/index.js';
import { reviewCommand } from './approvalCommands.js';
import { cliWording } from './errorHints.js';
import { abortOnSignals, action } from './serviceAction.js';

/** Where a reviewer decides, in the CLI's words, with the editor's view for those who have it open. */
function whereToDecide(request: ApprovalRequest): string {
  const review = reviewCommand(request);
  if (review) return `in VS Code (Review in the Airlock Approvals view, then approve from the review) or in a terminal (\`${review}\`, then \`airlock approve ${request.id}\`)`;
  return `in VS Code's Airlock Approvals view, or in a terminal with \`airlock approve ${request.id}\` (or \`airlock deny ${request.id}\`)`;
}

const INSTRUCTIONS = [
  "Airlock runs this session's commands inside a task's hardened container: a private copy of the workspace at /workspace, no host access, the network the task's policy allows.",
  'Nothing reaches the host until a person reviews it: list_changes shows what the task changed, request_apply asks a person to apply it.',
  'A command the policy gates answers "waiting for approval <id>": a person decides, and the same call with that approval id then runs it.',
].join(' ');

/**
 * `airlock mcp`: Airlock's agent tools (src/core/usecases/agentTools.ts) over MCP on stdin and
 * stdout, for agents and editors that start it. stdout carries the protocol and nothing else:
 * warnings and errors go to stderr. It serves until its client closes stdin.
 */
export function registerMcpCommand(program: Command): void {
  program
    .command('mcp')
    .description("serve Airlock's agent tools (run_command, read_file, write_file, list_changes, request_apply) over MCP on stdin/stdout")
    .option('--task <id>', 'serve this task only (default: for each call, the newest live task whose workspace holds the current folder)')
    .action(
      action(async (service, flags: { task?: string }) => {
        const [{ McpServer }, { StdioServerTransport }] = await Promise.all([import('@modelcontextprotocol/sdk/server/mcp.js'), import('@modelcontextprotocol/sdk/server/stdio.js')]);
        // A fixed task must exist now: a typo is an error at start, not at the first call.
        const task = flags.task !== undefined ? service.store.resolve(flags.task).id : undefined;
        const server = new McpServer({ name: 'airlock', title: 'Airlock', version: '0.1.0' }, { instructions: INSTRUCTIONS });
        const base: Omit<AgentToolContext, 'signal'> = { tasks: service, folders: [process.cwd()], task, whereToDecide, wording: cliWording };
        // Calls still running when the client goes: their signals abort (the box's commands are
        // killed), and the server ends once they have.
        const inFlight = new Set<Promise<unknown>>();
        for (const tool of AGENT_TOOLS) {
          server.registerTool(tool.name, { title: tool.title, description: tool.description, inputSchema: tool.inputSchema, annotations: { title: tool.title, ...tool.annotations } }, async (input: unknown, extra: { signal: AbortSignal }) => {
            const call = callAgentTool(tool, input, { ...base, signal: extra.signal });
            inFlight.add(call);
            try {
              const result = await call;
              return { content: [{ type: 'text' as const, text: result.text }], isError: result.isError };
            } finally {
              inFlight.delete(call);
            }
          });
        }
        const transport = new StdioServerTransport();
        const closed = new Promise<void>((resolve) => {
          transport.onclose = resolve;
          process.stdin.once('end', resolve);
          process.stdin.once('close', resolve);
        });
        const stopping = abortOnSignals();
        stopping.signal.addEventListener('abort', () => void server.close());
        await server.connect(transport);
        await Promise.race([closed, new Promise((resolve) => stopping.signal.addEventListener('abort', resolve))]);
        await server.close().catch(() => undefined);
        await Promise.allSettled([...inFlight]);
        return 0;
      }),
    );
}
