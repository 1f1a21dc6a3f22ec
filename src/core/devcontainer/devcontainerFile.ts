import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { locate, SourceFileError, readJsonc, validateDocument } from '../ground/jsoncFile.js';
import { UNTRUSTED_LIMITS } from '../ground/untrustedFile.js';
import type { DevcontainerBuild, DevcontainerPlan, DevcontainerRefusal, DevcontainerSettings, LifecycleCommand, LifecycleField } from './devcontainerPlan.js';

/**
 * Reads a devcontainer.json into a DevcontainerPlan. The parts a devcontainer.json shares with an
 * image's `devcontainer.metadata` label (environment, users, lifecycle commands, the fields that
 * widen a container) are read by `readSettingsEntry`, which imageMetadata.ts uses too, so a field
 * is judged the same way wherever it comes from.
 */

/** Where the workspace copy sits in every task container. */
const CONTAINER_WORKSPACE = '/workspace';

/** The lifecycle commands Airlock runs, in the order the spec runs them. */
export const LIFECYCLE_FIELDS: readonly LifecycleField[] = ['onCreateCommand', 'updateContentCommand', 'postCreateCommand', 'postStartCommand'];

type FieldPath = ReadonlyArray<string | number>;

const commandSchema = z.union([z.string(), z.array(z.string()), z.record(z.string(), z.union([z.string(), z.array(z.string())]))], {
  error: 'expected a shell line, a list of arguments, or an object of named commands',
});

const mountSchema = z.union([z.string(), z.looseObject({ type: z.string().optional(), source: z.string().optional(), target: z.string().optional() })], {
  error: 'expected a mount string ("type=bind,source=…,target=…") or an object with type, source and target',
});

const portSchema = z.union([z.number(), z.string()]);

/** The fields a devcontainer.json and an image metadata entry share (the spec's image metadata properties). */
export const settingsShape = {
  containerEnv: z.record(z.string(), z.string()).optional(),
  remoteEnv: z.record(z.string(), z.string().nullable()).optional(),
  remoteUser: z.string().optional(),
  containerUser: z.string().optional(),
  onCreateCommand: commandSchema.optional(),
  updateContentCommand: commandSchema.optional(),
  postCreateCommand: commandSchema.optional(),
  postStartCommand: commandSchema.optional(),
  postAttachCommand: commandSchema.optional(),
  privileged: z.boolean().optional(),
  capAdd: z.array(z.string()).optional(),
  securityOpt: z.array(z.string()).optional(),
  mounts: z.array(mountSchema).optional(),
  forwardPorts: z.array(portSchema).optional(),
  // Read only to say why they do not apply, so any value is accepted.
  init: z.unknown().optional(),
  overrideCommand: z.unknown().optional(),
  waitFor: z.unknown().optional(),
  shutdownAction: z.unknown().optional(),
  customizations: z.unknown().optional(),
  hostRequirements: z.unknown().optional(),
  portsAttributes: z.unknown().optional(),
  otherPortsAttributes: z.unknown().optional(),
  userEnvProbe: z.unknown().optional(),
  updateRemoteUserUID: z.unknown().optional(),
};

/** The settings part of a devcontainer.json or an image-metadata entry, as their schemas read it. */
export type SettingsFields = z.output<z.ZodObject<typeof settingsShape, z.core.$loose>>;

const buildSchema = z.looseObject({
  dockerfile: z.string().optional(),
  context: z.string().optional(),
  args: z.record(z.string(), z.string()).optional(),
  target: z.string().optional(),
  cacheFrom: z.unknown().optional(),
  options: z.unknown().optional(),
});

const devcontainerSchema = z.looseObject({
  ...settingsShape,
  name: z.unknown().optional(),
  image: z.string().optional(),
  build: buildSchema.optional(),
  dockerFile: z.string().optional(),
  context: z.string().optional(),
  initializeCommand: commandSchema.optional(),
  workspaceMount: z.string().optional(),
  workspaceFolder: z.unknown().optional(),
  runArgs: z.array(z.string()).optional(),
  appPort: z.union([portSchema, z.array(portSchema)]).optional(),
  dockerComposeFile: z.union([z.string(), z.array(z.string())]).optional(),
  service: z.string().optional(),
  runServices: z.array(z.string()).optional(),
  features: z.record(z.string(), z.unknown()).optional(),
});

/** Fields read only to say why they do not apply to a sandboxed task. */
const SETTINGS_NOTES: Record<string, string> = {
  postAttachCommand: 'not run; there is no IDE attach in an Airlock task',
  init: 'not used; Airlock always runs its own init',
  overrideCommand: 'not used; Airlock always runs its own init as the container command',
  waitFor: 'not used; every lifecycle command runs before the agent starts',
  shutdownAction: 'not used; Airlock removes the container when the task ends',
  customizations: 'editor settings and extensions do not apply to a sandboxed task; ignored',
  hostRequirements: "not checked; set the task's CPU and memory limits instead",
  portsAttributes: 'port settings do not apply; Airlock publishes no ports',
  otherPortsAttributes: 'port settings do not apply; Airlock publishes no ports',
  userEnvProbe: 'not used; the environment is containerEnv and remoteEnv only',
  updateRemoteUserUID: 'not used; the task works on a copy of the workspace, so file ownership needs no UID update',
};

const FILE_NOTES: Record<string, string> = {
  name: 'a display name; ignored',
  workspaceFolder: `ignored; the workspace is always at ${CONTAINER_WORKSPACE}`,
};

const BUILD_NOTES: Record<string, string> = {
  cacheFrom: 'not used; Airlock builds without external cache images',
  options: 'docker build options are not applied',
};

const COMPOSE_REASON = 'compose-based dev containers are not supported; use "image" or "build"';
const FEATURE_SCRIPTS = "Airlock does not run feature install scripts (they run as root at build time, outside Airlock's control); install the tool in the Dockerfile instead";

/** Collects the refusals and notes of one devcontainer.json or one image metadata entry. */
export class SettingsReport {
  readonly refusals: DevcontainerRefusal[] = [];
  readonly notes: string[] = [];
  private readonly refused: FieldPath[] = [];

  /**
   * @param prefix prepended to every field name ([] for a file, ["metadata", 2] for a label entry)
   * @param where the 1-based position of a field in its file, when there is a file
   */
  constructor(
    private readonly prefix: FieldPath,
    private readonly where?: (path: FieldPath) => { line: number; column: number },
  ) {}

  field(fieldPath: FieldPath): string {
    return [...this.prefix, ...fieldPath].join('.');
  }

  refuse(fieldPath: FieldPath, reason: string): void {
    this.refused.push(fieldPath);
    const position = this.where?.(fieldPath);
    this.refusals.push(position ? { field: this.field(fieldPath), reason, line: position.line, column: position.column } : { field: this.field(fieldPath), reason });
  }

  note(fieldPath: FieldPath, text: string): void {
    this.notes.push(`${this.field(fieldPath)}: ${text}`);
  }

  unknown(fieldPath: FieldPath): void {
    this.notes.push(`"${this.field(fieldPath)}" is not a devcontainer.json field Airlock knows; ignored`);
  }

  /** True when a refusal covers this field, a field inside it, or a field holding it. */
  isRefused(fieldPath: FieldPath): boolean {
    return this.refused.some((refused) => {
      const shared = Math.min(refused.length, fieldPath.length);
      for (let index = 0; index < shared; index++) if (refused[index] !== fieldPath[index]) return false;
      return true;
    });
  }
}

/** What one devcontainer.json or metadata entry contributes before entries are merged. */
export interface SettingsEntry {
  containerEnv: Record<string, string>;
  /** null unsets a variable, as the spec allows for remoteEnv. */
  remoteEnv: Record<string, string | null>;
  remoteUser?: string;
  containerUser?: string;
  lifecycle: Array<LifecycleCommand & { hook: LifecycleField }>;
}

/** POSIX shell quoting: a plain word stays bare, anything else is single-quoted. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

const VARIABLE = /\$\{([^}]*)\}/g;

function variables(text: string): string[] {
  return [...text.matchAll(VARIABLE)].map((match) => match[1]);
}

/** `${localEnv:NAME}`, `${localEnv:NAME:default}` and the older `${env:NAME}`, as written. */
function hostVariables(text: string): string[] {
  return variables(text).filter((inner) => /^(localEnv|env):/.test(inner));
}

function walkStrings(value: unknown, at: FieldPath, visit: (at: FieldPath, text: string) => void): void {
  if (typeof value === 'string') visit(at, value);
  else if (Array.isArray(value)) value.forEach((item, index) => walkStrings(item, [...at, index], visit));
  else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) walkStrings(item, [...at, key], visit);
}

/** Every string that would copy a host variable into the sandbox is refused, wherever it is. */
function refuseHostVariables(document: unknown, report: SettingsReport): void {
  walkStrings(document, [], (at, text) => {
    const found = hostVariables(text);
    if (found.length === 0) return;
    const listed = found.map((inner) => `\${${inner}}`).join(', ');
    const names = [...new Set(found.map((inner) => inner.split(':')[1]))];
    report.refuse(at, `uses ${listed}, which would copy the host's ${names.join(', ')} variable${names.length > 1 ? 's' : ''} (possibly a secret) into the sandbox`);
  });
}

/** The host path of the workspace must not reach the sandbox through a value Airlock keeps. */
function refuseHostWorkspacePath(document: Record<string, unknown>, keptFields: FieldPath[], report: SettingsReport): void {
  for (const kept of keptFields) {
    let value: unknown = document;
    for (const step of kept) value = value && typeof value === 'object' ? (value as Record<string | number, unknown>)[step] : undefined;
    walkStrings(value, kept, (at, text) => {
      if (variables(text).includes('localWorkspaceFolder')) report.refuse(at, 'uses ${localWorkspaceFolder}, which would reveal the host path of the workspace inside the sandbox');
    });
  }
}

/** Substitutes the variables whose container-side value Airlock knows; others are left as they are. */
function substitute(text: string, workspaceName: string | undefined): string {
  return text.replace(VARIABLE, (whole, inner: string) => {
    if (inner === 'containerWorkspaceFolder') return CONTAINER_WORKSPACE;
    if ((inner === 'containerWorkspaceFolderBasename' || inner === 'localWorkspaceFolderBasename') && workspaceName !== undefined) return workspaceName;
    return whole;
  });
}

function noteUnsubstituted(text: string, at: FieldPath, report: SettingsReport): void {
  if (variables(text).includes('devcontainerId')) report.note(at, '${devcontainerId} is left as is; an Airlock task has no dev container id');
}

/** A kept value with every known variable substituted. */
function keptValue(text: string, at: FieldPath, report: SettingsReport, workspaceName: string | undefined): string {
  noteUnsubstituted(text, at, report);
  return substitute(text, workspaceName);
}

function keptEnv<T extends string | null>(env: Record<string, T> | undefined, field: 'containerEnv' | 'remoteEnv', report: SettingsReport, workspaceName: string | undefined): Record<string, T> {
  const kept: Record<string, T> = {};
  for (const [name, value] of Object.entries(env ?? {})) {
    if (report.isRefused([field, name])) continue;
    if (value === null) kept[name] = value;
    else if (variables(value).some((inner) => inner.startsWith('containerEnv:'))) report.note([field, name], "uses ${containerEnv:…}, the image's own value, which Airlock does not read here; not set");
    else kept[name] = keptValue(value, [field, name], report, workspaceName) as T;
  }
  return kept;
}

type CommandValue = NonNullable<SettingsFields['postCreateCommand']>;

/** A shell line for one lifecycle command, or undefined when it is not run (with a note saying why). */
function commandLine(command: string | string[], at: FieldPath, report: SettingsReport, workspaceName: string | undefined): string | undefined {
  if (report.isRefused(at)) return undefined;
  if (typeof command === 'string') {
    let unreadable = false;
    // In a shell line the shell reads the container's own environment, which is what ${containerEnv:X} means.
    const line = command.replace(VARIABLE, (whole, inner: string) => {
      const match = /^containerEnv:([^:]*)(?::(.*))?$/s.exec(inner);
      if (!match) return whole;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(match[1])) unreadable = true;
      return match[2] === undefined ? `\${${match[1]}}` : `\${${match[1]}:-${match[2]}}`;
    });
    if (unreadable) {
      report.note(at, 'uses ${containerEnv:…} with a name the shell cannot read; not run');
      return undefined;
    }
    return line.trim() === '' ? undefined : keptValue(line, at, report, workspaceName);
  }
  if (command.length === 0) return undefined;
  if (command.some((word) => variables(word).some((inner) => inner.startsWith('containerEnv:')))) {
    report.note(at, 'uses ${containerEnv:…} in a list of arguments, which Airlock does not substitute; not run (write it as a shell line)');
    return undefined;
  }
  return command.map((word, index) => shellQuote(keptValue(word, [...at, index], report, workspaceName))).join(' ');
}

function lifecycleCommands(hook: LifecycleField, value: CommandValue | undefined, report: SettingsReport, workspaceName: string | undefined): SettingsEntry['lifecycle'] {
  if (value === undefined) return [];
  const named: Array<[FieldPath, string | string[]]> = typeof value === 'string' || Array.isArray(value) ? [[[hook], value]] : Object.entries(value).map(([name, command]) => [[hook, name], command]);
  return named.flatMap(([at, command]) => {
    const line = commandLine(command, at, report, workspaceName);
    return line === undefined ? [] : [{ hook, field: report.field(at), line }];
  });
}

interface MountSpec {
  type?: string;
  source?: string;
  target?: string;
}

/** Reads the `--mount` string form: "type=bind,source=/x,target=/y,readonly". */
function parseMountString(text: string): MountSpec {
  const spec: MountSpec = { type: 'volume' };
  for (const part of text.split(',')) {
    const [rawKey, ...rest] = part.split('=');
    const key = rawKey.trim().toLowerCase();
    const value = rest.join('=').trim();
    if (key === 'type') spec.type = value;
    else if (key === 'source' || key === 'src') spec.source = value;
    else if (key === 'target' || key === 'destination' || key === 'dst') spec.target = value;
  }
  return spec;
}

/** Reads the `-v` form: "source:target[:options]"; a lone path is an anonymous volume. */
function parseVolumeString(text: string): MountSpec {
  const parts = text.split(':');
  if (parts.length === 1) return { type: 'volume', target: parts[0] };
  const source = parts[0];
  return { type: /[/.~]/.test(source[0] ?? '') || source.includes('/') ? 'bind' : 'volume', source, target: parts[1] };
}

/** Why a mount widens the sandbox, completing "mounts.0 …"; undefined for a tmpfs scratch mount. */
function mountRefusal(mount: MountSpec): string | undefined {
  const type = (mount.type ?? 'volume').toLowerCase();
  if (type === 'tmpfs') return undefined;
  const ends = (text: string | undefined, pattern: RegExp) => text !== undefined && pattern.test(text);
  if (ends(mount.source, /docker\.sock$/) || ends(mount.target, /docker\.sock$/)) {
    return `mounts the host's Docker socket (${mount.source ?? mount.target}), which gives full control of the host's Docker engine and so of the host`;
  }
  if (ends(mount.source, /\.sock$/)) return `mounts the host socket ${mount.source}, which lets the sandbox talk to a host service`;
  if (type === 'bind') return `bind-mounts the host path ${mount.source ?? '(none given)'}; the task sees only its private copy of the workspace, never host paths`;
  if (type === 'volume') {
    return mount.source
      ? `mounts the volume "${mount.source}"; persistent volumes are shared across tasks and outlive them`
      : `mounts an anonymous volume at ${mount.target ?? '(no target)'}; Airlock applies no volumes (use its own scratch mounts)`;
  }
  return `uses the mount type "${mount.type}", which is not supported in a sandbox`;
}

function refuseMounts(mounts: SettingsFields['mounts'], report: SettingsReport): void {
  (mounts ?? []).forEach((mount, index) => {
    const reason = mountRefusal(typeof mount === 'string' ? parseMountString(mount) : mount);
    if (reason) report.refuse(['mounts', index], reason);
    else report.note(['mounts', index], "tmpfs scratch mounts are not applied; use Airlock's own scratch mounts");
  });
}

/**
 * Reads the fields a devcontainer.json and an image metadata entry share: refusals and notes go to
 * `report`; env values, users and lifecycle commands that are not refused are returned.
 * `workspaceName` substitutes the *WorkspaceFolderBasename variables when it is known.
 */
export function readSettingsEntry(entry: SettingsFields, report: SettingsReport, workspaceName: string | undefined): SettingsEntry {
  refuseHostVariables(entry, report);
  refuseHostWorkspacePath(entry, ['containerEnv', 'remoteEnv', 'remoteUser', 'containerUser', ...LIFECYCLE_FIELDS].map((field) => [field]), report);

  if (entry.privileged === true) report.refuse(['privileged'], "gives the container every capability and the host's devices");
  (entry.capAdd ?? []).forEach((capability, index) => report.refuse(['capAdd', index], `adds the Linux capability ${capability}; Airlock drops all capabilities`));
  (entry.securityOpt ?? []).forEach((option, index) => report.refuse(['securityOpt', index], `changes the sandbox's security profile (${option})`));
  refuseMounts(entry.mounts, report);
  if (entry.forwardPorts && entry.forwardPorts.length > 0) report.refuse(['forwardPorts'], `publishing ports (${entry.forwardPorts.join(', ')}) opens the sandbox to the network`);
  for (const [field, text] of Object.entries(SETTINGS_NOTES)) if (entry[field] !== undefined) report.note([field], text);

  const users: Pick<SettingsEntry, 'remoteUser' | 'containerUser'> = {};
  for (const field of ['remoteUser', 'containerUser'] as const) {
    const user = entry[field];
    if (user !== undefined && !report.isRefused([field])) users[field] = keptValue(user, [field], report, workspaceName);
  }
  return {
    containerEnv: keptEnv(entry.containerEnv, 'containerEnv', report, workspaceName),
    remoteEnv: keptEnv(entry.remoteEnv, 'remoteEnv', report, workspaceName),
    ...users,
    lifecycle: LIFECYCLE_FIELDS.flatMap((hook) => lifecycleCommands(hook, entry[hook], report, workspaceName)),
  };
}

/** Merges entries as the spec merges image metadata: env in order (remoteEnv over containerEnv), last user wins, every lifecycle command runs. */
export function mergeSettings(entries: readonly SettingsEntry[], reports: readonly SettingsReport[]): DevcontainerSettings {
  const containerEnv: Record<string, string> = {};
  for (const entry of entries) Object.assign(containerEnv, entry.containerEnv);
  for (const entry of entries) {
    for (const [name, value] of Object.entries(entry.remoteEnv)) {
      if (value === null) delete containerEnv[name];
      else containerEnv[name] = value;
    }
  }
  const settings: DevcontainerSettings = {
    containerEnv,
    lifecycle: LIFECYCLE_FIELDS.flatMap((hook) => entries.flatMap((entry) => entry.lifecycle.filter((command) => command.hook === hook).map(({ field, line }) => ({ field, line })))),
    refusals: reports.flatMap((report) => report.refusals),
    notes: reports.flatMap((report) => report.notes),
  };
  for (const entry of entries) {
    if (entry.remoteUser !== undefined) settings.remoteUser = entry.remoteUser;
    if (entry.containerUser !== undefined) settings.containerUser = entry.containerUser;
  }
  return settings;
}

/** One docker run option found in runArgs, at the index of the element that starts it. */
interface RunFlag {
  index: number;
  /** Long name without dashes ("volume" for -v); "" for an element that is not an option. */
  name: string;
  /** The option as written ("-v", "--network"). */
  written: string;
  value?: string;
  /** The elements it spans, for notes. */
  text: string;
}

const SHORT_FLAGS: Record<string, string> = { v: 'volume', p: 'publish', P: 'publish-all', e: 'env', u: 'user', w: 'workdir', h: 'hostname', l: 'label', m: 'memory', c: 'cpu-shares', a: 'attach', d: 'detach', i: 'interactive', t: 'tty', q: 'quiet' };
const BOOLEAN_FLAGS = new Set(['privileged', 'init', 'rm', 'read-only', 'publish-all', 'interactive', 'tty', 'detach', 'oom-kill-disable', 'no-healthcheck', 'use-api-socket', 'help', 'quiet', 'sig-proxy', 'disable-content-trust']);

/**
 * Splits runArgs into docker run options, in both "--flag=value" and "--flag value" forms and with
 * short clusters ("-itv/a:/b"). An element starting with "-" is never taken as the previous
 * option's value, so an option cannot hide behind another one.
 */
function parseRunArgs(args: readonly string[]): RunFlag[] {
  const flags: RunFlag[] = [];
  for (let index = 0; index < args.length; index++) {
    const element = args[index];
    const takeNext = (): string | undefined => {
      const next = args[index + 1];
      if (next === undefined || next.startsWith('-')) return undefined;
      index++;
      return next;
    };
    const start = index;
    if (element.startsWith('--') && element.length > 2) {
      const equals = element.indexOf('=');
      const name = (equals < 0 ? element.slice(2) : element.slice(2, equals)).toLowerCase();
      const value = equals >= 0 ? element.slice(equals + 1) : BOOLEAN_FLAGS.has(name) ? undefined : takeNext();
      flags.push({ index: start, name, written: `--${name}`, value, text: args.slice(start, index + 1).join(' ') });
    } else if (element.startsWith('-') && element.length > 1) {
      for (let position = 1; position < element.length; position++) {
        const letter = element[position];
        const name = SHORT_FLAGS[letter] ?? letter;
        if (BOOLEAN_FLAGS.has(name) || !SHORT_FLAGS[letter]) {
          flags.push({ index: start, name, written: `-${letter}`, text: element });
          continue;
        }
        const rest = element.slice(position + 1).replace(/^=/, '');
        const value = rest !== '' ? rest : takeNext();
        flags.push({ index: start, name, written: `-${letter}`, value, text: args.slice(start, index + 1).join(' ') });
        break;
      }
    } else {
      flags.push({ index: start, name: '', written: element, text: element });
    }
  }
  return flags;
}

const NAMESPACES: Record<string, string> = { pid: 'process namespace', ipc: 'IPC namespace', uts: 'UTS (host name) namespace', cgroupns: 'cgroup namespace', userns: 'user namespace' };

/** Why a docker run option widens the sandbox, or undefined when it does not. */
function runFlagRefusal(flag: RunFlag): string | undefined {
  const { name, written, value } = flag;
  const shown = value === undefined ? written : `${written}=${value}`;
  switch (name) {
    case 'privileged':
      return value === 'false' ? undefined : "--privileged gives the container every capability and the host's devices";
    case 'network':
    case 'net':
      if (value === 'none') return undefined;
      return value === 'host' ? `${shown}: host networking bypasses Airlock's egress gateway` : `${shown}: other networks bypass Airlock's egress gateway`;
    case 'link':
      return `${shown} connects the sandbox to another container, bypassing Airlock's egress gateway`;
    case 'pid':
    case 'ipc':
    case 'uts':
    case 'cgroupns':
    case 'userns':
      if (value === 'host') return `${shown} shares the host's ${NAMESPACES[name]} with the sandbox`;
      if (value?.startsWith('container:')) return `${shown} shares another container's ${NAMESPACES[name]} with the sandbox`;
      return undefined;
    case 'volume':
    case 'mount': {
      if (value === undefined) return `${written} without a value; mounts are not applied`;
      const reason = mountRefusal(name === 'volume' ? parseVolumeString(value) : parseMountString(value));
      return reason && `${written} ${reason}`;
    }
    case 'volumes-from':
      return `${shown} mounts the volumes of another container`;
    case 'cap-add':
      return `${shown} adds a Linux capability; Airlock drops all capabilities`;
    case 'device':
      return `${shown} gives the sandbox a host device`;
    case 'device-cgroup-rule':
      return `${shown} allows access to host devices`;
    case 'security-opt':
      return `${shown} changes the sandbox's security profile`;
    case 'group-add':
      return `${shown} adds the sandbox user to more groups (such as the Docker socket's)`;
    case 'sysctl':
      return `${shown} changes kernel parameters of the sandbox`;
    case 'gpus':
      return `${shown} gives the sandbox the host's GPUs`;
    case 'publish':
    case 'publish-all':
      return value === 'false' ? undefined : `${shown}: publishing ports opens the sandbox to the network`;
    case 'use-api-socket':
      return value === 'false' ? undefined : `${shown} mounts the host's Docker socket, which gives full control of the host`;
    default:
      return undefined;
  }
}

function refuseRunArgs(runArgs: readonly string[], report: SettingsReport): void {
  for (const flag of parseRunArgs(runArgs)) {
    const reason = runFlagRefusal(flag);
    if (reason) report.refuse(['runArgs', flag.index], reason);
    else report.note(['runArgs', flag.index], `"${flag.text}" is not applied; Airlock sets the container's options itself`);
  }
}

/** The feature's short id: "ghcr.io/devcontainers/features/docker-in-docker:2" → "docker-in-docker". */
function featureName(id: string): string {
  const last = id.split('/').pop() ?? id;
  return last.split(/[:@]/)[0].replace(/\.tgz$/, '').toLowerCase();
}

function featureRefusal(id: string): string {
  const name = featureName(id);
  if (name === 'docker-in-docker') return `${name} needs privileged mode, which removes the sandbox's isolation; also, ${FEATURE_SCRIPTS}`;
  if (name === 'docker-outside-of-docker' || name === 'docker-from-docker') return `${name} needs the host's Docker socket, which gives full control of the host; also, ${FEATURE_SCRIPTS}`;
  return FEATURE_SCRIPTS;
}

type DevcontainerFields = z.output<typeof devcontainerSchema>;

/** The fields only a devcontainer.json has that would widen the sandbox or act on the host. */
function refuseFileFields(config: DevcontainerFields, report: SettingsReport): void {
  if (config.initializeCommand !== undefined) report.refuse(['initializeCommand'], 'runs on the host, outside any sandbox');
  if (config.workspaceMount !== undefined) report.refuse(['workspaceMount'], `mounts a host folder; the task works on a private copy of the workspace at ${CONTAINER_WORKSPACE}, never a mount`);
  refuseRunArgs(config.runArgs ?? [], report);
  if (config.appPort !== undefined) report.refuse(['appPort'], `publishing ports (${[config.appPort].flat().join(', ')}) opens the sandbox to the network`);
  for (const field of ['dockerComposeFile', 'service', 'runServices'] as const) if (config[field] !== undefined) report.refuse([field], COMPOSE_REASON);
  for (const id of Object.keys(config.features ?? {})) report.refuse(['features', id], featureRefusal(id));
  for (const [field, text] of Object.entries(FILE_NOTES)) if (config[field] !== undefined) report.note([field], text);
}

/** The real location of a path: symlinks resolved along the longest part that exists; undefined for a dangling symlink. */
function realLocation(target: string): string | undefined {
  const rest: string[] = [];
  for (let current = target; ; current = path.dirname(current)) {
    try {
      return path.join(fs.realpathSync.native(current), ...rest);
    } catch {
      try {
        fs.lstatSync(current);
        return undefined; // it exists but does not resolve: a dangling or looping symlink
      } catch {
        // does not exist; look at its parent
      }
      if (path.dirname(current) === current) return target;
      rest.unshift(path.basename(current));
    }
  }
}

function isInside(target: string, root: string): boolean {
  const realTarget = realLocation(target);
  if (realTarget === undefined) return false;
  const relative = path.relative(realLocation(root) ?? root, realTarget);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

interface ImageSource {
  image?: string;
  build?: DevcontainerBuild;
}

/** How the image is got: a Dockerfile build (paths relative to the devcontainer.json's folder, inside the workspace) or a named image. */
function readImageSource(config: DevcontainerFields, file: string, workspace: string, report: SettingsReport, raise: (field: FieldPath, message: string) => never): ImageSource {
  const workspaceName = path.basename(workspace);
  const dockerfileField: FieldPath | undefined = config.build?.dockerfile !== undefined ? ['build', 'dockerfile'] : config.dockerFile !== undefined ? ['dockerFile'] : undefined;
  const contextField: FieldPath = config.build?.context !== undefined ? ['build', 'context'] : config.context !== undefined ? ['context'] : dockerfileField?.[0] === 'build' ? ['build', 'context'] : ['context'];
  for (const key of Object.keys(config.build ?? {})) {
    if (BUILD_NOTES[key] !== undefined) report.note(['build', key], BUILD_NOTES[key]);
    else if (!(key in buildSchema.shape)) report.unknown(['build', key]);
  }
  if (config.build?.dockerfile !== undefined && config.dockerFile !== undefined) report.note(['dockerFile'], 'ignored; build.dockerfile is used');
  if (config.build?.context !== undefined && config.context !== undefined) report.note(['context'], 'ignored; build.context is used');

  if (dockerfileField === undefined) {
    if (config.build !== undefined && config.image === undefined) raise(['build'], 'a "dockerfile" is needed to build (or use "image" instead of "build")');
    if (config.build !== undefined) report.note(['build'], 'ignored; it names no dockerfile, so the image is used');
    if (config.context !== undefined) report.note(['context'], 'ignored; it applies only to a Dockerfile build');
    if (config.image === undefined || report.isRefused(['image'])) return {};
    return { image: keptValue(config.image, ['image'], report, workspaceName) };
  }
  if (config.image !== undefined) report.note(['image'], 'ignored; the Dockerfile in "build" is built instead');

  // Host-side paths: the host workspace path is fine here, it never enters the sandbox.
  const hostPath = (text: string) => path.resolve(path.dirname(file), substitute(text.replaceAll('${localWorkspaceFolder}', workspace), workspaceName));
  const dockerfile = hostPath((config.build?.dockerfile ?? config.dockerFile)!);
  const context = hostPath(config.build?.context ?? config.context ?? '.');
  for (const [field, resolved] of [
    [dockerfileField, dockerfile],
    [contextField, context],
  ] as const) {
    if (report.isRefused(field) || isInside(resolved, workspace)) continue;
    const real = realLocation(resolved);
    const shown = real === undefined ? `${resolved} (a symlink that does not resolve)` : real === resolved ? resolved : `${resolved} (really ${real})`;
    report.refuse(field, `resolves to ${shown}, outside the workspace; Airlock builds only from files inside the workspace`);
  }
  if ([dockerfileField, contextField, ['build', 'target']].some((field) => report.isRefused(field))) return {};

  const args: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.build?.args ?? {})) {
    if (!report.isRefused(['build', 'args', name])) args[name] = keptValue(value, ['build', 'args', name], report, workspaceName);
  }
  const build: DevcontainerBuild = { context, dockerfile, args };
  if (config.build?.target !== undefined) build.target = keptValue(config.build.target, ['build', 'target'], report, workspaceName);
  return { build };
}

/**
 * Reads a devcontainer.json. Syntax and type errors throw a SourceFileError with line and column;
 * anything that would widen the sandbox is returned as a refusal (with its position) and its value
 * is left out of the plan; fields that do not apply to a sandbox are returned as notes.
 */
export function readDevcontainer(file: string, workspace: string): DevcontainerPlan {
  const absoluteFile = path.resolve(file);
  const root = path.resolve(workspace);
  // The repository's file: regular, inside the workspace, of a bounded size, checked before it is read.
  const document = readJsonc(absoluteFile, { maxBytes: UNTRUSTED_LIMITS.policyFile, within: root });
  const result = validateDocument(document, devcontainerSchema);
  if (!result.ok) throw new SourceFileError(absoluteFile, result.problems);
  const config = result.value;
  const report = new SettingsReport([], (at) => locate(document, at, { key: true }));
  const raise = (field: FieldPath, message: string): never => {
    throw new SourceFileError(absoluteFile, [{ field: field.join('.'), message, ...locate(document, field, { key: true }) }]);
  };

  const entry = readSettingsEntry(config, report, path.basename(root));
  refuseFileFields(config, report);
  refuseHostWorkspacePath(config, [['image'], ['build', 'args'], ['build', 'target']], report);
  const source = readImageSource(config, absoluteFile, root, report, raise);
  for (const key of Object.keys(config)) if (!(key in devcontainerSchema.shape)) report.unknown([key]);

  const settings = mergeSettings([entry], [report]);
  settings.refusals.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { file: absoluteFile, ...source, ...settings };
}
