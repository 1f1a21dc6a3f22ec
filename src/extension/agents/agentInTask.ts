import * as vscode from 'vscode';
import type { TaskRecord } from '../../core/index.js';
import type { CommandRegistry } from '../commandRegistry.js';
import { launcherPaths } from '../routing/launcher.js';
import { openSandboxTerminal } from '../routing/terminalProfile.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { pickTaskFor } from '../tasks/pickTask.js';

/** Terminal agents that install from npm and talk to one model API. */
interface AgentPreset {
  label: string;
  npmPackage: string;
  apiHost: string;
  keyVariable: string;
}

const PRESETS: AgentPreset[] = [
  { label: 'Claude Code', npmPackage: '@anthropic-ai/claude-code', apiHost: 'api.anthropic.com', keyVariable: 'ANTHROPIC_API_KEY' },
  { label: 'Codex CLI', npmPackage: '@openai/codex', apiHost: 'api.openai.com', keyVariable: 'OPENAI_API_KEY' },
  { label: 'Gemini CLI', npmPackage: '@google/gemini-cli', apiHost: 'generativelanguage.googleapis.com', keyVariable: 'GEMINI_API_KEY' },
];

const REGISTRY_HOST = 'registry.npmjs.org';

/** Whether the task's agent-phase allowlist names `host` itself or a `*.` pattern above it. */
function allows(record: TaskRecord, host: string): boolean {
  const egress = record.options.egress as { agent?: { allow?: string[] } } | undefined;
  return (egress?.agent?.allow ?? []).some((rule) => {
    const name = rule.replace(/:\d+$/, '').toLowerCase();
    return name === host || (name.startsWith('*.') && host.endsWith(name.slice(1)));
  });
}

/** The `.airlock.json` lines a task needs to run this agent inside. */
function policySnippet(preset: AgentPreset): string {
  return JSON.stringify({ network: { agent: { allow: [preset.apiHost, REGISTRY_HOST] } }, env: { passthrough: [preset.keyVariable] } }, null, 2);
}

/**
 * "Run an Agent Inside the Task…": the agent itself runs in the box, in a sandbox terminal, so
 * everything it runs is in the box by construction. The price is said before anything happens:
 * its API key is then inside the box, where what the agent runs can read it.
 */
export function registerAgentInTask(context: vscode.ExtensionContext, commands: CommandRegistry, session: AirlockSession): void {
  context.subscriptions.push(
    commands.register('airlock.runAgentInTask', async (node?: unknown) => {
      const task = await pickTaskFor(session, node, true, 'Run an agent inside which task?');
      if (!task) return;
      const picked = await vscode.window.showQuickPick(
        [...PRESETS.map((preset) => ({ label: preset.label, description: `npx ${preset.npmPackage}`, detail: `needs ${preset.apiHost} and ${REGISTRY_HOST} on the task's allowlist`, preset })), { label: 'Another npm package…', description: '', detail: 'any terminal agent published on npm', preset: undefined }],
        { title: 'Which agent should run inside the task?' },
      );
      if (!picked) return;
      let preset = picked.preset;
      if (!preset) {
        const npmPackage = await vscode.window.showInputBox({ title: 'The agent’s npm package', prompt: 'e.g. @scope/agent-cli', validateInput: (value) => (/^(@[\w.-]+\/)?[\w.-]+(@[\w.^~<>=-]+)?$/.test(value.trim()) ? undefined : 'An npm package name, optionally with a version') });
        if (!npmPackage) return;
        const apiHost = await vscode.window.showInputBox({ title: 'Its model API host', prompt: 'e.g. api.example.com', validateInput: (value) => (/^[a-z0-9.-]+\.[a-z]{2,}$/i.test(value.trim()) ? undefined : 'A host name') });
        if (!apiHost) return;
        preset = { label: npmPackage.trim(), npmPackage: npmPackage.trim(), apiHost: apiHost.trim().toLowerCase(), keyVariable: 'its API key variable' };
      }
      const record = session.store.load(task.id);
      if (!record) return;
      const unreachable = [preset.apiHost, REGISTRY_HOST].filter((host) => !allows(record, host));
      if (unreachable.length) {
        const choice = await vscode.window.showWarningMessage(
          `Task ${task.id} cannot reach ${unreachable.join(' and ')}, so ${preset.label} cannot install or talk to its model there.`,
          { modal: true, detail: `Start a task whose policy allows them, for instance with this in .airlock.json (or your airlock.policy setting):\n\n${policySnippet(preset)}\n\nThe API key variable is passed in by name from the environment VS Code runs in.` },
          'Copy Policy Snippet',
        );
        if (choice) await vscode.env.clipboard.writeText(policySnippet(preset));
        return;
      }
      const hasKey = Object.hasOwn(record.env, preset.keyVariable);
      const run = await vscode.window.showWarningMessage(
        `Run ${preset.label} inside task ${task.id}?`,
        {
          modal: true,
          detail: [
            `It runs in a sandbox terminal in the box, so every command it runs is in the box, gated and audited, and its edits wait for your review.`,
            hasKey ? `Its API key (${preset.keyVariable}) is then inside the box: anything the agent runs there can read it, and the box can reach ${preset.apiHost}. Use a key you can revoke.` : `${preset.keyVariable} is not passed into this task, so the agent will ask you to sign in; whatever credential it gets is then inside the box.`,
          ].join('\n\n'),
        },
        'Run Agent',
      );
      if (run !== 'Run Agent') return;
      const terminal = openSandboxTerminal(launcherPaths(context.globalStorageUri.fsPath), task, { focus: true });
      terminal.sendText(`npx -y ${preset.npmPackage}`, true);
    }),
  );
}
