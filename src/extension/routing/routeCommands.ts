import * as vscode from 'vscode';
import type { CommandRegistry } from '../commandRegistry.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { pickTaskFor } from '../tasks/pickTask.js';
import { taskOfNode } from '../tasks/tasksView.js';
import { ensureLaunchers, type LauncherPaths } from './launcher.js';
import {
  applyEdits,
  checkTarget,
  parseRecord,
  planRoute,
  planStop,
  routingTargets,
  settingsOs,
  settleRoute,
  settleStop,
  type EditResult,
  type Json,
  type RoutePlan,
  type RoutingRecord,
  type SettingsStore,
} from './routingSettings.js';
import { openSandboxTerminal, registerSandboxProfile } from './terminalProfile.js';
import { UnroutedTerminals, type NoticeTarget } from './unroutedTerminals.js';

const RECORD_KEY = 'airlock.routing.record';
const CONTEXT_KEY = 'airlock.routing';
/** The consent dialog's button: e2e tests press it by this title. */
export const ROUTE_BUTTON = 'Route Agents';

const EXTENSIONS = { claudeCode: 'anthropic.claude-code', rooCode: 'RooVeterinaryInc.roo-cline' };

/** The user level of VS Code's settings, as routingSettings reads and writes it. */
function userSettings(): SettingsStore {
  const all = () => vscode.workspace.getConfiguration();
  return {
    isKnown: (key) => all().inspect(key)?.defaultValue !== undefined,
    globalValue: (key) => all().inspect(key)?.globalValue,
    effectiveValue: (key) => all().get(key),
    setGlobal: async (key, value: Json | undefined) => all().update(key, value, vscode.ConfigurationTarget.Global),
  };
}

/** Text from VS Code's own errors, as one line for a notification. */
const oneLine = (text: string) => text.replace(/[\p{Cc}\p{Cf}]+/gu, ' ').trim();

export interface Routing extends vscode.Disposable {
  /** The session (task picking) and the Tasks view (the unrouted-terminal notice), once the core has loaded. */
  attach(session: AirlockSession, notices: NoticeTarget): void;
}

/**
 * Routing agents into the sandbox: the launchers written at activation, the "Airlock sandbox"
 * terminal profile, and the commands Route Agents into the Sandbox, Stop Routing and Open Sandbox
 * Terminal. Nothing here needs the core, so it starts at activation; `attach` adds what does.
 */
export function registerRouting(context: vscode.ExtensionContext, commands: CommandRegistry, session: AirlockSession | undefined, output: vscode.LogOutputChannel, notices?: NoticeTarget): Routing {
  const part = new RoutingPart(context, output);
  context.subscriptions.push(
    part,
    registerSandboxProfile(part.launchers),
    commands.register('airlock.routeAgents', () => part.route()),
    commands.register('airlock.stopRouting', () => part.stop()),
    commands.register('airlock.openSandboxTerminal', (node?: unknown) => part.openTerminal(node)),
  );
  if (session && notices) part.attach(session, notices);
  return part;
}

class RoutingPart implements Routing {
  readonly launchers: Promise<LauncherPaths>;
  private readonly os = settingsOs(process.platform);
  private watcher: UnroutedTerminals | undefined;
  private session: AirlockSession | undefined;
  private notices: NoticeTarget | undefined;

  constructor(private readonly context: vscode.ExtensionContext, private readonly output: vscode.LogOutputChannel) {
    this.launchers = this.start();
    // Awaited by every user of the launchers; this branch only logs, once.
    this.launchers.catch((error: unknown) => output.error(`routing: the launchers are not available: ${error instanceof Error ? error.message : String(error)}`));
  }

  /** Writes the launchers (a no-op when they are current) and picks routing up where the last window left it. */
  private async start(): Promise<LauncherPaths> {
    if (process.platform === 'win32') throw new Error('routing agents into the sandbox is not supported on Windows (the launchers are POSIX shell scripts)');
    const { paths, written } = await ensureLaunchers(this.context.globalStorageUri.fsPath, this.context.extensionPath);
    if (written.length) this.output.info(`routing: wrote ${written.length} launcher(s) in ${paths.dir}`);
    this.watcher = new UnroutedTerminals(paths, this.os, this.output);
    if (this.session && this.notices) this.watcher.attach(this.notices, this.session.core.printableLine);
    await this.setRouted(this.record() !== undefined);
    return paths;
  }

  attach(session: AirlockSession, notices: NoticeTarget): void {
    this.session = session;
    this.notices = notices;
    this.watcher?.attach(notices, session.core.printableLine);
  }

  private record(): RoutingRecord | undefined {
    return parseRecord(this.context.globalState.get(RECORD_KEY));
  }

  private async saveRecord(record: RoutingRecord | undefined): Promise<void> {
    await this.context.globalState.update(RECORD_KEY, record);
  }

  private async setRouted(on: boolean): Promise<void> {
    this.watcher?.setRouting(on);
    await vscode.commands.executeCommand('setContext', CONTEXT_KEY, on);
  }

  async route(): Promise<void> {
    if (process.platform === 'win32') {
      void vscode.window.showErrorMessage('Airlock cannot route agents into the sandbox on Windows: its launchers are POSIX shell scripts.');
      return;
    }
    let paths: LauncherPaths;
    try {
      paths = await this.launchers;
    } catch (error) {
      void vscode.window.showErrorMessage(`Airlock cannot route agents: its launchers could not be written (${oneLine(error instanceof Error ? error.message : String(error))}).`, 'Show Log').then((choice) => choice && this.output.show(true));
      return;
    }
    const store = userSettings();
    const targets = routingTargets({ os: this.os, shell: paths.shell, run: paths.run, claudeCode: vscode.extensions.getExtension(EXTENSIONS.claudeCode) !== undefined });
    const old = this.record();
    const plan = planRoute(store, targets, old);
    if (plan.changes.length) {
      const choice = await vscode.window.showWarningMessage("Route agents' commands into the Airlock sandbox?", { modal: true, detail: this.consentDetail(plan) }, ROUTE_BUTTON);
      if (choice !== ROUTE_BUTTON) return;
    }
    // The record is kept before the first write, so a window that dies halfway still knows what to put back.
    await this.saveRecord(plan.record);
    const results = await applyEdits(store, plan.edits);
    const record = settleRoute(plan, results);
    await this.saveRecord(record);
    await this.setRouted(record !== undefined);
    this.report(plan, results, store);
  }

  /** Exactly which settings change, what stays on the host, and the setting that would change that. */
  private consentDetail(plan: RoutePlan): string {
    const os = this.os;
    const lines = ['Airlock changes these user settings (Stop Routing puts each back as it was):', ...plan.changes.map((target) => `• ${target.key}${target.kind === 'member' ? ` (adds "${target.member}")` : target.kind === 'envVar' ? ` (sets ${target.name})` : ''}: ${target.routes}`)];
    if (plan.unchanged.length) lines.push('', 'Already routed:', ...plan.unchanged.map((target) => `• ${target.key}`));
    if (plan.skipped.length) lines.push('', 'Not changed:', ...plan.skipped.map(({ target, why }) => `• ${target.key}: ${why}`));
    lines.push('', 'Routed commands run in the running task for their folder (Start Task first). New terminals, and tasks and debug sessions that use the default profile, open in the sandbox too; terminal.integrated.automationProfile.' + os + ' keeps tasks and debugging on the host.');
    lines.push('', 'Stays on the host:');
    if (vscode.extensions.getExtension(EXTENSIONS.rooCode)) lines.push('• Roo Code while "Use Inline Terminal (recommended)" is on (Roo Code\'s own Settings → Terminal; on by default): it runs commands as its own child processes. Turn it off to have Roo Code use the routed VS Code terminal.');
    const sandbox = vscode.workspace.getConfiguration().get<unknown>('chat.agent.sandbox.enabled');
    if (sandbox === 'on' || sandbox === true) lines.push("• VS Code's agent sandbox is on (chat.agent.sandbox.enabled): it rewrites each command to run its own sandbox runtime by host paths that do not exist in the task, so those commands fail there. Turn it off while routing.");
    lines.push('• Claude Code run in a terminal outside VS Code: its Bash tool reads ~/.claude/settings.json, which Airlock does not edit. Claude Code sessions already open keep their shell until restarted.');
    lines.push('• Terminals already open, and whatever an agent runs through its own child processes (language servers, background jobs, MCP servers it starts itself): an extension cannot intercept another extension\'s processes.');
    return lines.join('\n');
  }

  private report(plan: RoutePlan, results: EditResult[], store: SettingsStore): void {
    const failed: string[] = [];
    for (const result of results) {
      if (result.ok) this.output.info(`routing: set ${result.edit.key}`);
      else {
        failed.push(result.edit.key);
        this.output.warn(`routing: ${result.edit.key} is not routed: ${oneLine(result.why)}`);
      }
    }
    // Settings that needed no write are checked too: a workspace may override the user's value.
    for (const target of plan.unchanged) {
      const check = checkTarget(store, target);
      if (!check.ok) {
        failed.push(target.key);
        this.output.warn(`routing: ${target.key} is not in effect: ${check.why}`);
      }
    }
    for (const { target, why } of plan.skipped) this.output.info(`routing: left ${target.key} alone: ${why}`);
    const routed = plan.changes.length + plan.unchanged.length - failed.length;
    if (failed.length) {
      void vscode.window.showWarningMessage(`Airlock: ${failed.length} setting(s) did not route: ${failed.join(', ')}. ${routed} did.`, 'Show Log').then((choice) => choice && this.output.show(true));
    } else if (!plan.changes.length) {
      void vscode.window.showInformationMessage(`Airlock: agents are already routed into the sandbox (${routed} settings checked).`);
    } else {
      void vscode.window.showInformationMessage(`Airlock: agents are routed into the sandbox (${plan.changes.length} setting(s) changed). New terminals and agent sessions use it.`);
    }
  }

  async stop(): Promise<void> {
    const record = this.record();
    if (!record) {
      await this.setRouted(false);
      void vscode.window.showInformationMessage('Airlock: agents are not routed; no setting changed.');
      return;
    }
    const store = userSettings();
    const plan = planStop(store, record);
    const results = await applyEdits(store, plan.edits);
    const left = settleStop(plan, results);
    await this.saveRecord(left);
    await this.setRouted(left !== undefined);
    const failures = new Map(results.flatMap((result) => (result.ok ? [] : [[result.edit, result.why] as const])));
    const restored: string[] = [];
    const kept: string[] = [];
    for (const { entry, outcome, edit } of plan.outcomes) {
      const failure = edit && failures.get(edit);
      if (outcome === 'kept') {
        kept.push(entry.key);
        this.output.info(`routing: left ${entry.key} as you changed it since routing`);
      } else if (failure) {
        this.output.warn(`routing: could not restore ${entry.key}: ${oneLine(failure)}`);
      } else if (outcome === 'restore') {
        restored.push(entry.key);
        this.output.info(`routing: restored ${entry.key}`);
      }
    }
    if (left) {
      void vscode.window.showWarningMessage(`Airlock: routing is still on for ${left.entries.map((entry) => entry.key).join(', ')}: VS Code refused to restore it. Stop Routing tries again.`, 'Show Log').then((choice) => choice && this.output.show(true));
      return;
    }
    const keptText = kept.length ? ` Left as you changed them: ${kept.join(', ')}.` : '';
    void vscode.window.showInformationMessage(`Airlock: routing stopped; ${restored.length} setting(s) restored.${keptText}`);
  }

  async openTerminal(node: unknown): Promise<vscode.Terminal | undefined> {
    let paths: LauncherPaths;
    try {
      paths = await this.launchers;
    } catch (error) {
      void vscode.window.showErrorMessage(`Airlock cannot open a sandbox terminal: ${oneLine(error instanceof Error ? error.message : String(error))}.`);
      return;
    }
    const given = taskOfNode(node);
    const task = given ?? (this.session ? await pickTaskFor(this.session, node, true, 'Open a sandbox terminal in which task?') : undefined);
    if (this.session && !task) return;
    return openSandboxTerminal(paths, task, { focus: true });
  }

  dispose(): void {
    this.watcher?.dispose();
  }
}
