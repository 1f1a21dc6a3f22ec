import type { GateOptions } from '../gate/commandGate.js';
import { throwIfAborted } from '../ground/errors.js';
import { type OnProgress, progressDone, weightedProgress } from '../ground/progress.js';
import type { MachineFloor } from '../policy/policyLayers.js';
import { policyForWorkspace, type WorkspacePolicyState } from '../policy/policyLoader.js';
import type { PolicyLayer } from '../policy/policySchema.js';
import { type TaskOverrides, taskInputFromPolicy, type WarningDetails } from '../policy/policyTask.js';
import type { TaskRecord } from '../state/taskRecord.js';
import type { TaskService } from '../task/taskService.js';

/** What a front end asks for when it starts a task for a workspace. */
export interface WorkspaceTaskRequest {
  workspace: string;
  /** The front end's own layer (flags, settings): only what the user set, still bounded by stricter layers. */
  userLayer: PolicyLayer;
  /** Task options the policy file does not hold (read-only root, tmpfs workspace, git depth …). */
  overrides?: TaskOverrides;
  /** Workspace trust: an untrusted workspace never gets the repository's loosenings, accepted or not. */
  trusted: boolean;
  defaultImage: string;
  /** Floors from the front end's machine-scoped settings, on top of the machine's policy files. */
  extraFloors?: MachineFloor[];
  env?: NodeJS.ProcessEnv;
}

/** The merged policy a start would use, for the front end to show (and offer Accept) before anything runs. */
export interface WorkspaceTaskPlan {
  request: WorkspaceTaskRequest;
  policy: WorkspacePolicyState;
}

export interface WorkspaceTaskOptions {
  signal?: AbortSignal;
  /** Every step of the start, the devcontainer build included, with the whole start's `fraction`. */
  onProgress?: OnProgress;
  /** Something the user should read before the task runs: ignored loosenings, stripped devcontainer fields. */
  onWarning?: (message: string, details?: WarningDetails) => void;
  /** Output of setup commands, as it comes. */
  onSetupOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** A gated setup command (from a repository policy nobody accepted) is waiting for a reviewer. */
  onWaiting?: GateOptions['onWaiting'];
}

/**
 * How much of a start each step is, roughly, on this kind of machine: copying the workspace
 * dominates, a devcontainer build (when there is one) even more. Only for the progress bar.
 */
const START_WEIGHTS = { building: 40, pulling: 10, listing: 4, history: 4, creating: 4, copying: 50, recording: 2, starting: 2, gateway: 2, setup: 20 } as const;

/** Reads the workspace's policy layers (machine floors, repository file and its acceptance, the user's layer). */
export function planWorkspaceTask(stateDir: string, request: WorkspaceTaskRequest): WorkspaceTaskPlan {
  const policy = policyForWorkspace({
    workspace: request.workspace,
    stateDir,
    user: request.userLayer,
    trusted: request.trusted,
    defaultImage: request.defaultImage,
    extraFloors: request.extraFloors,
    env: request.env,
  });
  return { request, policy };
}

/**
 * Starts a task for a workspace, the one way every front end does it: the planned policy becomes
 * task options (building the devcontainer's Dockerfile without network when the policy says so),
 * then the task starts and runs its setup phase. All or nothing: a failure or an abort leaves no
 * container, volume or record behind.
 */
export async function startWorkspaceTask(service: TaskService, plan: WorkspaceTaskPlan, options: WorkspaceTaskOptions = {}): Promise<TaskRecord> {
  const { signal, onWarning, onSetupOutput, onWaiting } = options;
  // A build that will not happen must not hold the first 40% of the bar.
  const { building, ...withoutBuild } = START_WEIGHTS;
  const onProgress = weightedProgress(options.onProgress, plan.policy.effective.policy.build ? { building, ...withoutBuild } : withoutBuild);
  const { workspace, userLayer, overrides } = plan.request;
  const input = await taskInputFromPolicy(service.engine.docker, workspace, plan.policy, userLayer, overrides, { signal, onProgress, onWarning });
  throwIfAborted(signal);
  const record = await service.start(input, { signal, onProgress, onSetupOutput, onWaiting });
  progressDone(options.onProgress, { step: 'starting', message: `task ${record.id} is ready` });
  return record;
}
