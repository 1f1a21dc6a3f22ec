/**
 * Which user settings route which agent's commands into the sandbox, the edits that set them, and
 * the exact record that puts them back. No VS Code here: the settings are reached through
 * `SettingsStore`, which the extension adapts from `vscode.workspace.getConfiguration()` (user
 * level only) and the tests fake.
 */

export type RoutingOs = 'linux' | 'osx' | 'windows';

/** The profile Airlock adds to `terminal.integrated.profiles.<os>` and makes the default. */
export const PROFILE_NAME = 'Airlock sandbox';
export const SHELL_PREFIX_VARIABLE = 'CLAUDE_CODE_SHELL_PREFIX';
export const CLAUDE_CODE_ENVIRONMENT = 'claudeCode.environmentVariables';

/** VS Code's name for the platform in setting keys; Windows is one, but routing refuses it (see routeCommands). */
export function settingsOs(platform: NodeJS.Platform): RoutingOs {
  return platform === 'win32' ? 'windows' : platform === 'darwin' ? 'osx' : 'linux';
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The user (global) level of VS Code's settings, and what the window actually uses. */
export interface SettingsStore {
  /** Whether VS Code (or an installed extension) declares the setting; writing an undeclared one fails. */
  isKnown(key: string): boolean;
  /** The user's own value, undefined when the user settings do not set it. */
  globalValue(key: string): unknown;
  /** The value in effect in this window (defaults, user, workspace and folder merged). */
  effectiveValue(key: string): unknown;
  /** Writes the user's value; undefined removes the key from the user settings. */
  setGlobal(key: string, value: Json | undefined): Promise<void>;
}

/** What one setting does for routing, and the value that routes. */
export type Target =
  /** The whole setting is Airlock's value. */
  | { kind: 'value'; key: string; value: Json; routes: string }
  /** One member of an object setting; the user's other members stay. */
  | { kind: 'member'; key: string; member: string; value: Json; routes: string }
  /** One `{ name, value }` entry of an environment-variable list; the user's other entries stay. */
  | { kind: 'envVar'; key: string; name: string; value: string; routes: string };

export interface TargetInputs {
  os: RoutingOs;
  /** The airlock-shell launcher. */
  shell: string;
  /** The airlock-run launcher. */
  run: string;
  /** Whether Claude Code's extension (anthropic.claude-code) is installed: its setting exists only then. */
  claudeCode: boolean;
}

/**
 * The settings that route: VS Code's own agent tool, Copilot's Agent Host, every tool that opens
 * or reads the default terminal profile (Cline, Roo Code with its VS Code terminal, new terminals),
 * and Claude Code's Bash tool through its shell prefix.
 */
export function routingTargets({ os, shell, run, claudeCode }: TargetInputs): Target[] {
  const targets: Target[] = [
    // VS Code's schema: an object with a required string `path`, optional `args`, `env`, `icon`, `color`.
    { kind: 'value', key: `chat.tools.terminal.terminalProfile.${os}`, value: { path: shell, args: [] }, routes: "the chat agent's run-in-terminal tool (GitHub Copilot)" },
    // A profile name or an inline profile; only its `path` is used today, and it falls back to the
    // default profile when unset: set explicitly so a later change of the default does not unroute it.
    { kind: 'value', key: `terminal.integrated.agentHostProfile.${os}`, value: { path: shell }, routes: "Copilot's Agent Host sessions" },
    // Cline and Roo Code read the default profile's name and look its `path` up in this map.
    { kind: 'member', key: `terminal.integrated.profiles.${os}`, member: PROFILE_NAME, value: { path: shell }, routes: `the "${PROFILE_NAME}" profile that the next setting names` },
    { kind: 'value', key: `terminal.integrated.defaultProfile.${os}`, value: PROFILE_NAME, routes: 'new terminals, Cline, Roo Code (with its inline terminal off), and tasks and debug sessions that use the default profile' },
  ];
  // Claude Code quotes the prefix's path itself (and starts stdio MCP servers with it as the
  // executable), so the value is the bare path: quoting it here would make it a different file name.
  if (claudeCode) targets.push({ kind: 'envVar', key: CLAUDE_CODE_ENVIRONMENT, name: SHELL_PREFIX_VARIABLE, value: run, routes: "Claude Code's Bash tool, its hooks and its stdio MCP servers (new Claude Code sessions)" });
  return targets;
}

/** The user's value before Airlock's write: unset, or a value. */
export type Previous = { set: false } | { set: true; value: Json };

/** One setting Airlock changed, with what it wrote and what was there before. */
export type RecordEntry =
  | { kind: 'value'; key: string; previous: Previous; wrote: Json }
  | { kind: 'member'; key: string; member: string; settingWasSet: boolean; previous: Previous; wrote: Json }
  | { kind: 'envVar'; key: string; name: string; settingWasSet: boolean; previous: { index: number; entry: Json }[]; wrote: string };

/** Kept in the extension's global state while routing is on. */
export interface RoutingRecord {
  version: 1;
  entries: RecordEntry[];
}

/** One write: a key's new user value (undefined removes it), and what it is for. */
export interface Edit {
  key: string;
  value: Json | undefined;
  /** What the value should read back as, for the check after writing. */
  expect: (store: SettingsStore) => Check;
}

export type Check = { ok: true } | { ok: false; why: string };

export interface RoutePlan {
  edits: Edit[];
  /** The record to keep while writing: the old one's entries for settings already routed, new ones for the rest. */
  record: RoutingRecord;
  /** For each edit, its entry in `record` and the one the old record had (what stays if VS Code refuses the write). */
  entryOf: Map<Edit, { fresh: RecordEntry; old: RecordEntry | undefined }>;
  /** Targets already in effect before any write. */
  unchanged: Target[];
  /** Targets that will change. */
  changes: Target[];
  /** Targets left alone, and why (a setting this VS Code lacks, or a user value of the wrong shape). */
  skipped: { target: Target; why: string }[];
}

const clone = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

/** Structural equality of JSON values; object members in any order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((item, index) => sameJson(item, (b as unknown[])[index]));
  const left = Object.keys(a);
  const right = Object.keys(b);
  return left.length === right.length && left.every((key) => Object.prototype.hasOwnProperty.call(b, key) && sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

const isObject = (value: unknown): value is Record<string, Json> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isEnvEntry = (value: unknown): value is { name: string; value?: Json } => isObject(value) && typeof value.name === 'string';
const previousOf = (value: unknown): Previous => (value === undefined ? { set: false } : { set: true, value: clone(value as Json) });
const sameKeyAs = (entry: RecordEntry, target: Target) => entry.kind === target.kind && entry.key === target.key && (entry.kind !== 'member' || (target.kind === 'member' && entry.member === target.member)) && (entry.kind !== 'envVar' || (target.kind === 'envVar' && entry.name === target.name));

/** The user's current value of a target, or undefined when the user settings hold none. */
function currentOf(store: SettingsStore, target: Target): unknown {
  const whole = store.globalValue(target.key);
  if (target.kind === 'value') return whole;
  if (target.kind === 'member') return isObject(whole) ? whole[target.member] : undefined;
  const matches = Array.isArray(whole) ? whole.filter((entry) => isEnvEntry(entry) && entry.name === target.name) : [];
  return matches.length === 1 && isEnvEntry(matches[0]) ? matches[0].value : matches.length ? matches.map((entry) => (entry as { value?: Json }).value) : undefined;
}

/** The check after writing: the user value is Airlock's, and nothing in the workspace overrides it. */
function expectTarget(target: Target): (store: SettingsStore) => Check {
  return (store) => {
    if (!sameJson(currentOf(store, target), target.value)) return { ok: false, why: 'the user setting did not keep the value written' };
    const effective = store.effectiveValue(target.key);
    const inEffect =
      target.kind === 'value'
        ? sameJson(effective, target.value)
        : target.kind === 'member'
          ? isObject(effective) && sameJson(effective[target.member], target.value)
          : Array.isArray(effective) && effective.some((entry) => isEnvEntry(entry) && entry.name === target.name && entry.value === target.value);
    return inEffect ? { ok: true } : { ok: false, why: "this workspace's settings override it" };
  };
}

/** Whether a target is in effect now: the user value is Airlock's and no workspace setting overrides it. */
export function checkTarget(store: SettingsStore, target: Target): Check {
  return expectTarget(target)(store);
}

/** The new user value of a whole setting with the target's part routed. */
function routedWhole(whole: unknown, target: Target): Json {
  if (target.kind === 'value') return clone(target.value);
  if (target.kind === 'member') return { ...(isObject(whole) ? clone(whole) : {}), [target.member]: clone(target.value) };
  const list = Array.isArray(whole) ? (clone(whole) as Json[]) : [];
  const first = list.findIndex((entry) => isEnvEntry(entry) && entry.name === target.name);
  const rest = list.filter((entry) => !(isEnvEntry(entry) && entry.name === target.name));
  const ours = { name: target.name, value: target.value };
  if (first === -1) return [...rest, ours];
  rest.splice(first, 0, ours);
  return rest;
}

function entryFor(store: SettingsStore, target: Target): RecordEntry {
  const whole = store.globalValue(target.key);
  if (target.kind === 'value') return { kind: 'value', key: target.key, previous: previousOf(whole), wrote: clone(target.value) };
  if (target.kind === 'member') return { kind: 'member', key: target.key, member: target.member, settingWasSet: whole !== undefined, previous: previousOf(isObject(whole) ? whole[target.member] : undefined), wrote: clone(target.value) };
  const previous = (Array.isArray(whole) ? (whole as Json[]) : []).flatMap((entry, index) => (isEnvEntry(entry) && entry.name === target.name ? [{ index, entry: clone(entry) }] : []));
  return { kind: 'envVar', key: target.key, name: target.name, settingWasSet: whole !== undefined, previous, wrote: target.value };
}

/** Why a target cannot be written as things are, or undefined. */
function refusal(store: SettingsStore, target: Target): string | undefined {
  if (!store.isKnown(target.key)) return 'this VS Code (or the extension that owns it) does not declare this setting';
  const whole = store.globalValue(target.key);
  if (target.kind === 'member' && whole !== undefined && !isObject(whole)) return 'your user value is not an object; Airlock leaves it alone';
  if (target.kind === 'envVar' && whole !== undefined && !Array.isArray(whole)) return 'your user value is not a list; Airlock leaves it alone';
  return undefined;
}

/**
 * What routing would change. A second Route keeps the first one's record for every setting still
 * holding what Airlock wrote, so Stop Routing still puts back the values from before the first;
 * a setting the user changed since is recorded afresh (their latest choice is what comes back).
 */
export function planRoute(store: SettingsStore, targets: Target[], record: RoutingRecord | undefined): RoutePlan {
  const plan: RoutePlan = { edits: [], record: { version: 1, entries: [] }, entryOf: new Map(), unchanged: [], changes: [], skipped: [] };
  const old = record?.entries ?? [];
  for (const target of targets) {
    const why = refusal(store, target);
    if (why) {
      plan.skipped.push({ target, why });
      continue;
    }
    const current = currentOf(store, target);
    const recorded = old.find((entry) => sameKeyAs(entry, target));
    const stillOurs = recorded !== undefined && sameJson(current, recorded.wrote);
    const entry = (stillOurs ? { ...recorded, wrote: clone(target.value) } : entryFor(store, target)) as RecordEntry;
    plan.record.entries.push(entry);
    if (sameJson(current, target.value)) {
      plan.unchanged.push(target);
      continue;
    }
    plan.changes.push(target);
    const edit: Edit = { key: target.key, value: routedWhole(store.globalValue(target.key), target), expect: expectTarget(target) };
    plan.edits.push(edit);
    plan.entryOf.set(edit, { fresh: entry, old: recorded });
  }
  // Entries of settings this Route no longer targets (an extension uninstalled since) stay until Stop.
  for (const entry of old) if (!plan.record.entries.some((kept) => kept.key === entry.key && kindKey(kept) === kindKey(entry))) plan.record.entries.push(entry);
  return plan;
}

const kindKey = (entry: RecordEntry) => (entry.kind === 'member' ? `member:${entry.member}` : entry.kind === 'envVar' ? `envVar:${entry.name}` : 'value');

export type StopOutcome = 'restore' | 'kept' | 'already';

export interface StopPlan {
  edits: Edit[];
  /** Per record entry: put back, left because the user changed it since, or already as before. */
  outcomes: { entry: RecordEntry; outcome: StopOutcome; edit?: Edit }[];
}

const expectWhole = (key: string, value: Json | undefined) => (store: SettingsStore): Check => (sameJson(store.globalValue(key), value) ? { ok: true } : { ok: false, why: 'the user setting did not keep the value written' });

/** The user value of a whole setting with Airlock's part undone, or 'kept' when the user changed that part since. */
function restoredWhole(store: SettingsStore, entry: RecordEntry): { value: Json | undefined } | 'kept' | 'already' {
  const whole = store.globalValue(entry.key);
  if (entry.kind === 'value') {
    const before = entry.previous.set ? entry.previous.value : undefined;
    if (sameJson(whole, before)) return 'already';
    return sameJson(whole, entry.wrote) ? { value: clone(before) } : 'kept';
  }
  if (entry.kind === 'member') {
    const object = isObject(whole) ? clone(whole) : undefined;
    const member = object?.[entry.member];
    const before = entry.previous.set ? entry.previous.value : undefined;
    if (sameJson(member, before)) return 'already';
    if (!object || !sameJson(member, entry.wrote)) return 'kept';
    if (entry.previous.set) object[entry.member] = clone(entry.previous.value);
    else delete object[entry.member];
    return { value: Object.keys(object).length === 0 && !entry.settingWasSet ? undefined : object };
  }
  const list = Array.isArray(whole) ? (clone(whole) as Json[]) : undefined;
  const ours = (list ?? []).filter((item) => isEnvEntry(item) && item.name === entry.name);
  if (!list || ours.length === 0) return entry.previous.length === 0 ? 'already' : 'kept';
  if (ours.length !== 1 || !sameJson(ours[0], { name: entry.name, value: entry.wrote })) return 'kept';
  const rest = list.filter((item) => !(isEnvEntry(item) && item.name === entry.name));
  for (const { index, entry: item } of entry.previous) rest.splice(Math.min(index, rest.length), 0, clone(item));
  return { value: rest.length === 0 && !entry.settingWasSet ? undefined : rest };
}

/** What Stop Routing writes: each recorded setting back to its value from before, unless the user changed it since. */
export function planStop(store: SettingsStore, record: RoutingRecord | undefined): StopPlan {
  const plan: StopPlan = { edits: [], outcomes: [] };
  for (const entry of record?.entries ?? []) {
    const restored = restoredWhole(store, entry);
    if (restored === 'kept' || restored === 'already') {
      plan.outcomes.push({ entry, outcome: restored });
      continue;
    }
    // Each setting has one entry (routingTargets names each key once), so the edits are independent.
    const edit: Edit = { key: entry.key, value: restored.value, expect: expectWhole(entry.key, restored.value) };
    plan.edits.push(edit);
    plan.outcomes.push({ entry, outcome: 'restore', edit });
  }
  return plan;
}

/** `written`: whether VS Code took the write at all (a check can still fail after it did). */
export type EditResult = { edit: Edit; ok: true; written: true } | { edit: Edit; ok: false; written: boolean; why: string };

/** Writes each edit and reads it back; a refused write (a restricted or undeclared setting) is reported, not thrown. */
export async function applyEdits(store: SettingsStore, edits: Edit[]): Promise<EditResult[]> {
  const results: EditResult[] = [];
  for (const edit of edits) {
    try {
      await store.setGlobal(edit.key, edit.value);
    } catch (error) {
      results.push({ edit, ok: false, written: false, why: `VS Code refused the write: ${error instanceof Error ? error.message : String(error)}` });
      continue;
    }
    const check = edit.expect(store);
    results.push(check.ok ? { edit, ok: true, written: true } : { edit, ok: false, written: true, why: check.why });
  }
  return results;
}

/**
 * The record once a Route's writes are done: a setting VS Code refused to write holds what it held
 * before, so its entry goes back to the old record's (or goes, when the old record had none).
 * Undefined when nothing is left to restore.
 */
export function settleRoute(plan: RoutePlan, results: EditResult[]): RoutingRecord | undefined {
  const undo = new Map<RecordEntry, RecordEntry | undefined>();
  for (const result of results) {
    const pair = plan.entryOf.get(result.edit);
    if (!result.written && pair) undo.set(pair.fresh, pair.old);
  }
  const entries = plan.record.entries.flatMap((entry) => {
    if (!undo.has(entry)) return [entry];
    const old = undo.get(entry);
    return old ? [old] : [];
  });
  return entries.length ? { version: 1, entries } : undefined;
}

/** The record once Stop's writes are done: only entries whose restore VS Code refused stay, to try again. */
export function settleStop(plan: StopPlan, results: EditResult[]): RoutingRecord | undefined {
  const refused = new Set(results.filter((result) => !result.written).map((result) => result.edit));
  const entries = plan.outcomes.filter((item) => item.edit && refused.has(item.edit)).map((item) => item.entry);
  return entries.length ? { version: 1, entries } : undefined;
}

/** The record as kept in global state, checked: anything else (an older or damaged one) is no record. */
export function parseRecord(value: unknown): RoutingRecord | undefined {
  if (!isObject(value) || value.version !== 1 || !Array.isArray(value.entries)) return undefined;
  const entries = value.entries.filter(isRecordEntry);
  return entries.length === value.entries.length ? { version: 1, entries } : undefined;
}

function isPrevious(value: unknown): value is Previous {
  return isObject(value) && (value.set === false || (value.set === true && 'value' in value));
}

function isRecordEntry(value: unknown): value is RecordEntry {
  if (!isObject(value) || typeof value.key !== 'string') return false;
  switch (value.kind) {
    case 'value':
      return isPrevious(value.previous) && 'wrote' in value;
    case 'member':
      return typeof value.member === 'string' && typeof value.settingWasSet === 'boolean' && isPrevious(value.previous) && 'wrote' in value;
    case 'envVar':
      return typeof value.name === 'string' && typeof value.settingWasSet === 'boolean' && typeof value.wrote === 'string' && Array.isArray(value.previous) && value.previous.every((item) => isObject(item) && typeof item.index === 'number' && 'entry' in item);
    default:
      return false;
  }
}
