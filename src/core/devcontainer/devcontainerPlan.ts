/**
 * What Airlock takes from a devcontainer.json (and from the `devcontainer.metadata` label an image
 * carries): how to get the image, fixed environment values, the user, and the lifecycle commands.
 * Anything that would widen the sandbox is not taken; it is listed as a refusal, and the policy
 * decides whether a refusal stops the task (the default) or is stripped with a warning.
 */
export interface DevcontainerRefusal {
  /** Dotted field path, e.g. "runArgs.2", "mounts.0", "features.ghcr.io/devcontainers/features/docker-in-docker:2". */
  field: string;
  /** Why Airlock will not apply it, in words a reviewer understands. */
  reason: string;
  /** 1-based position in the file, when the refusal comes from a file (not from an image label). */
  line?: number;
  column?: number;
}

export type LifecycleField = 'onCreateCommand' | 'updateContentCommand' | 'postCreateCommand' | 'postStartCommand';

/** One lifecycle command as a shell line, run with `sh -c` in the setup phase, in spec order. */
export interface LifecycleCommand {
  /** Where it came from: "postCreateCommand", "postCreateCommand.npm", "metadata.1.onCreateCommand". */
  field: string;
  line: string;
}

export interface DevcontainerBuild {
  /** Absolute host path of the build context; always inside the workspace. */
  context: string;
  /** Absolute host path of the Dockerfile; always inside the workspace. */
  dockerfile: string;
  args: Record<string, string>;
  target?: string;
}

/** The parts a devcontainer.json or an image's metadata label contributes. */
export interface DevcontainerSettings {
  containerEnv: Record<string, string>;
  remoteUser?: string;
  containerUser?: string;
  lifecycle: LifecycleCommand[];
  refusals: DevcontainerRefusal[];
  /** Fields read but not applied because they do not concern a sandbox (e.g. customizations). */
  notes: string[];
}

export interface DevcontainerPlan extends DevcontainerSettings {
  /** Absolute path of the devcontainer.json. */
  file: string;
  image?: string;
  build?: DevcontainerBuild;
}

/** One line naming a refused field, where it is, and why: "capAdd.0 (line 12): adds …". */
export function refusalLine(refusal: DevcontainerRefusal): string {
  return `${refusal.field}${refusal.line ? ` (line ${refusal.line})` : ''}: ${refusal.reason}`;
}
