import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AirlockError } from '../ground/errors.js';
import { readDevcontainer } from '../devcontainer/devcontainerFile.js';
import type { DevcontainerPlan } from '../devcontainer/devcontainerPlan.js';
import { readUntrustedFile, UNTRUSTED_LIMITS } from '../ground/untrustedFile.js';
import { asSourceFileError, type JsoncDocument, locate, SourceFileError, readJsoncIfPresent, type SourceProblem, validateDocument } from '../ground/jsoncFile.js';
import { type AcceptanceRecord, canonicalDigest, PolicyAcceptances } from './policyAcceptance.js';
import { type EffectivePolicy, type Loosening, type MachineFloor, resolvePolicy } from './policyLayers.js';
import { type PolicyLayer, policyFileSchema } from './policySchema.js';

export const POLICY_FILE = '.airlock.json';
/** Where an administrator puts the machine floor. */
export const SYSTEM_POLICY_FILE = '/etc/airlock/policy.json';

/** A machine floor bounds what tasks may do; it does not choose what they run or as whom. */
const NOT_IN_MACHINE_POLICY: Array<[string, (policy: PolicyLayer) => unknown]> = [
  ['image', (policy) => policy.image],
  ['devcontainer.path', (policy) => policy.devcontainer?.path],
  ['setupCommands', (policy) => policy.setupCommands],
  ['env.set', (policy) => policy.env?.set],
  ['user', (policy) => policy.user],
  ['commands.allow', (policy) => policy.commands?.allow],
];

export function loadMachineFloor(file: string): MachineFloor {
  const floor = loadMachineFloorIfPresent(file);
  if (!floor) throw new AirlockError(`${file} does not exist`, { code: 'policy.floorMissing', hint: 'Fix the path.', field: file });
  return floor;
}

/**
 * Administrators own these files, but they are read with the same checks as a repository's: a
 * floor that is a FIFO or a device must end in an error, not a hang or a full memory.
 */
function loadMachineFloorIfPresent(file: string): MachineFloor | undefined {
  const document = readJsoncIfPresent(file, { maxBytes: UNTRUSTED_LIMITS.policyFile });
  if (!document) return undefined;
  const value = validated(document);
  const problems: SourceProblem[] = NOT_IN_MACHINE_POLICY.filter(([, pick]) => pick(value) !== undefined).map(([field]) => ({
    field,
    message: 'a machine policy sets limits, not what tasks run or as whom; remove this field',
    ...locate(document, field.split('.')),
  }));
  if (problems.length) throw new SourceFileError(file, problems);
  return { source: file, policy: value };
}

function validated(document: JsoncDocument): PolicyLayer {
  const result = validateDocument(document, policyFileSchema);
  if (!result.ok) throw new SourceFileError(document.file, result.problems);
  return result.value;
}

/**
 * Every machine floor: the system file when it exists, plus files listed in AIRLOCK_MACHINE_POLICY
 * (which can only add floors, never remove the system one). A floor that cannot be read or parsed
 * stops everything: failing open would drop the administrator's limits (a dangling symlink at the
 * system file included: it is refused, not taken as "no floor").
 */
export function loadMachineFloors(env: NodeJS.ProcessEnv = process.env): MachineFloor[] {
  const files = (env.AIRLOCK_MACHINE_POLICY ?? '').split(path.delimiter).filter(Boolean);
  const floors: MachineFloor[] = [];
  const system = loadMachineFloorIfPresent(SYSTEM_POLICY_FILE);
  if (system) floors.push(system);
  for (const file of files) {
    const floor = loadMachineFloorIfPresent(path.resolve(file));
    if (!floor) throw new AirlockError(`AIRLOCK_MACHINE_POLICY: ${file} does not exist`, { code: 'policy.floorMissing', hint: 'Fix the path, or unset the variable.', field: 'AIRLOCK_MACHINE_POLICY' });
    floors.push(floor);
  }
  return floors;
}

export interface WorkspacePolicy {
  file: string;
  document: JsoncDocument;
  policy: PolicyLayer;
  devcontainer?: DevcontainerPlan;
  /** What acceptance is of: the policy's meaning (and its devcontainer's), not its formatting. */
  digest: string;
}

/**
 * The repository's policy file, validated; undefined when the workspace has none. Every file it
 * names is read as the repository's: a regular file inside the workspace, of a bounded size.
 */
export function loadWorkspacePolicy(workspace: string): WorkspacePolicy | undefined {
  const file = path.join(workspace, POLICY_FILE);
  const document = readJsoncIfPresent(file, { maxBytes: UNTRUSTED_LIMITS.policyFile, within: workspace });
  if (!document) return undefined;
  const value = validated(document);
  let devcontainer: DevcontainerPlan | undefined;
  if (value.devcontainer?.path) {
    const devFile = path.resolve(workspace, value.devcontainer.path);
    const where = locate(document, ['devcontainer', 'path']);
    if (!fs.existsSync(devFile)) throw new SourceFileError(file, [{ field: 'devcontainer.path', message: `${value.devcontainer.path} does not exist`, ...where }]);
    // Real paths on both sides: a symlink in the repository must not lead the read outside it.
    const relative = path.relative(fs.realpathSync(workspace), fs.realpathSync(devFile));
    if (relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
      throw new SourceFileError(file, [{ field: 'devcontainer.path', message: 'must be a file inside the workspace (symlinks included)', ...where }]);
    }
    devcontainer = readDevcontainer(devFile, workspace);
  }
  const positionless = devcontainer && { ...devcontainer, refusals: devcontainer.refusals.map(({ field, reason }) => ({ field, reason })) };
  // Accepting a build accepts its Dockerfile's RUN steps: a changed Dockerfile is a changed policy.
  const dockerfile = devcontainer?.build ? dockerfileDigest(devcontainer.build.dockerfile, workspace) : undefined;
  return { file, document, policy: value, devcontainer, digest: canonicalDigest({ policy: document.value, devcontainer: positionless, dockerfile }) };
}

/**
 * A missing Dockerfile digests as such and the build itself reports it; one that is not a regular
 * file inside the workspace, or is too large, is refused here, before anything reads it whole.
 */
function dockerfileDigest(file: string, workspace: string): string {
  let bytes: Buffer | undefined;
  try {
    bytes = readUntrustedFile(file, { maxBytes: UNTRUSTED_LIMITS.dockerfile, within: workspace });
  } catch (error) {
    throw asSourceFileError(file, error);
  }
  return bytes === undefined ? 'unreadable' : createHash('sha256').update(bytes).digest('hex');
}

export interface PolicyContext {
  workspace: string;
  stateDir: string;
  /** The user's own settings and flags: trusted, but still bounded by stricter layers. */
  user?: PolicyLayer;
  /** Workspace trust (VS Code's restricted mode says no); the CLI has no untrusted mode. */
  trusted: boolean;
  env?: NodeJS.ProcessEnv;
  /** Floors from elsewhere, e.g. VS Code's machine-scoped setting. */
  extraFloors?: MachineFloor[];
  defaultImage?: string;
}

export interface WorkspacePolicyState {
  effective: EffectivePolicy;
  repo?: WorkspacePolicy;
  floors: MachineFloor[];
  acceptance?: AcceptanceRecord;
  /** Trusted, and this exact repository policy was accepted. */
  accepted: boolean;
  trusted: boolean;
  /** Loosenings the last acceptance did not cover: what changed since the user said yes. */
  newLoosenings: Loosening[];
}

const sameLoosening = (a: Loosening, b: Loosening) => a.field === b.field && a.value === b.value;

/** Loads every layer for a workspace and merges them. Throws SourceFileError for an invalid file. */
export function policyForWorkspace(context: PolicyContext): WorkspacePolicyState {
  const floors = [...loadMachineFloors(context.env), ...(context.extraFloors ?? [])];
  const repo = loadWorkspacePolicy(context.workspace);
  return resolveWorkspace(context, floors, repo);
}

/** The merge once the files are loaded; also used when a file was read by a watcher. */
export function resolveWorkspace(context: PolicyContext, floors: MachineFloor[], repo: WorkspacePolicy | undefined): WorkspacePolicyState {
  const acceptance = repo ? new PolicyAcceptances(context.stateDir).get(context.workspace) : undefined;
  const accepted = Boolean(repo && context.trusted && acceptance?.digest === repo.digest);
  const effective = resolvePolicy({
    repo: repo && { file: repo.file, policy: repo.policy, devcontainer: repo.devcontainer, digest: repo.digest, accepted },
    user: context.user,
    machine: floors,
    defaultImage: context.defaultImage,
  });
  const newLoosenings = effective.loosenings.filter((loosening) => !acceptance?.loosenings.some((previous) => sameLoosening(previous, loosening)));
  return { effective, repo, floors, acceptance, accepted, trusted: context.trusted, newLoosenings };
}
