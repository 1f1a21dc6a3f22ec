import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { taskPolicySourceSchema } from '../config/taskOptions.js';
import { type CommandSettings, commandSettingsSchema, taskCommandSettings } from '../commands/commandSettings.js';
import { egressSettingsSchema } from '../egress/egressSettings.js';
import { type PhaseRules, phaseRulesSchema } from '../egress/egressRules.js';
import { describeError } from '../ground/errors.js';
import { replaceFile } from '../ground/syncedWrite.js';
import type { TaskRecord } from '../state/taskRecord.js';
import type { TaskStore } from '../state/taskStore.js';
import { loadMachineFloors, loadWorkspacePolicy, resolveWorkspace } from './policyLoader.js';
import { policyFileSchema } from './policySchema.js';
import type { ResolvedPolicy } from './policyLayers.js';

/**
 * The rules a running task follows for new commands and new connections. They start as the task's
 * own and only ever get stricter: when the repository file (or a machine floor) changes, the new
 * policy is merged in strictest-wins; loosenings wait for new tasks. An invalid file changes nothing.
 */
export const liveRulesSchema = z.object({
  commands: commandSettingsSchema,
  egress: z.object({ setup: phaseRulesSchema, agent: phaseRulesSchema, ask: z.boolean() }),
});
export type LiveRules = z.output<typeof liveRulesSchema>;

const liveStateSchema = z.object({
  rules: liveRulesSchema,
  /** Digest of the repository policy last seen valid. */
  digest: z.string().optional(),
  /** Why the latest file could not be used (the rules above still apply). */
  error: z.string().optional(),
  checkedAt: z.string(),
});
export type LiveState = z.infer<typeof liveStateSchema>;

export function rulesOfTask(record: TaskRecord): LiveRules {
  const egress = egressSettingsSchema.parse(record.options.egress ?? {});
  return { commands: taskCommandSettings(record), egress: { setup: egress.setup, agent: egress.agent, ask: egress.ask } };
}

export function rulesOfPolicy(policy: ResolvedPolicy): LiveRules {
  return { commands: policy.commands, egress: { setup: policy.network.setup, agent: policy.network.agent, ask: policy.network.ask } };
}

const intersect = (a: readonly string[], b: readonly string[]) => a.filter((item) => b.includes(item));
const union = (a: readonly string[], b: readonly string[]) => [...a, ...b.filter((item) => !a.includes(item))];

const tightenPhase = (current: PhaseRules, next: PhaseRules): PhaseRules => ({
  allow: intersect(current.allow, next.allow),
  allowCidr: intersect(current.allowCidr, next.allowCidr),
  deny: union(current.deny, next.deny),
});

/** The stricter of two rule sets, field by field: fewer allows, more asks and denies. */
export function tightenRules(current: LiveRules, next: LiveRules): LiveRules {
  const commands: CommandSettings = {
    allow: intersect(current.commands.allow, next.commands.allow),
    ask: union(current.commands.ask, next.commands.ask),
    deny: union(current.commands.deny, next.commands.deny),
    default: current.commands.default === 'ask' || next.commands.default === 'ask' ? 'ask' : 'allow',
    approvalTimeoutSeconds: current.commands.approvalTimeoutSeconds,
  };
  return { commands, egress: { setup: tightenPhase(current.egress.setup, next.egress.setup), agent: tightenPhase(current.egress.agent, next.egress.agent), ask: current.egress.ask && next.egress.ask } };
}

const liveFile = (store: TaskStore, id: string) => path.join(store.taskDir(id), 'live-policy.json');

export function readLiveState(store: TaskStore, record: TaskRecord): LiveState {
  try {
    return liveStateSchema.parse(JSON.parse(fs.readFileSync(liveFile(store, record.id), 'utf8')));
  } catch {
    const source = taskPolicySourceSchema.safeParse(record.options.policy);
    return { rules: rulesOfTask(record), digest: source.success ? source.data.digest : undefined, checkedAt: record.createdAt };
  }
}

/**
 * Re-reads the task's repository policy and machine floors and tightens the task's live rules.
 * Called before each command (the gate) and by watchers on file changes (the gateway, the editor).
 * Tasks started without a policy (older records, in-process callers) keep their own rules.
 */
export function refreshLiveRules(store: TaskStore, record: TaskRecord, env: NodeJS.ProcessEnv = process.env): LiveState {
  const previous = readLiveState(store, record);
  const source = taskPolicySourceSchema.safeParse(record.options.policy);
  if (!source.success) return previous;
  let next: LiveState;
  try {
    const user = policyFileSchema.parse(source.data.user);
    const state = resolveWorkspace({ workspace: record.workspace, stateDir: store.root, user, trusted: source.data.trusted, env }, loadMachineFloors(env), loadWorkspacePolicy(record.workspace));
    next = { rules: tightenRules(previous.rules, rulesOfPolicy(state.effective.policy)), digest: state.repo?.digest, checkedAt: new Date().toISOString() };
  } catch (error) {
    // A half-written or invalid file never loosens anything: the last good rules stay.
    next = { ...previous, error: describeError(error), checkedAt: new Date().toISOString() };
  }
  if (JSON.stringify({ ...next, checkedAt: '' }) !== JSON.stringify({ ...previous, checkedAt: '' })) {
    replaceFile(liveFile(store, record.id), JSON.stringify(next, null, 2));
    if (JSON.stringify(next.rules) !== JSON.stringify(previous.rules)) store.audit(record.id).append({ type: 'policy.tightened', task: record.id, digest: next.digest, rules: next.rules });
    if (next.error && next.error !== previous.error) store.audit(record.id).append({ type: 'policy.invalid', task: record.id, error: next.error });
  }
  return next;
}
