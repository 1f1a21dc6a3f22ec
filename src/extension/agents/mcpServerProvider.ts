import * as path from 'node:path';
import * as vscode from 'vscode';

/** The id package.json declares under `contributes.mcpServerDefinitionProviders`. */
export const MCP_PROVIDER_ID = 'airlock.mcp';

/**
 * Airlock's MCP server for VS Code's agents: `node <extension>/dist/cli.js mcp`, started by VS Code
 * in the first local workspace folder, so each call runs in the task for that folder (the same
 * tools as the chat's, and as `airlock mcp` anywhere else). The editor's own executable runs it as
 * node (ELECTRON_RUN_AS_NODE), in VS Code desktop and code-server alike; it needs no core loaded
 * here, so it is offered from activation on.
 */
export function registerMcpServerProvider(context: vscode.ExtensionContext): void {
  if (typeof vscode.lm?.registerMcpServerDefinitionProvider !== 'function') return;
  const changed = new vscode.EventEmitter<void>();
  const declared = (context.extension?.packageJSON as { version?: unknown } | undefined)?.version;
  const version = typeof declared === 'string' ? declared : '0';
  context.subscriptions.push(
    changed,
    // The folder is where the server finds its task: a new first folder is a new server.
    vscode.workspace.onDidChangeWorkspaceFolders(() => changed.fire()),
    vscode.lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, {
      onDidChangeMcpServerDefinitions: changed.event,
      provideMcpServerDefinitions: () => {
        const folder = vscode.workspace.workspaceFolders?.find((candidate) => candidate.uri.scheme === 'file');
        // NODE_OPTIONS is the extension host's (its loaders and flags), not the server's.
        const server = new vscode.McpStdioServerDefinition('Airlock', process.execPath, [path.join(context.extensionPath, 'dist', 'cli.js'), 'mcp'], { ELECTRON_RUN_AS_NODE: '1', NODE_OPTIONS: null }, version);
        if (folder) server.cwd = folder.uri;
        return [server];
      },
    }),
  );
}
