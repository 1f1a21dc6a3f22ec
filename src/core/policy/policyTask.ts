import type Docker from 'dockerode';
import type { EgressSettingsInput } from '../egress/egressSettings.js';
import type { TaskOptionsInput } from '../config/taskOptions.js';
import { AirlockError, type ErrorAction, type ErrorCode, throwIfAborted } from '../ground/errors.js';
import type { OnProgress } from '../ground/progress.js';
import { printableLine } from '../ground/printable.js';
import { buildImage, buildTag } from '../devcontainer/imageBuild.js';
import { imageLabel, resolveImageUser } from '../devcontainer/imageInspect.js';
import { readImageMetadata } from '../devcontainer/imageMetadata.js';
import { type DevcontainerRefusal, refusalLine } from '../devcontainer/devcontainerPlan.js';
import type { WorkspacePolicyState } from './policyLoader.js';
import type { PolicyLayer } from './policySchema.js';

/** Task options the policy file does not hold; they come straight from the user's flags. */
export type TaskOverrides = Pick<TaskOptionsInput, 'readOnlyRoot' | 'tmpSize' | 'workspaceTmpfs' | 'gitDepth' | 'network' | 'mounts' | 'mirrorHostEdits'> & { egressLimits?: EgressSettingsInput['limits'] };

export interface PolicyTaskOptions {
  signal?: AbortSignal;
  /** When the policy builds a Dockerfile: the step `building` once, then each line of the builder's output (see `buildImage`). */
  onProgress?: OnProgress;
  /** Something the user should read before the task runs: ignored loosenings, stripped fields. */
  onWarning?: (message: string, details?: WarningDetails) => void;
}

/** What a warning is about, as data: front ends add their own words and controls from it. */
export interface WarningDetails {
  code: ErrorCode;
  actions?: readonly ErrorAction[];
}

/** The end of the first line of a `policy.loosensIgnored` warning, where a front end may say how to accept. */
export const UNTIL_ACCEPTED = 'which are ignored until you accept it:';

const DEVCONTAINER_LABEL = 'devcontainer.metadata';

function refuse(refusals: DevcontainerRefusal[], file: string): never {
  const lines = refusals.map((refusal) => `  ${refusalLine(refusal)}`);
  throw new AirlockError(
    `devcontainer: ${refusals.length} field${refusals.length === 1 ? '' : 's'} would widen the sandbox and ${refusals.length === 1 ? 'is' : 'are'} refused:\n${lines.join('\n')}`,
    {
      code: 'devcontainer.refused',
      hint: `Remove ${refusals.length === 1 ? 'it' : 'them'} from ${file}, or set "devcontainer": { "onRefused": "strip" } in .airlock.json to leave ${refusals.length === 1 ? 'it' : 'them'} out with a warning.`,
      field: `devcontainer.${refusals[0].field}`,
    },
  );
}

/**
 * Turns a workspace's merged policy into the options of one task: builds the devcontainer's
 * Dockerfile when accepted, takes the image's devcontainer metadata under the same refusals, and
 * resolves a user name to the uid the workspace copy is owned by. Nothing starts here.
 */
export async function taskInputFromPolicy(docker: Docker, workspace: string, state: WorkspacePolicyState, userLayer: PolicyLayer, overrides: TaskOverrides = {}, { signal, onProgress = () => undefined, onWarning = () => undefined }: PolicyTaskOptions = {}): Promise<TaskOptionsInput> {
  const { effective, repo } = state;
  const { policy } = effective;
  const devFile = repo?.devcontainer?.file ?? 'devcontainer.json';
  const strip = policy.devcontainerRefusals === 'strip';
  if (effective.refusals.length > 0 && !strip) refuse(effective.refusals, devFile);
  if (effective.ignored.length > 0) {
    onWarning(`${printableLine(repo?.file ?? '.airlock.json')} loosens these, ${UNTIL_ACCEPTED}\n${effective.ignored.map((item) => `  ${printableLine(item.field)}: ${printableLine(item.value)} (${printableLine(item.why)})`).join('\n')}`, {
      code: 'policy.loosensIgnored',
      actions: [{ kind: 'acceptPolicy', workspace }],
    });
  }
  // One line each: a repository value with a newline cannot forge a line of its own.
  for (const note of effective.notes) onWarning(printableLine(note));

  let image = policy.image;
  if (policy.build) {
    onProgress({ step: 'building', message: `building ${policy.build.dockerfile} (no network during the build)` });
    image = (await buildImage(docker, policy.build, { tag: buildTag(policy.build, workspace), memory: policy.resources.memory, signal, onProgress })).tag;
  }
  throwIfAborted(signal);

  // The image's own devcontainer metadata (features, base definitions) passes the same refusals.
  const env = { ...policy.env.set };
  let imageUser = policy.imageUser;
  const metadataCommands: Array<{ command: string; field: string; gate: boolean }> = [];
  const notes: string[] = [...effective.notes];
  if (repo?.devcontainer) {
    const label = await imageLabel(docker, image, DEVCONTAINER_LABEL).catch(() => undefined);
    const metadata = readImageMetadata(label);
    if (metadata.refusals.length > 0) {
      if (!strip) refuse(metadata.refusals, `the image ${image} (label ${DEVCONTAINER_LABEL})`);
      for (const refusal of metadata.refusals) onWarning(`image metadata ${refusal.field}: left out (${refusal.reason})`);
    }
    for (const [name, value] of Object.entries(metadata.containerEnv)) if (!(name in env)) env[name] = value;
    imageUser ??= policy.user === undefined ? (metadata.remoteUser ?? metadata.containerUser) : undefined;
    for (const command of metadata.lifecycle) metadataCommands.push({ command: command.line, field: `image ${command.field}`, gate: !state.accepted });
    notes.push(...metadata.notes.map((note) => `image metadata ${note}`));
  }

  let user = policy.user;
  if (user === undefined && imageUser !== undefined) {
    const { uid, gid } = await resolveImageUser(docker, image, imageUser, signal);
    if (uid === 0 && !policy.allowRoot) {
      const refusal = { field: 'remoteUser', reason: `"${imageUser}" is root; the sandbox runs as root only when allowRoot is set (and accepted, from a repository)` };
      if (!strip) refuse([refusal], devFile);
      onWarning(`devcontainer remoteUser: left out (${refusal.reason}); the task runs as 1000:1000`);
    } else user = `${uid}:${gid}`;
  }

  const setupCommands = [...metadataCommands, ...policy.setupCommands].map((entry) => (entry.gate ? { command: entry.command, field: entry.field, gate: true } : entry.command));
  const { network } = policy;
  return {
    workspace,
    image,
    runtime: policy.resources.runtime,
    ttlSeconds: policy.resources.ttlSeconds,
    memory: policy.resources.memory,
    cpus: policy.resources.cpus,
    pids: policy.resources.pids,
    user,
    allowRoot: policy.allowRoot,
    envPassthrough: policy.env.passthrough,
    env,
    allowSecretEnv: policy.env.allowSecret,
    secretFilePatterns: policy.secretFilePatterns,
    egress: { setup: network.setup, agent: network.agent, ask: network.ask, approvalTimeoutSeconds: network.approvalTimeoutSeconds, ...(overrides.egressLimits ? { limits: overrides.egressLimits } : {}) },
    commands: policy.commands,
    setupCommands,
    riskyPaths: policy.riskyPaths,
    policy: { file: repo?.file, digest: repo?.digest, accepted: state.accepted, trusted: state.trusted, user: userLayer, ignored: effective.ignored, notes },
    readOnlyRoot: overrides.readOnlyRoot,
    tmpSize: overrides.tmpSize,
    workspaceTmpfs: overrides.workspaceTmpfs,
    mirrorHostEdits: overrides.mirrorHostEdits,
    gitDepth: overrides.gitDepth,
    network: overrides.network,
    mounts: overrides.mounts,
  };
}
