import { DEFAULT_IMAGE, DEFAULT_SECRET_FILE_PATTERNS } from '../config/taskOptions.js';
import { formatByteSize } from '../ground/byteSize.js';
import type { CommandSettings } from '../commands/commandSettings.js';
import { parseHostRule, type PhaseRules } from '../egress/egressRules.js';
import type { DevcontainerBuild, DevcontainerPlan, DevcontainerRefusal } from '../devcontainer/devcontainerPlan.js';
import type { PolicyLayer } from './policySchema.js';

/**
 * Built-in defaults < the repository's .airlock.json < the user's settings and flags, with machine
 * floors nothing loosens. For security-relevant fields the strictest layer wins; a repository may
 * tighten anything, and may loosen only what the user accepted (the exact digest of its policy).
 */
export type LayerName = 'default' | 'repo' | 'user' | 'machine';

export interface RepoInput {
  /** The .airlock.json path, as shown to people. */
  file: string;
  policy: PolicyLayer;
  devcontainer?: DevcontainerPlan;
  digest: string;
  /** The workspace is trusted and the user accepted exactly this digest. */
  accepted: boolean;
}

export interface MachineFloor {
  source: string;
  policy: PolicyLayer;
}

export interface ResolveInput {
  repo?: RepoInput;
  user?: PolicyLayer;
  machine?: readonly MachineFloor[];
  /** The image when no layer names one ($AIRLOCK_IMAGE or the built-in). */
  defaultImage?: string;
}

/** One row of "who set what": a field (or one entry of a list field), its value and its layer. */
export interface SourceRow {
  field: string;
  value: string;
  layer: LayerName;
}

/** A part of the repository policy that loosens protection. */
export interface Loosening {
  field: string;
  value: string;
  why: string;
}

export interface SetupCommand {
  command: string;
  /** Where it came from, e.g. "setupCommands.0" or "devcontainer.postCreateCommand". */
  field: string;
  layer: LayerName;
  /** Passes the command rules (and waits for a reviewer on ask): set for an unaccepted repository's commands. */
  gate: boolean;
}

export interface ResolvedPolicy {
  image: string;
  build?: DevcontainerBuild;
  /** A devcontainer user name, resolved to a uid against the image when the task starts. */
  imageUser?: string;
  resources: { cpus: number; memory: number; pids: number; ttlSeconds: number; runtime: 'runc' | 'runsc' };
  user?: string;
  allowRoot: boolean;
  network: { setup: PhaseRules; agent: PhaseRules; ask: boolean; approvalTimeoutSeconds: number };
  setupCommands: SetupCommand[];
  commands: CommandSettings;
  env: { passthrough: string[]; set: Record<string, string>; allowSecret: string[] };
  secretFilePatterns: string[];
  riskyPaths: string[];
  devcontainerRefusals: 'error' | 'strip';
}

export interface EffectivePolicy {
  policy: ResolvedPolicy;
  sources: SourceRow[];
  /** Every loosening part of the repository policy: what accepting it allows. */
  loosenings: Loosening[];
  /** Loosening parts left out because the policy is not accepted (empty once accepted). */
  ignored: Loosening[];
  /** Refused devcontainer fields: errors under onRefused "error", stripped with a warning under "strip". */
  refusals: DevcontainerRefusal[];
  /** Things a person should know: a stricter layer won, a machine floor capped a value. */
  notes: string[];
}

export const BUILTIN_LIMITS = { cpus: 2, memory: 2 * 1024 ** 3, pids: 512, ttlSeconds: 4 * 3600 } as const;
const BUILTIN_NETWORK_APPROVAL_SECONDS = 120;
const BUILTIN_COMMAND_APPROVAL_SECONDS = 600;

const canonicalHost = (text: string) => parseHostRule(text).text;
const canonicalDeny = (text: string) => (text.includes('/') ? text : canonicalHost(text));
const same = (text: string) => text;

/** Collects provenance, loosenings and notes while the fields are merged one by one. */
class Merger {
  readonly sources: SourceRow[] = [];
  readonly loosenings: Loosening[] = [];
  readonly ignored: Loosening[] = [];
  readonly notes: string[] = [];

  constructor(
    private readonly accepted: boolean,
    private readonly machine: readonly MachineFloor[],
  ) {}

  source(field: string, value: unknown, layer: LayerName): void {
    this.sources.push({ field, value: typeof value === 'string' ? value : JSON.stringify(value), layer });
  }

  /** Records a loosening part of the repository policy; true when it may apply (accepted). */
  loosen(field: string, value: string, why: string): boolean {
    const loosening = { field, value, why };
    this.loosenings.push(loosening);
    if (!this.accepted) this.ignored.push(loosening);
    return this.accepted;
  }

  /** Values each machine floor sets for a field, with the floor's name. */
  floors<T>(pick: (policy: PolicyLayer) => T | undefined): Array<{ source: string; value: T }> {
    return this.machine.flatMap((floor) => {
      const value = pick(floor.policy);
      return value === undefined ? [] : [{ source: floor.source, value }];
    });
  }

  /** An upper limit: the smallest value any layer sets wins; a repository's larger value needs acceptance. */
  limit(field: string, builtin: number, user: number | undefined, repo: number | undefined, machine: (policy: PolicyLayer) => number | undefined, format: (value: number) => string = String): number {
    let value = user ?? builtin;
    let layer: LayerName = user === undefined ? 'default' : 'user';
    if (repo !== undefined) {
      if (repo <= value && (repo < value || user === undefined)) {
        value = repo;
        layer = 'repo';
      } else if (user !== undefined) {
        if (repo > user) this.notes.push(`${field}: the repository asks for ${format(repo)}; your ${format(user)} is stricter and applies`);
      } else if (this.loosen(field, format(repo), `raises the built-in ${format(builtin)}`)) {
        value = repo;
        layer = 'repo';
      }
    }
    for (const floor of this.floors(machine)) {
      if (floor.value < value) {
        this.notes.push(`${field}: ${format(value)} is above the machine limit ${format(floor.value)} (${floor.source}); ${format(floor.value)} applies`);
        value = floor.value;
        layer = 'machine';
      }
    }
    this.source(field, format(value), layer);
    return value;
  }

  /** A later layer replaces an earlier one (image, timeouts); a machine floor replaces all. */
  precedence<T>(field: string, builtin: T, user: T | undefined, repo: T | undefined, machine: (policy: PolicyLayer) => T | undefined): T {
    const floors = this.floors(machine);
    const [value, layer]: [T, LayerName] = floors.length ? [floors[floors.length - 1].value, 'machine'] : user !== undefined ? [user, 'user'] : repo !== undefined ? [repo, 'repo'] : [builtin, 'default'];
    this.source(field, value, layer);
    return value;
  }

  /**
   * A list that grants something (allowed hosts, allow rules, passed-through variables): the user's
   * entries, plus the repository's when accepted; a machine floor that sets the list is a ceiling.
   */
  grants(field: string, user: readonly string[] | undefined, repo: readonly string[] | undefined, machine: (policy: PolicyLayer) => readonly string[] | undefined, why: string, canonical: (text: string) => string = same): string[] {
    const entries = new Map<string, LayerName>();
    for (const text of user ?? []) entries.set(canonical(text), 'user');
    const asked = new Set<string>();
    for (const text of repo ?? []) {
      const value = canonical(text);
      if (entries.has(value) || asked.has(value)) continue;
      asked.add(value);
      if (this.loosen(field, value, why)) entries.set(value, 'repo');
    }
    for (const floor of this.floors(machine)) {
      const ceiling = new Set(floor.value.map(canonical));
      for (const value of [...entries.keys()]) {
        if (ceiling.has(value)) continue;
        entries.delete(value);
        this.notes.push(`${field}: ${value} is not in the machine policy's list (${floor.source}); left out`);
      }
    }
    for (const [value, layer] of entries) this.source(field, value, layer);
    return [...entries.keys()];
  }

  /** A list that restricts (deny and ask rules, secret patterns, risky paths): every layer's entries apply. */
  restrictions(field: string, layers: Array<[LayerName, readonly string[] | undefined]>, canonical: (text: string) => string = same): string[] {
    const entries = new Map<string, LayerName>();
    for (const [layer, list] of layers) for (const text of list ?? []) if (!entries.has(canonical(text))) entries.set(canonical(text), layer);
    for (const [value, layer] of entries) this.source(field, value, layer);
    return [...entries.keys()];
  }

  /**
   * A switch whose `true` loosens (allowRoot, network.ask): true only when a trusted layer turns it
   * on and no layer turns it off.
   */
  looseningSwitch(field: string, user: boolean | undefined, repo: boolean | undefined, machine: (policy: PolicyLayer) => boolean | undefined, why: string): boolean {
    const off = this.floors(machine).find((floor) => floor.value === false);
    let value = false;
    let layer: LayerName = 'default';
    if (user === true) [value, layer] = [true, 'user'];
    else if (repo === true && user === undefined && this.loosen(field, 'true', why)) [value, layer] = [true, 'repo'];
    if (value && repo === false) {
      this.notes.push(`${field}: the repository turns this off, and the stricter setting applies`);
      [value, layer] = [false, 'repo'];
    }
    if (value && user === false) [value, layer] = [false, 'user'];
    if (value && off) {
      this.notes.push(`${field}: the machine policy (${off.source}) turns this off`);
      [value, layer] = [false, 'machine'];
    }
    this.source(field, String(value), layer);
    return value;
  }

  /** A choice where one value is stricter (runsc, commands.default ask): any layer can pick it. */
  strictChoice<T extends string>(field: string, builtin: T, strict: T, values: Array<[LayerName, T | undefined]>): T {
    const chosen = values.find(([, value]) => value === strict);
    if (chosen) {
      this.source(field, strict, chosen[0]);
      return strict;
    }
    const set = values.find(([, value]) => value !== undefined);
    this.source(field, set ? set[1]! : builtin, set ? set[0] : 'default');
    return set ? set[1]! : builtin;
  }
}

const isRoot = (user: string | undefined) => user !== undefined && (user === 'root' || /^0+(:\d+)?$/.test(user) || user.startsWith('root:'));

/** Merges the layers into the policy a new task gets, with who set each field and what was left out. */
export function resolvePolicy(input: ResolveInput): EffectivePolicy {
  const repo = input.repo?.policy ?? {};
  const user = input.user ?? {};
  const dev = input.repo?.devcontainer;
  const merge = new Merger(input.repo?.accepted ?? false, input.machine ?? []);
  const layersOf = <T>(pick: (policy: PolicyLayer) => T | undefined): Array<[LayerName, T | undefined]> => [
    ...merge.floors(pick).map((floor): [LayerName, T | undefined] => ['machine', floor.value]),
    ['user', pick(user)],
    ['repo', pick(repo)],
  ];

  // Image: an explicit image beats the devcontainer; building the repository's Dockerfile runs its
  // RUN steps as root with the engine's default capabilities (without network), so it needs acceptance.
  let image = input.defaultImage ?? DEFAULT_IMAGE;
  let imageLayer: LayerName = 'default';
  let build: DevcontainerBuild | undefined;
  if (user.image) [image, imageLayer] = [user.image, 'user'];
  else if (repo.image) [image, imageLayer] = [repo.image, 'repo'];
  else if (dev?.image) [image, imageLayer] = [dev.image, 'repo'];
  else if (dev?.build && merge.loosen('devcontainer.build', dev.build.dockerfile, "builds the repository's Dockerfile: its RUN steps run as root with the engine's default capabilities (no network)")) {
    build = dev.build;
    imageLayer = 'repo';
  }
  // The devcontainer's user name belongs to its image: without that image it means nothing.
  const devImageUsed = !user.image && !repo.image && Boolean(dev?.image || build);
  if ((user.image || repo.image) && (dev?.image || dev?.build)) merge.notes.push(`image: ${image} is used; the devcontainer's ${dev.image ? 'image' : 'build'} is not`);
  merge.source('image', build ? `build ${build.dockerfile}` : image, imageLayer);

  const resources = {
    cpus: merge.limit('resources.cpus', BUILTIN_LIMITS.cpus, user.resources?.cpus, repo.resources?.cpus, (policy) => policy.resources?.cpus),
    memory: merge.limit('resources.memory', BUILTIN_LIMITS.memory, user.resources?.memory, repo.resources?.memory, (policy) => policy.resources?.memory, formatByteSize),
    pids: merge.limit('resources.pids', BUILTIN_LIMITS.pids, user.resources?.pids, repo.resources?.pids, (policy) => policy.resources?.pids),
    ttlSeconds: merge.limit('resources.ttlSeconds', BUILTIN_LIMITS.ttlSeconds, user.resources?.ttlSeconds, repo.resources?.ttlSeconds, (policy) => policy.resources?.ttlSeconds),
    runtime: merge.strictChoice('resources.runtime', 'runc', 'runsc', layersOf((policy) => policy.resources?.runtime)),
  };

  // The user: an explicit uid (user first) beats the devcontainer's user name; root needs allowRoot.
  const devUser = devImageUsed ? (dev?.remoteUser ?? dev?.containerUser) : undefined;
  const explicitUser = user.user ?? repo.user;
  const wantsRootFromRepo = (user.user === undefined && isRoot(repo.user)) || (explicitUser === undefined && isRoot(devUser));
  const allowRoot = merge.looseningSwitch('allowRoot', user.allowRoot, repo.allowRoot ?? (wantsRootFromRepo ? true : undefined), (policy) => policy.allowRoot, 'lets the sandbox run as root (uid 0)');
  let sandboxUser = explicitUser;
  let imageUser = explicitUser === undefined ? devUser : undefined;
  if (user.user === undefined && isRoot(repo.user) && !allowRoot) sandboxUser = undefined;
  if (imageUser !== undefined && isRoot(imageUser) && !allowRoot) imageUser = undefined;
  if (sandboxUser !== undefined) merge.source('user', sandboxUser, user.user !== undefined ? 'user' : 'repo');
  else if (imageUser !== undefined) merge.source('user', imageUser, 'repo');
  else merge.source('user', '1000:1000', 'default');

  const phase = (name: 'setup' | 'agent'): PhaseRules => ({
    allow: merge.grants(`network.${name}.allow`, user.network?.[name]?.allow, repo.network?.[name]?.allow, (policy) => policy.network?.[name]?.allow, `lets the ${name} phase reach a new host`, canonicalHost),
    allowCidr: merge.grants(`network.${name}.allowCidr`, user.network?.[name]?.allowCidr, repo.network?.[name]?.allowCidr, (policy) => policy.network?.[name]?.allowCidr, `lets the ${name} phase reach a new address range`),
    deny: merge.restrictions(`network.${name}.deny`, layersOf((policy) => [...(policy.network?.deny ?? []), ...(policy.network?.[name]?.deny ?? [])]), canonicalDeny),
  });
  const network = {
    setup: phase('setup'),
    agent: phase('agent'),
    ask: merge.looseningSwitch('network.ask', user.network?.ask, repo.network?.ask, (policy) => policy.network?.ask, 'turns unknown destinations into approval requests instead of refusals'),
    approvalTimeoutSeconds: merge.precedence('network.approvalTimeoutSeconds', BUILTIN_NETWORK_APPROVAL_SECONDS, user.network?.approvalTimeoutSeconds, repo.network?.approvalTimeoutSeconds, (policy) => policy.network?.approvalTimeoutSeconds),
  };

  const commands: CommandSettings = {
    allow: merge.grants('commands.allow', user.commands?.allow, repo.commands?.allow, (policy) => policy.commands?.allow, 'lets a command run without asking (built-in gates still apply)'),
    ask: merge.restrictions('commands.ask', layersOf((policy) => policy.commands?.ask)),
    deny: merge.restrictions('commands.deny', layersOf((policy) => policy.commands?.deny)),
    default: merge.strictChoice('commands.default', 'allow', 'ask', layersOf((policy) => policy.commands?.default)),
    approvalTimeoutSeconds: merge.precedence('commands.approvalTimeoutSeconds', BUILTIN_COMMAND_APPROVAL_SECONDS, user.commands?.approvalTimeoutSeconds, repo.commands?.approvalTimeoutSeconds, (policy) => policy.commands?.approvalTimeoutSeconds),
  };

  const set: Record<string, string> = {};
  for (const [layer, values] of [['repo', dev?.containerEnv], ['repo', repo.env?.set], ['user', user.env?.set]] as const) {
    for (const [name, value] of Object.entries(values ?? {})) set[name] = value;
    for (const name of Object.keys(values ?? {})) merge.source(`env.set.${name}`, '(value)', layer);
  }
  const env = {
    passthrough: merge.grants('env.passthrough', user.env?.passthrough, repo.env?.passthrough, (policy) => policy.env?.passthrough, 'copies a host variable into the sandbox'),
    set,
    allowSecret: merge.grants('env.allowSecret', user.env?.allowSecret, repo.env?.allowSecret, (policy) => policy.env?.allowSecret, 'lets a secret-looking variable into the sandbox'),
  };

  // gitignore syntax: the last matching pattern wins, so copies-anyway come after the exclusions and
  // the machine's own exclusions come last, where nothing can copy them back.
  // the user's and the machine's own exclusions come last, where a repository's include cannot copy them back.
  const repoExcluded = merge.restrictions('secretFiles.exclude', [['repo', repo.secretFiles?.exclude]]);
  const included = merge.grants('secretFiles.include', user.secretFiles?.include, repo.secretFiles?.include, (policy) => policy.secretFiles?.include, 'copies a file the secret patterns would leave out');
  const userExcluded = merge.restrictions('secretFiles.exclude', [['user', user.secretFiles?.exclude]]);
  const machineExcluded = merge.restrictions('secretFiles.exclude', merge.floors((policy) => policy.secretFiles?.exclude).map((floor): [LayerName, string[]] => ['machine', floor.value]));
  const secretFilePatterns = [...DEFAULT_SECRET_FILE_PATTERNS, ...repoExcluded, ...included.map((text) => `!${text}`), ...userExcluded, ...machineExcluded];

  const riskyPaths = merge.restrictions('riskyPaths', layersOf((policy) => policy.riskyPaths));

  const accepted = input.repo?.accepted ?? false;
  const setupCommands: SetupCommand[] = [
    ...(dev?.lifecycle ?? []).map((command) => ({ command: command.line, field: `devcontainer.${command.field}`, layer: 'repo' as const, gate: !accepted })),
    ...(repo.setupCommands ?? []).map((command, index) => ({ command, field: `setupCommands.${index}`, layer: 'repo' as const, gate: !accepted })),
    ...(user.setupCommands ?? []).map((command, index) => ({ command, field: `setupCommands.${index}`, layer: 'user' as const, gate: false })),
  ];
  for (const command of setupCommands) merge.source(command.field, command.command, command.layer);

  const devcontainerRefusals = merge.precedence('devcontainer.onRefused', 'error' as const, user.devcontainer?.onRefused, repo.devcontainer?.onRefused, (policy) => policy.devcontainer?.onRefused);
  const refusals = dev?.refusals ?? [];
  if (devcontainerRefusals === 'strip') for (const refusal of refusals) merge.notes.push(`devcontainer ${refusal.field}: left out (${refusal.reason})`);
  for (const note of dev?.notes ?? []) merge.notes.push(`devcontainer ${note}`);

  return {
    policy: { image, build, imageUser, resources, user: sandboxUser, allowRoot, network, setupCommands, commands, env, secretFilePatterns, riskyPaths, devcontainerRefusals },
    sources: merge.sources,
    loosenings: merge.loosenings,
    ignored: merge.ignored,
    refusals,
    notes: merge.notes,
  };
}
