import { TaskStore } from '../state/taskStore.js';
import { describeError } from '../ground/errors.js';
import { SourceFileError, type SourceProblem } from '../ground/jsoncFile.js';
import { refreshLiveRules } from './livePolicy.js';
import type { MachineFloor } from './policyLayers.js';
import { policyForWorkspace, type WorkspacePolicyState } from './policyLoader.js';
import type { PolicyLayer } from './policySchema.js';
import { policyFilesFor, type PolicyWatch, watchPolicyFiles } from './policyWatcher.js';

export interface PolicyReport {
  workspace: string;
  /** The policy a new task gets now: the latest valid one (the last good one while the file is invalid). */
  state?: WorkspacePolicyState;
  /** Set while a file is invalid: which file, and every problem with its position. */
  invalid?: { file: string; problems: SourceProblem[]; message: string };
  /** Running tasks of this workspace and whether their live rules could follow the file. */
  tasks: Array<{ id: string; error?: string }>;
}

export interface PolicyMonitorOptions {
  workspace: string;
  stateDir: string;
  trusted: () => boolean;
  user?: () => PolicyLayer;
  extraFloors?: () => MachineFloor[];
  defaultImage?: string;
  env?: NodeJS.ProcessEnv;
  onReport: (report: PolicyReport) => void;
}

/**
 * Follows one workspace's policy files for a long-running front end (the editor): re-validates on
 * every change, reports problems with positions, keeps the last good policy while a file is invalid,
 * and tightens the live rules of the workspace's running tasks at once.
 */
export class PolicyMonitor {
  private lastGood: WorkspacePolicyState | undefined;
  private watch: PolicyWatch | undefined;

  constructor(private readonly options: PolicyMonitorOptions) {}

  start(): PolicyReport {
    const report = this.check();
    const devcontainer = report.state?.repo?.policy.devcontainer?.path;
    this.watch = watchPolicyFiles(policyFilesFor(this.options.workspace, this.options.env, devcontainer), () => this.options.onReport(this.check()));
    return report;
  }

  check(): PolicyReport {
    const { workspace, stateDir, env } = this.options;
    const report: PolicyReport = { workspace, tasks: [] };
    try {
      this.lastGood = policyForWorkspace({ workspace, stateDir, trusted: this.options.trusted(), user: this.options.user?.(), extraFloors: this.options.extraFloors?.(), env, defaultImage: this.options.defaultImage });
    } catch (error) {
      const file = error instanceof SourceFileError ? error.file : workspace;
      report.invalid = { file, problems: error instanceof SourceFileError ? error.problems : [], message: describeError(error) };
    }
    report.state = this.lastGood;
    const store = new TaskStore(stateDir);
    for (const record of store.all()) {
      if (record.destroyedAt || record.workspace !== workspace) continue;
      const live = refreshLiveRules(store, record, env);
      report.tasks.push({ id: record.id, error: live.error });
    }
    return report;
  }

  async close(): Promise<void> {
    await this.watch?.close();
  }
}
