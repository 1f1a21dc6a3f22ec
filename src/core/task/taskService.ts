import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { buildSandboxEnv } from '../config/sandboxEnv.js';
import { parseTaskOptions, type TaskOptions, type TaskOptionsInput } from '../config/taskOptions.js';
import { type EngineConnection } from '../engine/locateEngine.js';
import { type EngineFlavor, engineFlavor } from '../engine/engineFlavor.js';
import { containerInspectSchema, containerSummarySchema, engineInfoSchema, imageInspectSchema, volumeListSchema } from '../engine/engineSchemas.js';
import { AirlockError, throwIfAborted } from '../ground/errors.js';
import { DockerExecBackend } from '../exec/dockerExecBackend.js';
import type { ExecBackend, ExecBackendName, ExecRequest, ExecResult } from '../exec/execTypes.js';
import { SupervisorBackend, SupervisorUnavailable } from '../exec/supervisorBackend.js';
import { listingBytes, packSnapshot } from '../snapshot/snapshotPacker.js';
import { buildGitMetadata, type GitMetadata } from '../snapshot/gitMetadata.js';
import { writeManifest, type SnapshotManifest } from '../snapshot/snapshotManifest.js';
import { deltaTooLarge, FILL_STREAMS, identifyListing, joinParts, splitListing, identitiesRecord, listingBytesOf, planDelta, WorkspaceBases, type BaseIndex, type DeltaPlan, type FileIdentity, type LoadedBase } from '../snapshot/workspaceBase.js';
import type { WorkspaceListing } from '../snapshot/workspaceListing.js';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BASE_LABEL, basePath, createBaseVolume, HOST_LABEL, STATE_LABEL, createLayerVolume, fillVolume, layerVolumeName, type WorkspaceLayers } from './workspaceLayers.js';
import { assertWorkspaceFolder, listWorkspace } from '../snapshot/workspaceListing.js';
import { assertEngineSupports, buildContainerSpec, sandboxIds } from './containerSpec.js';
import { assertPodmanCanLimit, podmanHost } from '../engine/podmanHost.js';
import { type HostRlimits, hostRlimits, isRlimitRefusal, podmanRlimitError } from '../engine/podmanLimits.js';
import type { OnProgress } from '../ground/progress.js';
import { taskStatus, unrecordedEnd, type TaskStatus } from './taskStatus.js';
import { WORKSPACE_PATH } from '../ground/sandboxPaths.js';
import { controlRequest, type ControlReply } from '../egress/gatewayControl.js';
import type { GatewayLauncher } from '../egress/gatewayLauncher.js';
import type { NetworkPhase } from '../egress/egressRules.js';
import { proxyEnv } from '../egress/egressSettings.js';
import { printableLine } from '../ground/printable.js';
import { ApplyJournal } from '../changes/applyJournal.js';
import { releaseReviewState } from '../changes/blobRetention.js';
import { captureFolderInodes } from '../changes/workspaceScanner.js';
import { CommandRefused, gateCommand, type GateOptions } from '../gate/commandGate.js';
import { EXPIRES_LABEL, TASK_LABEL, type TaskRecord } from '../state/taskRecord.js';
import type { TaskStore } from '../state/taskStore.js';
import { describeEndpoint } from '../engine/engineEndpoint.js';
import { engineAnswers, engineStopsUnder, engineUnreachableError, isEngineUnreachable } from '../engine/engineReachability.js';
import { shortChangeSetId } from '../changes/changeSet.js';
import { ChangeSetStore } from '../changes/changeSetStore.js';
import { clearEngineLoss, ENGINE_WENT_AWAY, engineLoss, forgetKeptReviewState, hasEngineLoss, keepReviewState, noteEngineLoss, reattachSpec, reviewStateKept, workspaceCanSurvive } from './engineRestart.js';

export interface TaskServiceOptions {
  /** How this front end brings up a task's egress gateway; without one, allowlist tasks are refused. */
  gateway?: GatewayLauncher;
  /** false: every task gets a whole copy in a fresh volume, never an overlay over the workspace's base. */
  layers?: boolean;
}

/** The engine could not give the task an overlay over its base; the caller starts it with a whole copy instead. */
class LayersUnavailable extends Error {
  constructor(cause: unknown) {
    super('the workspace could not be layered', { cause });
  }
}

interface LayeredCopy {
  id: string;
  image: string;
  user: string;
  key: string;
  bases: WorkspaceBases;
  /** The base this task stands on, with what it adds; absent: a fresh base is filled first. */
  base?: LoadedBase;
  plan?: DeltaPlan;
  listing: WorkspaceListing;
  identities: ReadonlyMap<string, FileIdentity>;
  readAtNs: string;
  gitMeta?: GitMetadata;
  layers: WorkspaceLayers;
  uid: number;
  gid: number;
  manifestFile: string;
  contentFile: string;
  onCopied: (files: number, bytes: number) => void;
  signal?: AbortSignal;
}

export interface StartOptions {
  signal?: AbortSignal;
  /** Each step of the start (pulling, creating, listing, copying with bytes and files, setup commands …). */
  onProgress?: OnProgress;
  hostEnv?: NodeJS.ProcessEnv;
  /** Output of setup commands, as it comes. */
  onSetupOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** A gated setup command (from a repository policy nobody accepted) is waiting for a reviewer. */
  onWaiting?: GateOptions['onWaiting'];
}

export interface CommandRequest extends Omit<ExecRequest, 'cwd' | 'env'> {
  /** Relative paths are taken from /workspace. */
  cwd?: string;
  env?: Record<string, string>;
  backend?: 'auto' | ExecBackendName;
  /**
   * The command line as the agent or person typed it, when `argv` is the wrapper that runs it (a
   * shell's `-c` with Airlock's own prelude): the gate judges this line and the audit records it,
   * so the wrapper never hides or stands in for what was asked.
   */
  line?: string;
  /**
   * Airlock's own read of what a command left behind (the folder a shell line ended in): neither
   * gated nor audited, because nobody asked for it. Never for a command an agent or person gave.
   */
  bookkeeping?: boolean;
  /**
   * How the command policy reaches the caller: a refused command throws CommandRefused, a gated one
   * waits for a reviewer. `false` only for Airlock's own commands (setup commands the user gave at start).
   */
  gate?: GateOptions | false;
}

export interface GcReport {
  containers: string[];
  volumes: string[];
  /** Tasks this run ended because their TTL had passed. */
  records: string[];
  /** Ended tasks whose whole host folder (record, audit log, change data) this run deleted. */
  pruned: string[];
}

export interface GcOptions {
  /** How long an ended task's record stays (and with it `undo`); 0 prunes every ended record. */
  keepEndedMs?: number;
}

/** A week: long enough to undo an apply after a weekend, short enough that records do not pile up. */
export const DEFAULT_RECORD_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

const newTaskId = () => randomBytes(6).toString('hex');

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

/** A task is alive when its container is; the record on the host outlives it for audit. */
export class TaskService {
  private readonly backends = new Map<string, Promise<ExecBackend>>();
  private readonly reattaching = new Map<string, Promise<TaskRecord>>();
  private layersUnavailable = false;
  private podmanNoted = false;

  constructor(
    readonly engine: EngineConnection,
    readonly store: TaskStore,
    private readonly warn: (message: string) => void = () => undefined,
    private readonly serviceOptions: TaskServiceOptions = {},
  ) {}

  private get docker(): Docker {
    return this.engine.docker;
  }

  /** Docker or Podman, from the engine's version answer. */
  private get flavor(): EngineFlavor {
    return engineFlavor(this.engine.version);
  }

  /** What the container spec needs to know about the engine: which one, and on Podman the limits it may give. */
  private specEngine(): { flavor: EngineFlavor; rlimits?: HostRlimits } {
    const flavor = this.flavor;
    // Only a local service shares this host's limits; a remote Podman keeps its own defaults.
    return flavor === 'podman' && this.engine.endpoint.kind === 'unix' ? { flavor, rlimits: hostRlimits() } : { flavor };
  }

  async runtimes(): Promise<string[]> {
    const info = engineInfoSchema.parse(await this.docker.info());
    return Object.keys(info.Runtimes);
  }

  /**
   * "Now" on the engine's clock, which is the clock its containers stamp file times with (local,
   * Docker Desktop's VM or a remote host alike). Nanoseconds survive as sub-millisecond digits.
   */
  private async engineClockMs(): Promise<number | undefined> {
    const { SystemTime } = engineInfoSchema.parse(await this.docker.info());
    const match = SystemTime?.match(/^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    if (!match) return undefined;
    const whole = Date.parse(`${match[1]}${match[3]}`);
    return Number.isNaN(whole) ? undefined : whole + Number(`0${match[2] ?? ''}`) * 1000;
  }

  private async ensureImage(image: string, onProgress: OnProgress, signal?: AbortSignal): Promise<void> {
    try {
      imageInspectSchema.parse(await this.docker.getImage(image).inspect());
      return;
    } catch {
      // not present locally: try to pull it below
    }
    onProgress({ step: 'pulling', message: `pulling ${image}` });
    try {
      const stream = await this.docker.pull(image, { abortSignal: signal });
      await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())));
    } catch (error) {
      throw new AirlockError(
        `image: ${image} is not on this engine and could not be pulled (${(error as Error).message.split('\n')[0]})`,
        { code: 'image.pullFailed', hint: 'Pull or build it first (`docker pull IMAGE`), or choose a local image (scripts/setup-engine.sh builds airlock-test:bookworm offline).', field: 'image', actions: [{ kind: 'changeSetting', setting: 'image' }] },
      );
    }
  }

  /** Creates the container and streams the private workspace copy into it; all or nothing. */
  /**
   * Starts a task on a private copy of the workspace: layered over the workspace's base when the
   * engine can mount an overlay volume, else a whole copy into a fresh volume.
   */
  async start(input: TaskOptionsInput, startOptions: StartOptions = {}): Promise<TaskRecord> {
    if (this.layersUnavailable || this.serviceOptions.layers === false) return this.startOnce(input, startOptions, false);
    if (this.flavor === 'podman') {
      // Podman ignores a mount's volume driver options, which is what the overlay is (see assertEngineSupports).
      if (!this.podmanNoted) this.warn('on Podman each task gets a whole private copy of the workspace (Podman cannot mount the layered one), which starts slower for large workspaces');
      this.podmanNoted = true;
      return this.startOnce(input, startOptions, false);
    }
    try {
      return await this.startOnce(input, startOptions, true);
    } catch (error) {
      if (!(error instanceof LayersUnavailable) || startOptions.signal?.aborted) throw error instanceof LayersUnavailable ? error.cause : error;
      this.layersUnavailable = true;
      const reason = error.cause instanceof Error ? error.cause.message : String(error.cause);
      this.warn(`this engine could not layer the workspace (${reason.split('\n')[0]}); tasks get a whole private copy, which starts slower`);
      return this.startOnce(input, startOptions, false);
    }
  }

  private async startOnce(input: TaskOptionsInput, { signal, onProgress = () => undefined, hostEnv = process.env, onSetupOutput, onWaiting }: StartOptions, layeredWanted: boolean): Promise<TaskRecord> {
    const options = parseTaskOptions({ ...input, workspace: path.resolve(input.workspace) });
    const layered = layeredWanted && !options.workspaceTmpfs;
    // The proxy variables come last so nothing passed in can point tools elsewhere.
    const env = { ...buildSandboxEnv(options, hostEnv), ...(options.network === 'allowlist' ? proxyEnv() : {}) };
    if (options.network === 'allowlist') this.gatewayLauncher();
    assertWorkspaceFolder(options.workspace);
    const flavor = this.flavor;
    assertEngineSupports(options, flavor);
    if (flavor === 'podman') assertPodmanCanLimit(await podmanHost(this.docker));
    if (options.runtime !== 'runc') {
      const available = await this.runtimes();
      if (!available.includes(options.runtime)) {
        throw new AirlockError(`runtime: ${options.runtime} is not installed on this engine (it has: ${available.join(', ')})`, { code: 'runtime.unavailable', hint: 'Install gVisor and register it in /etc/docker/daemon.json (scripts/setup-engine.sh does this on Debian/Ubuntu), or run the task with runc.', field: 'runtime', actions: [{ kind: 'useRuntime', runtime: 'runc' }] });
      }
    }
    const id = newTaskId();
    const now = new Date();
    const expiresAt = new Date(now.getTime() + options.ttlSeconds * 1000);
    const dir = this.store.create(id);
    const audit = this.store.audit(id);
    let container: Docker.Container | undefined;
    let containerWork: Promise<Docker.Container> | undefined;
    let gitCleanup: string | undefined;
    let unpublishedBase: string | undefined;
    let layers: WorkspaceLayers | undefined;
    let layerWork: Promise<string> | undefined;
    try {
      onProgress({ step: 'listing', message: 'reading the workspace' });
      const listingWork = listWorkspace(options.workspace, options.secretFilePatterns, signal);
      // The image check overlaps with reading the workspace, and container creation with the copy.
      // A disk-backed copy goes in before the container starts: gVisor caches the volume's contents
      // from its first look.
      const imageWork = this.ensureImage(options.image, onProgress, signal);
      imageWork.catch(() => undefined);
      const bases = new WorkspaceBases(path.join(this.store.root, 'bases'));
      const key = bases.key(options.workspace, options.user);
      // The task's layer and the workspace's base are looked up while the workspace is read.
      layerWork = layered ? createLayerVolume(this.docker, id) : undefined;
      layerWork?.catch(() => undefined);
      const baseWork = layered
        ? (async () => {
            const loaded = bases.load(key);
            const found = loaded && (await basePath(this.docker, loaded.index.volume));
            return loaded && found ? { loaded, found } : undefined;
          })()
        : undefined;
      baseWork?.catch(() => undefined);
      const listing = await listingWork;
      const readAtNs = String(BigInt(Date.now()) * 1_000_000n);
      const identities = layered ? await identifyListing(listing, signal) : undefined;
      const bytesWork = identities ? Promise.resolve(listingBytesOf(identities)) : listingBytes(listing, signal);
      if (listing.git) onProgress({ step: 'history', message: 'copying the git history' });
      const gitMeta = listing.git ? await buildGitMetadata(options.workspace, listing.git.commonDir, options.gitDepth, options.secretFilePatterns, signal) : undefined;
      gitCleanup = gitMeta?.cleanup;
      const bytesTotal = await bytesWork;
      const { uid, gid } = sandboxIds(options);
      // Which base this task stands on, and what it adds: decided before the container exists,
      // since the overlay's folders are part of its spec.
      let plan: DeltaPlan | undefined;
      let base: LoadedBase | undefined;
      if (identities) {
        try {
          const existing = await baseWork;
          base = existing?.loaded;
          plan = existing ? planDelta(existing.loaded, listing, identities) : undefined;
          if (plan && deltaTooLarge(plan, listing, bytesTotal)) plan = undefined;
          const baseVolume = existing && plan ? existing.loaded.index.volume : bases.newVolumeName(key);
          if (!plan) unpublishedBase = baseVolume;
          const basePathNow = existing && plan ? existing.found : await createBaseVolume(this.docker, baseVolume, key, this.store.root);
          layers = { baseVolume, basePath: basePathNow, layerVolume: layerVolumeName(id), layerPath: (await layerWork)! };
        } catch (error) {
          throw new LayersUnavailable(error);
        }
      }
      containerWork = (async () => {
        await imageWork;
        throwIfAborted(signal);
        onProgress({ step: 'creating', message: 'creating container' });
        container = await this.docker.createContainer(buildContainerSpec({ id, options, env, expiresAt, layers, ...this.specEngine() }));
        return container;
      })();
      // Observed here so a failure while the copy is still going is not "unhandled"; the original
      // promise is awaited (and its error raised) below.
      containerWork.catch(() => undefined);
      const copying = (files: number, bytes: number) => onProgress({ step: 'copying', message: `copying ${listing.files.size} files`, done: Math.min(bytes, bytesTotal), total: bytesTotal, unit: 'bytes', files: { done: Math.min(files, listing.files.size), total: listing.files.size } });
      copying(0, 0);
      const { manifestFile, contentFile } = this.store.snapshotFiles(id);
      // One update per 100 ms at most: a front end redraws a bar, it does not need every chunk.
      let reportedAt = 0;
      const onCopied = (files: number, bytes: number) => {
        const now = Date.now();
        if (now - reportedAt < 100) return;
        reportedAt = now;
        copying(files, bytes);
      };
      let summary: { files: number; bytes: number };
      if (layers && identities) {
        // The layers are filled through containers of the task's image: it must be there (pulled) first.
        await imageWork;
        summary = await this.copyLayered({ id, image: options.image, key, bases, base: plan ? base : undefined, plan, listing, identities, readAtNs, gitMeta, layers, uid, gid, manifestFile, contentFile, onCopied, signal, user: options.user });
        unpublishedBase = undefined;
      } else {
        const created = await containerWork;
        throwIfAborted(signal);
        // A tmpfs volume is only mounted once the container runs, so it is filled after start.
        if (options.workspaceTmpfs) await created.start();
        const packed = packSnapshot(listing, gitMeta, { uid, gid, manifestFile, contentFile, onCopied });
        [, summary] = await Promise.all([created.putArchive(packed.stream, { path: WORKSPACE_PATH, abortSignal: signal }), packed.done]);
      }
      const created = await containerWork;
      throwIfAborted(signal);
      copying(listing.files.size, bytesTotal);
      if (!options.workspaceTmpfs) {
        try {
          await created.start();
        } catch (error) {
          if (flavor === 'podman' && isRlimitRefusal(error)) throw podmanRlimitError(error);
          throw layers ? new LayersUnavailable(error) : error;
        }
      }
      const readyAtMs = await this.engineClockMs();
      // Before anything runs in the box (setup commands included): what a folder swap is later told by.
      onProgress({ step: 'recording', message: 'recording the copy' });
      const folderInodes = await captureFolderInodes(created, options.user, signal);
      if (folderInodes) this.store.saveFolderInodes(id, folderInodes);
      const record: TaskRecord = {
        id,
        createdAt: now.toISOString(),
        expiresAt: expiresAt.toISOString(),
        workspace: options.workspace,
        image: options.image,
        runtime: options.runtime,
        containerId: created.id,
        containerName: `airlock-${id}`,
        user: options.user,
        env,
        options: { ...options, env: Object.keys(options.env) },
        snapshot: {
          kind: gitMeta ? 'git' : 'folder',
          head: gitMeta?.head,
          sandboxHead: gitMeta?.sandboxHead,
          branch: gitMeta?.branch,
          shallow: gitMeta?.shallow,
          files: summary.files,
          bytes: summary.bytes,
          excluded: listing.excluded,
          historyExcluded: gitMeta?.removedFromHistory ?? [],
          manifestFile,
          archiveFile: contentFile,
          readyAtMs,
          baseVolume: layers?.baseVolume,
        },
      };
      this.store.save(record);
      // Variable names only: values may be sensitive and the log is meant to be shared with reviewers.
      const { env: _values, ...config } = record;
      audit.append({ type: 'task.created', task: id, config: { ...config, envNames: Object.keys(env) }, snapshot: record.snapshot });
      if (Number(options.user.split(':')[0]) === 0) {
        const message = 'this task runs as root inside the container (allowRoot); it still has no capabilities';
        audit.append({ type: 'warning', task: id, message });
        this.warn(message);
      }
      await this.runSetupPhase(record, options, { signal, onProgress, onSetupOutput, onWaiting });
      return record;
    } catch (error) {
      await this.shutdownGateway(id);
      // Let an in-flight create finish first, so a failure elsewhere never leaves a container behind.
      await containerWork?.catch(() => undefined);
      await container?.remove({ force: true, v: true }).catch(() => undefined);
      await layerWork?.catch(() => undefined);
      await this.removeVolumes(id).catch(() => undefined);
      if (unpublishedBase) await this.docker.getVolume(unpublishedBase).remove().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    } finally {
      if (gitCleanup) fs.rmSync(gitCleanup, { recursive: true, force: true });
    }
  }

  /**
   * Fills a layered task's folders before it starts. Without a usable base, the whole listing
   * goes into a fresh base volume first (it becomes the workspace's base once whole). The task's
   * upper layer gets what changed since the base (and the fresh .git), with whiteouts for what
   * is gone; its host copy of the base bytes is the base's, plus those changes appended.
   */
  private async copyLayered(copy: LayeredCopy): Promise<{ files: number; bytes: number }> {
    const { bases, key, layers, uid, gid, signal } = copy;
    let base = copy.base;
    let plan = copy.plan;
    const fill = (volume: string, archive: Readable) => fillVolume(this.docker, { image: copy.image, volume, taskId: copy.id, archive, signal });
    if (!base || !plan) {
      const files = bases.prepare(key, layers.baseVolume);
      try {
        // The engine unpacks each archive in one process, and creating files is most of a first
        // start: several archives of disjoint folders unpack side by side.
        const parts = splitListing(copy.listing, FILL_STREAMS);
        const progress = parts.map(() => ({ files: 0, bytes: 0 }));
        const packs = parts.map((part, index) =>
          packSnapshot(part, undefined, {
            uid,
            gid,
            manifestFile: `${files.manifestFile}.${index}`,
            contentFile: `${files.contentFile}.${index}`,
            onCopied: (done, bytes) => {
              progress[index] = { files: done, bytes };
              copy.onCopied(progress.reduce((sum, item) => sum + item.files, 0), progress.reduce((sum, item) => sum + item.bytes, 0));
            },
          }),
        );
        const results = await Promise.all(packs.map(async (packed) => (await Promise.all([fill(layers.baseVolume, packed.stream), packed.done]))[1]));
        const manifest = await joinParts(results.map((result, index) => ({ manifest: result.manifest, contentFile: `${files.contentFile}.${index}`, manifestFile: `${files.manifestFile}.${index}` })), files.contentFile);
        const index: BaseIndex = { version: 1, volume: layers.baseVolume, workspace: copy.listing.root, user: copy.user, readAtNs: copy.readAtNs, identities: identitiesRecord(copy.identities) };
        bases.publish(key, index, manifest);
        base = { key, index, manifest };
      } catch (error) {
        bases.forget(key, layers.baseVolume);
        throw error;
      }
      plan = planDelta(base, copy.listing, copy.identities);
    }
    // The base's bytes are the task's too: its host copy starts as theirs (a clone where the
    // filesystem can), and the mirror appends to the task's own file, never to the base's. The
    // changed files' bytes go to a file of their own meanwhile, appended once both are whole.
    const baseBytes = fs.statSync(base.manifest.contentFile).size;
    const deltaFile = `${copy.contentFile}.delta`;
    const copied = fs.promises.copyFile(base.manifest.contentFile, copy.contentFile, fs.constants.COPYFILE_FICLONE);
    copied.catch(() => undefined);
    const packed = packSnapshot(plan.listing, copy.gitMeta, { uid, gid, manifestFile: copy.manifestFile, contentFile: deltaFile, contentOffset: baseBytes, prefix: 'upper', siblingDirs: ['work'], whiteouts: plan.whiteouts });
    const [, added] = await Promise.all([fill(layers.layerVolume, packed.stream), packed.done, copied]);
    fs.chmodSync(copy.contentFile, 0o600);
    await pipeline(fs.createReadStream(deltaFile), fs.createWriteStream(copy.contentFile, { flags: 'a' }));
    fs.rmSync(deltaFile, { force: true });
    const manifest: SnapshotManifest = { ...added.manifest, contentFile: copy.contentFile, entries: [...plan.kept, ...added.manifest.entries] };
    writeManifest(copy.manifestFile, manifest);
    let bytes = 0;
    let files = 0;
    for (const entry of manifest.entries) {
      if (entry.type === 'dir') continue;
      files++;
      bytes += entry.size;
    }
    return { files, bytes };
  }

  /**
   * The gateway comes up in the setup phase when there are setup commands; they run under the setup
   * rules, then the phase switches (closing setup connections) before any agent command can run.
   */
  private async runSetupPhase(record: TaskRecord, options: TaskOptions, { signal, onProgress, onSetupOutput, onWaiting }: Pick<StartOptions, 'signal' | 'onSetupOutput' | 'onWaiting'> & { onProgress: OnProgress }): Promise<void> {
    const first: NetworkPhase = options.setupCommands.length > 0 ? 'setup' : 'agent';
    if (options.network === 'allowlist') {
      onProgress({ step: 'gateway', message: 'starting the egress gateway' });
      await this.gatewayLauncher()(record, first, signal);
    }
    const audit = this.store.audit(record.id);
    for (const [index, entry] of options.setupCommands.entries()) {
      throwIfAborted(signal);
      const { command, field, gate } = typeof entry === 'string' ? { command: entry, field: `setupCommands.${index}`, gate: false } : entry;
      onProgress({ step: 'setup', message: `setup ${index + 1}/${options.setupCommands.length}: ${command}`, done: index, total: options.setupCommands.length, unit: 'commands' });
      const result = await this.exec(record.id, {
        argv: ['sh', '-c', command],
        signal,
        // The user's own setup lines run as given. A repository's, unless the user accepted its
        // policy, pass the command rules like an agent command: refused, or waiting for a reviewer.
        gate: gate ? { signal, onWaiting } : false,
        onStdout: (chunk) => onSetupOutput?.(chunk, 'stdout'),
        onStderr: (chunk) => onSetupOutput?.(chunk, 'stderr'),
      }).catch((error: unknown) => {
        if (!(error instanceof CommandRefused)) throw error;
        throw new AirlockError(`${field}: ${printableLine(command)}: ${error.message}; the task was not started`, { code: 'setup.commandRefused', hint: 'Accept the repository policy if you trust this command, approve it when asked, or change the command rules.', field, actions: [{ kind: 'acceptPolicy', workspace: record.workspace }] });
      });
      if (result.exitCode !== 0) throw new AirlockError(`${field}: "${printableLine(command)}" exited with code ${result.exitCode}; the task was not started`, { code: 'setup.commandFailed', hint: "Fix the setup command (or the setup phase's network rules) and start again.", field, actions: [{ kind: 'changeSetting', setting: 'network.setup.allow' }] });
      onProgress({ step: 'setup', message: `setup ${index + 1}/${options.setupCommands.length}: ${command}`, done: index + 1, total: options.setupCommands.length, unit: 'commands' });
    }
    if (first === 'setup') {
      // With a gateway, the gateway records the switch (and the connections it closed); without one, nothing was open.
      if (options.network === 'allowlist') {
        const reply = await this.gatewayRequest(record.id, { op: 'phase', phase: 'agent' });
        if (!reply.ok || reply.phase !== 'agent') throw new AirlockError(`network: the gateway did not switch to the agent phase (${reply.error ?? 'no answer'})`, { code: 'gateway.phaseSwitchFailed', hint: 'The task was not started; try again.', field: 'network' });
      } else audit.append({ type: 'network.phase', task: record.id, from: 'setup', to: 'agent', closedConnections: 0 });
    }
  }

  /**
   * Brings a live allowlist task's gateway back when it is not answering. Always in the agent
   * phase: a restart never reopens the setup rules.
   */
  async ensureGateway(idOrPrefix: string, signal?: AbortSignal): Promise<'running' | 'restarted'> {
    const record = await this.live(idOrPrefix);
    if (record.options.network !== 'allowlist') throw new AirlockError(`task ${record.id} has no network (network "deny"); there is no gateway to restart`, { code: 'task.noNetwork', hint: 'Start a task with network allow rules to use the network.', field: 'ID', actions: [{ kind: 'startTask' }, { kind: 'changeSetting', setting: 'network.allow' }] });
    const answering = await this.gatewayRequest(record.id, { op: 'status' }).then((reply) => reply.ok, () => false);
    if (answering) return 'running';
    await this.gatewayLauncher()(record, 'agent', signal);
    return 'restarted';
  }

  private gatewayLauncher(): GatewayLauncher {
    if (this.serviceOptions.gateway) return this.serviceOptions.gateway;
    throw new AirlockError('network: allowlist mode needs an egress gateway, which this front end cannot start', { code: 'gateway.unavailable', hint: 'Use the Airlock CLI or the VS Code extension, or set the network to "deny".', field: 'network', actions: [{ kind: 'changeSetting', setting: 'network', value: 'deny' }] });
  }

  /** Best effort: a task with no gateway, or one that no longer answers, is simply skipped. */
  private async shutdownGateway(id: string): Promise<void> {
    if (fs.existsSync(this.store.gatewayFiles(id).socket)) await this.gatewayRequest(id, { op: 'shutdown' }).catch(() => undefined);
  }

  /** Asks a task's running gateway something; rejects when no gateway answers. */
  gatewayRequest(idOrPrefix: string, request: Parameters<typeof controlRequest>[1]): Promise<ControlReply> {
    const record = this.store.resolve(idOrPrefix);
    return controlRequest(this.store.gatewayFiles(record.id).socket, request);
  }

  private async containersOf(id?: string): Promise<ReturnType<typeof containerSummarySchema.parse>[]> {
    const filters = { label: [id ? `${TASK_LABEL}=${id}` : TASK_LABEL] };
    const list = await this.docker.listContainers({ all: true, filters });
    return list.map((item) => containerSummarySchema.parse(item));
  }

  private async removeVolumes(id?: string): Promise<string[]> {
    const filters = { label: [id ? `${TASK_LABEL}=${id}` : TASK_LABEL] };
    const volumes = volumeListSchema.parse(await this.docker.listVolumes({ filters })).Volumes ?? [];
    const removed: string[] = [];
    for (const volume of volumes) {
      try {
        await this.docker.getVolume(volume.Name).remove();
        removed.push(volume.Name);
      } catch {
        // still in use by a container we are not removing
      }
    }
    return removed;
  }

  /**
   * Records the end once. `keep`: an end nobody chose (the container vanished, the engine went
   * away), so the change sets, blobs and base stay for review and apply until the record is
   * pruned; a stop or the TTL leaves only what undo needs.
   */
  private markDestroyed(record: TaskRecord, reason: string, { keep }: { keep: boolean }): void {
    const backend = this.backends.get(record.id);
    this.backends.delete(record.id);
    backend?.then((value) => value.dispose(), () => undefined);
    if (record.destroyedAt || this.store.load(record.id)?.destroyedAt || !this.store.claimEnd(record.id)) return;
    if (keep) keepReviewState(this.store, record.id, reason);
    this.store.save({ ...record, destroyedAt: new Date().toISOString(), destroyReason: reason });
    this.store.audit(record.id).append({ type: 'task.destroyed', task: record.id, reason });
    clearEngineLoss(this.store, record.id);
    if (!keep) this.releaseHostState(record.id);
  }

  /** A gone box leaves only what undo needs: no base snapshot, no change sets, no blobs but the host's backups. */
  private releaseHostState(id: string): void {
    this.store.dropSnapshot(id);
    const files = this.store.changeFiles(id);
    releaseReviewState(files, new ApplyJournal(files.journalDir));
  }

  /** Destroys the container and its volume; the record and audit log remain. */
  async stop(idOrPrefix: string, reason = 'stopped by user'): Promise<TaskRecord> {
    const record = this.store.resolve(idOrPrefix);
    // The gateway would also stop once the container goes; asking first lets it log open connections.
    await this.shutdownGateway(record.id);
    for (const summary of await this.containersOf(record.id)) {
      await this.docker.getContainer(summary.Id).remove({ force: true, v: true }).catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
      });
    }
    // AutoRemove finishes asynchronously; wait until the engine has let go of the volume.
    for (let attempt = 0; attempt < 50 && (await this.containersOf(record.id)).length > 0; attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
    await this.removeVolumes(record.id);
    this.markDestroyed(record, reason, { keep: false });
    clearEngineLoss(this.store, record.id);
    // A stop is the user's choice: what an earlier end nobody chose had kept for review goes now.
    if (reviewStateKept(this.store, record.id)) {
      forgetKeptReviewState(this.store, record.id);
      this.releaseHostState(record.id);
    }
    return this.store.resolve(record.id);
  }

  /** Every known task with its live state. Read-only: a vanished container's record is written by `gc`. */
  async list(): Promise<TaskStatus[]> {
    const containers = await this.containersOf().catch((error: unknown) => {
      throw isEngineUnreachable(error) ? engineUnreachableError(this.engine.endpoint, error, 'The tasks are as last recorded on this machine') : error;
    });
    const byTask = new Map(containers.map((summary) => [summary.Labels[TASK_LABEL], summary]));
    return this.store.all().map((record) => taskStatus(record, byTask.get(record.id), Date.now(), { engineLost: this.engineLostHere(record.id) }));
  }

  /**
   * Removes expired or stopped task containers, volumes without a container, and the records of
   * tasks that ended more than `keepEndedMs` ago.
   */
  async gc({ keepEndedMs = DEFAULT_RECORD_RETENTION_MS }: GcOptions = {}): Promise<GcReport> {
    if (!Number.isFinite(keepEndedMs) || keepEndedMs < 0) throw new AirlockError(`the retention of ended tasks must be 0 or more milliseconds (got ${keepEndedMs})`, { code: 'gc.invalidRetention', hint: 'Give how long to keep ended tasks, or 0 to remove them all.', field: 'keepEndedMs' });
    const report: GcReport = { containers: [], volumes: [], records: [], pruned: [] };
    const endedNow = new Set<string>();
    const containers = await this.containersOf().catch((error: unknown) => {
      throw isEngineUnreachable(error) ? engineUnreachableError(this.engine.endpoint, error) : error;
    });
    for (const summary of containers) {
      // A running, unexpired container from another state directory (another user of this engine)
      // is not ours to judge; its own TTL ends it.
      const expired = !(Date.parse(summary.Labels[EXPIRES_LABEL] ?? '') > Date.now());
      // A container another process is still filling (created, not yet started) is not an orphan.
      const starting = summary.State === 'created' && Date.now() / 1000 - (summary.Created ?? 0) < 600;
      if ((summary.State !== 'running' && !starting) || expired) {
        await this.docker.getContainer(summary.Id).remove({ force: true, v: true }).catch(() => undefined);
        report.containers.push(summary.Names[0]?.replace(/^\//, '') ?? summary.Id.slice(0, 12));
      }
    }
    const live = new Set((await this.containersOf()).map((summary) => summary.Labels[TASK_LABEL]));
    // A task waiting to be re-attached after its engine went away: its layer is the box's files.
    for (const record of this.store.all()) {
      if (!record.destroyedAt && this.engineLostHere(record.id) && workspaceCanSurvive(record) && Date.parse(record.expiresAt) > Date.now()) live.add(record.id);
    }
    const volumes = volumeListSchema.parse(await this.docker.listVolumes({ filters: { label: [TASK_LABEL] } })).Volumes ?? [];
    for (const volume of volumes) {
      if (live.has(volume.Labels?.[TASK_LABEL] ?? '')) continue;
      try {
        await this.docker.getVolume(volume.Name).remove();
        report.volumes.push(volume.Name);
      } catch {
        // in use: its container is being removed right now; the next gc takes it
      }
    }
    for (const status of await this.list()) {
      const saved = this.store.load(status.record.id);
      if (status.state === 'destroyed' && saved && !saved.destroyedAt) {
        const reason = status.record.destroyReason ?? unrecordedEnd(saved);
        // Only the TTL is an end somebody chose; a box that vanished otherwise may hold work nobody applied.
        this.markDestroyed(saved, reason, { keep: reason !== 'ttl expired' || this.engineLostHere(saved.id) });
        endedNow.add(saved.id);
      }
      if (status.state === 'destroyed') {
        // Also tasks ended before review state was released at the end (or by another process that crashed).
        if (!reviewStateKept(this.store, status.record.id)) this.releaseHostState(status.record.id);
        continue;
      }
      if (Date.parse(status.record.expiresAt) <= Date.now()) {
        await this.stop(status.record.id, 'ttl expired');
        report.records.push(status.record.id);
        endedNow.add(status.record.id);
      }
    }
    report.pruned = await this.pruneEnded(keepEndedMs, endedNow);
    report.volumes.push(...(await this.removeSupersededBases()));
    return report;
  }

  /**
   * A base no new task starts from goes once no live task stands on it. The engine refuses to
   * remove one still mounted (each layered task mounts its base), which covers tasks of another
   * process this store has not heard of yet.
   */
  private async removeSupersededBases(): Promise<string[]> {
    const bases = new WorkspaceBases(path.join(this.store.root, 'bases'));
    const inUse = new Set(this.store.all().filter((record) => !record.destroyedAt).map((record) => record.snapshot.baseVolume));
    const removed: string[] = [];
    for (const { key, volume, current, ageMs } of bases.known()) {
      // A base younger than a start may still be filling for a task whose record is not written yet.
      if (current || inUse.has(volume) || ageMs < 600_000) continue;
      try {
        await this.docker.getVolume(volume).remove();
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) continue;
      }
      bases.forget(key, volume);
      removed.push(volume);
    }
    // Bases of state folders that are gone from this machine (a deleted state folder, a test's).
    const known = new Set(bases.known().map((base) => base.volume));
    const volumes = volumeListSchema.parse(await this.docker.listVolumes({ filters: { label: [BASE_LABEL] } })).Volumes ?? [];
    for (const volume of volumes) {
      const state = volume.Labels?.[STATE_LABEL] ?? '';
      if (volume.Labels?.[HOST_LABEL] !== os.hostname() || known.has(volume.Name)) continue;
      if (state !== this.store.root && (!path.isAbsolute(state) || fs.existsSync(state))) continue;
      const removedNow = await this.docker.getVolume(volume.Name).remove().then(() => true, () => false);
      if (removedNow) removed.push(volume.Name);
    }
    return removed;
  }

  /**
   * Deletes the folders of tasks ended at least `keepEndedMs` ago. Only a record that says when it
   * ended counts, never one whose container the engine still has (another process may be using
   * it), and never one this very run found gone: its container may live on another engine than
   * the one this process reached (another DOCKER_HOST or context), so its end is recorded now and
   * its folder waits for a later run.
   */
  private async pruneEnded(keepEndedMs: number, endedNow: ReadonlySet<string>): Promise<string[]> {
    const withContainer = new Set((await this.containersOf()).map((summary) => summary.Labels[TASK_LABEL]));
    const now = Date.now();
    const pruned: string[] = [];
    for (const id of this.store.ids()) {
      if (withContainer.has(id) || endedNow.has(id)) continue;
      let record: TaskRecord | undefined;
      try {
        record = this.store.load(id);
      } catch {
        continue; // unreadable: nobody can tell when it ended
      }
      const endedAt = Date.parse(record?.destroyedAt ?? '');
      if (Number.isNaN(endedAt) || (keepEndedMs > 0 && now - endedAt < keepEndedMs)) continue;
      try {
        if (this.store.remove(id)) pruned.push(id);
      } catch (error) {
        this.warn(`kept the record of task ${id}: ${(error as Error).message}`);
      }
    }
    return pruned;
  }

  /**
   * A live task by id or prefix; expired ones are destroyed on the spot, never used. One whose
   * engine went away since it was last used is first found again (re-attached) or recorded lost.
   */
  async live(idOrPrefix: string): Promise<TaskRecord> {
    const record = this.store.resolve(idOrPrefix);
    if (record.destroyedAt) throw this.endedError(record);
    if (this.engineLostHere(record.id)) return this.reattach(record);
    if (Date.parse(record.expiresAt) <= Date.now()) {
      await this.stop(record.id, 'ttl expired');
      throw new AirlockError(`task ${record.id} reached its TTL and was destroyed`, { code: 'task.expired', hint: 'Start a new task, with a longer time to live if needed.', field: 'ID', actions: [{ kind: 'startTask' }, { kind: 'changeSetting', setting: 'ttlSeconds' }] });
    }
    return record;
  }

  /**
   * Whether this service's engine is the one seen going away under the task: a state folder can
   * hold tasks of several engines, and only the task's own engine can give it back.
   */
  private engineLostHere(id: string): boolean {
    return engineLoss(this.store, id)?.engine === describeEndpoint(this.engine.endpoint);
  }

  private endedError(record: TaskRecord): AirlockError {
    if (!reviewStateKept(this.store, record.id)) return new AirlockError(`task ${record.id} was destroyed (${record.destroyReason})`, { code: 'task.destroyed', hint: 'Start a new task.', field: 'ID', actions: [{ kind: 'startTask' }] });
    const newest = new ChangeSetStore(this.store.changeFiles(record.id).changeSetDir).newest();
    const kept = newest ? `its last change set ${shortChangeSetId(newest.id)} (${newest.files} file(s), taken ${newest.createdAt}) is kept on this machine with the audit log` : 'its audit log is kept on this machine (no change set had been taken)';
    return new AirlockError(`task ${record.id} has ended (${record.destroyReason}); ${kept}`, {
      code: 'task.lost',
      hint: newest ? 'Review and apply that change set if you want what the box had done, then start a new task.' : 'Start a new task.',
      field: 'ID',
      actions: newest ? [{ kind: 'reviewChanges', task: record.id }, { kind: 'startTask' }] : [{ kind: 'startTask' }],
    });
  }

  /** One re-attach per task at a time in this process; other processes are held off by the container's name. */
  private reattach(record: TaskRecord): Promise<TaskRecord> {
    let work = this.reattaching.get(record.id);
    if (!work) {
      work = this.reattachOnce(record).finally(() => this.reattaching.delete(record.id));
      this.reattaching.set(record.id, work);
    }
    return work;
  }

  /**
   * Finds a task again after its engine went away: its container is still there (an engine with
   * live-restore, a connection that only dropped), or it is created again from the record on the
   * same base and layer volumes, with the same spec and deadline. A task whose workspace did not
   * survive is recorded as lost with its review state kept, and that is the error.
   */
  private async reattachOnce(record: TaskRecord): Promise<TaskRecord> {
    const loss = engineLoss(this.store, record.id);
    if (!(await engineAnswers(this.docker))) throw engineUnreachableError(this.engine.endpoint, new Error('no answer'), `Task ${record.id} is found again once it answers`);
    const previous = await this.docker.getContainer(record.containerId).inspect().then((info) => containerInspectSchema.parse(info).State, (error: unknown) => {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw isEngineUnreachable(error) ? engineUnreachableError(this.engine.endpoint, error) : error;
    });
    if (previous?.Running) {
      clearEngineLoss(this.store, record.id);
      return this.live(record.id);
    }
    if (Date.parse(record.expiresAt) <= Date.now()) {
      await this.loseTask(record, 'ttl expired');
      throw this.endedError(this.store.resolve(record.id));
    }
    const rebuilt = await reattachSpec(this.docker, record, this.specEngine());
    if ('lost' in rebuilt) {
      await this.loseTask(record, rebuilt.lost);
      throw this.endedError(this.store.resolve(record.id));
    }
    // What AutoRemove had not finished yet: the old container (its name is the task's) and, once
    // the new one holds its own, the old overlay volumes. Named layers are never among them.
    if (previous) await this.docker.getContainer(record.containerId).remove({ force: true, v: true }).catch(() => undefined);
    let created: Docker.Container;
    try {
      created = await this.docker.createContainer(rebuilt.spec);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 409) return this.reattachedElsewhere(record);
      throw error;
    }
    try {
      await created.start();
    } catch (error) {
      await created.remove({ force: true, v: true }).catch(() => undefined);
      throw error;
    }
    const updated: TaskRecord = { ...record, containerId: created.id };
    this.store.save(updated);
    const left = Math.round((Date.parse(record.expiresAt) - Date.now()) / 1000);
    const message = `the engine went away${loss?.at ? ` at ${loss.at}` : ''} (${loss?.error ?? 'no detail'}) and the task's container with it; a new container with the same spec and deadline (${left} s left) was attached to its kept workspace ${layerVolumeName(record.id)} (container ${created.id.slice(0, 12)}, was ${record.containerId.slice(0, 12)}); what the box had outside /workspace (its root filesystem, /tmp, home) and its running processes did not survive`;
    this.store.audit(record.id).append({ type: 'task.reattached', task: record.id, containerId: created.id, previousContainerId: record.containerId, expiresAt: record.expiresAt, reason: message });
    this.warn(`task ${record.id}: re-attached after the engine went away; its workspace is as the box left it, its processes and /tmp are gone`);
    clearEngineLoss(this.store, record.id);
    await this.removeStaleVolumes(record.id);
    if (record.options.network === 'allowlist' && this.serviceOptions.gateway) {
      // The old gateway ended with its relay; a new one starts in the agent phase, never setup.
      await this.serviceOptions.gateway(updated, 'agent').catch((error: unknown) => {
        const text = `the egress gateway did not come back after the re-attach (${(error as Error).message.split('\n')[0]}); the task has no network until it is restarted`;
        this.store.audit(record.id).append({ type: 'warning', task: record.id, message: text });
        this.warn(`task ${record.id}: ${text}`);
      });
    }
    return updated;
  }

  /** Another process is re-attaching the task (it holds the container's name): its record is the answer. */
  private async reattachedElsewhere(record: TaskRecord): Promise<TaskRecord> {
    for (let waited = 0; waited < 30_000; waited += 200) {
      const now = this.store.load(record.id);
      if (now?.destroyedAt) throw this.endedError(now);
      if (now && now.containerId !== record.containerId && !hasEngineLoss(this.store, record.id)) return now;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new AirlockError(`task ${record.id}: another process is re-attaching it after the engine went away, and has not finished within 30 s`, { code: 'task.reattachBusy', hint: 'Try again in a moment.', field: 'ID' });
  }

  /** Records the end of a task its engine restart took; its review state stays for review and apply. */
  private async loseTask(record: TaskRecord, reason: string): Promise<void> {
    this.markDestroyed(record, reason, { keep: true });
    await this.removeVolumes(record.id).catch(() => undefined);
  }

  /** Volumes of this task nothing holds any more (an overlay AutoRemove did not finish), never its layer. */
  private async removeStaleVolumes(id: string): Promise<void> {
    const volumes = volumeListSchema.parse(await this.docker.listVolumes({ filters: { label: [`${TASK_LABEL}=${id}`] } })).Volumes ?? [];
    for (const volume of volumes) {
      if (volume.Name === layerVolumeName(id)) continue;
      await this.docker.getVolume(volume.Name).remove().catch(() => undefined);
    }
  }

  /**
   * Writes down that this service's engine went away under these tasks (the ones a front end knew
   * live on it: `TaskWatcher.current()` when its event stream ended), so their next use finds
   * them again (re-attached) instead of taking a vanished container for an end. For front ends
   * that see the engine go while no command is running.
   */
  noteEngineLoss(taskIds: readonly string[], error: unknown): void {
    for (const id of taskIds) {
      const record = this.store.load(id);
      if (record && !record.destroyedAt) noteEngineLoss(this.store, id, { engine: describeEndpoint(this.engine.endpoint), error: firstLine(error) });
    }
  }

  /** The engine no longer answers while `record` is in use: noted for the task, and the error a person reads. */
  private engineWentAway(record: TaskRecord, error: unknown): AirlockError {
    noteEngineLoss(this.store, record.id, { engine: describeEndpoint(this.engine.endpoint), error: firstLine(error) });
    return new AirlockError(`task ${record.id}: the container engine at ${describeEndpoint(this.engine.endpoint)} went away while the command ran (${firstLine(error)}); the command ended with it`, {
      code: 'engine.lost',
      hint: "Start the engine again (or wait for its restart), then run the command again: the task is found again on its next use if its workspace survived, and is otherwise reported lost with its audit log and last change set kept.",
      field: 'ID',
      actions: [{ kind: 'startEngine' }],
    });
  }

  /**
   * A runner session that ended by itself (not closed by this process): if the engine is on its
   * way down under it, that is noted for the task, so an idle task kept warm is found again too.
   * Nobody waits for this, and it never keeps a process alive.
   */
  private sessionEnded(record: TaskRecord, session: Promise<ExecBackend>): void {
    if (this.backends.get(record.id) !== session) return;
    this.backends.delete(record.id);
    void engineStopsUnder(this.docker, record.containerId, { unref: true }).then((stopping) => {
      if (stopping && !this.store.load(record.id)?.destroyedAt) noteEngineLoss(this.store, record.id, { engine: describeEndpoint(this.engine.endpoint), error: "the task's runner session ended and then the engine stopped answering" });
    }, () => undefined);
  }

  private backendFor(record: TaskRecord, preference: 'auto' | ExecBackendName): Promise<ExecBackend> {
    const container = this.docker.getContainer(record.containerId);
    const direct = () => new DockerExecBackend(container, record.user);
    if (preference === 'docker-exec') return Promise.resolve(direct());
    let backend = this.backends.get(record.id);
    if (!backend) {
      const session: Promise<ExecBackend> = SupervisorBackend.open(container, record.user, () => this.sessionEnded(record, session)).catch(async (error: unknown) => {
        if (isEngineUnreachable(error)) {
          this.backends.delete(record.id);
          throw error;
        }
        const state = await container.inspect().then((info) => containerInspectSchema.parse(info).State.Running, (inspectError: unknown) => (isEngineUnreachable(inspectError) ? inspectError : false));
        if (state !== true) {
          this.backends.delete(record.id);
          if (state !== false) throw state;
          throw Object.assign(new Error('container is not running'), { statusCode: 409 });
        }
        if (error instanceof SupervisorUnavailable && preference === 'auto') {
          this.warn(`${error.message}; using one engine exec per command`);
          return direct();
        }
        this.backends.delete(record.id);
        throw error;
      });
      backend = session;
      this.backends.set(record.id, backend);
    }
    return backend;
  }

  /** Runs one command in the task and appends it to the audit log, whatever its outcome. */
  async exec(idOrPrefix: string, request: CommandRequest): Promise<ExecResult> {
    if (request.argv.length === 0 || !request.argv[0]) throw new AirlockError('exec: no command given', { code: 'exec.noCommand', hint: 'Give the command to run.', field: 'CMD' });
    const record = await this.live(idOrPrefix);
    const env = buildSandboxEnv({ envPassthrough: [], env: request.env ?? {}, allowSecretEnv: (record.options.allowSecretEnv as string[] | undefined) ?? [] }, {}, 'commandEnv');
    const cwd = path.posix.resolve(WORKSPACE_PATH, request.cwd ?? '.');
    if (request.gate !== false && !request.bookkeeping) await gateCommand(this.store, record, request.line !== undefined ? { line: request.line } : { argv: request.argv }, cwd, { signal: request.signal, ...request.gate });
    const id = randomBytes(8).toString('hex');
    const start = new Date();
    const audit = (result: ExecResult) => {
      if (request.bookkeeping) return;
      this.store.audit(record.id).append({
        type: 'command',
        task: record.id,
        id,
        argv: request.argv,
        ...(request.line !== undefined ? { line: request.line } : {}),
        cwd,
        env: Object.keys(env),
        tty: Boolean(request.tty),
        start: start.toISOString(),
        end: new Date().toISOString(),
        exitCode: result.exitCode,
        signal: result.signal,
        timedOut: result.timedOut,
        cancelled: result.cancelled,
        bytesOut: result.bytesOut,
        bytesErr: result.bytesErr,
        backend: result.backend,
        ...(result.taskEnded ? { taskEnded: result.taskEnded } : {}),
      });
    };
    let backend: ExecBackend;
    let session: Promise<ExecBackend> | undefined;
    try {
      const preference = request.tty ? 'docker-exec' : request.backend ?? 'auto';
      session = preference === 'docker-exec' ? undefined : this.backendFor(record, preference);
      backend = await (session ?? this.backendFor(record, preference));
    } catch (error) {
      // Nothing ran: no command record. A container already gone says nothing of when the engine
      // went (if it did), so it is the end it always was.
      throw isEngineUnreachable(error) ? this.engineWentAway(record, error) : this.containerGone(record, error);
    }
    let result: ExecResult;
    try {
      result = await backend.run(id, { ...request, cwd, env });
    } catch (error) {
      const lost = isEngineUnreachable(error) ? this.engineWentAway(record, error) : await this.goneUnder(record, error);
      if (AirlockError.is(lost) && lost.code === 'engine.lost') audit({ exitCode: 137, timedOut: false, cancelled: false, bytesOut: 0, bytesErr: 0, backend: backend.name, taskEnded: ENGINE_WENT_AWAY });
      throw lost;
    }
    // Killed, and not by Airlock's timeout or cancel: the box itself may have gone (the TTL ran out
    // mid-command), or the engine with it. A runner session that ended with the command says the same.
    const runnerLost = backend.name === 'supervisor' && session !== undefined && this.backends.get(record.id) !== session;
    if (!result.timedOut && !result.cancelled && (result.exitCode >= 128 || result.signal || runnerLost)) {
      const ended = await this.endedUnder(record, runnerLost);
      if (AirlockError.is(ended)) {
        audit({ ...result, taskEnded: ENGINE_WENT_AWAY });
        throw ended;
      }
      if (ended) result = { ...result, taskEnded: ended };
    }
    audit(result);
    return result;
  }

  /** Whether the task's container still runs after up to `ms` of looking (false once it stops or is gone). */
  private async stillRunningAfter(record: TaskRecord, ms: number): Promise<boolean | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const running = await this.docker
        .getContainer(record.containerId)
        .inspect()
        .then(
          (info) => containerInspectSchema.parse(info).State.Running,
          (error: { statusCode?: number }) => (error.statusCode === 404 ? false : undefined),
        );
      if (running !== true || Date.now() >= deadline) return running;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** A 404 or 409 from the task's container: it has gone (recorded as the end, its review state kept), or another error. */
  private containerGone(record: TaskRecord, error: unknown): unknown {
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== 404 && status !== 409) return error;
    // The container vanished (TTL, crash, someone else's `docker rm`): record it, fail clearly.
    this.markDestroyed(record, 'container exited', { keep: true });
    return new AirlockError(`task ${record.id} is no longer running (its container has gone)`, { code: 'task.gone', hint: 'Start a new task.', field: 'ID', actions: [{ kind: 'startTask' }] });
  }

  /** The container went while a command ran in it: the engine stopping under it, or the container's own end. */
  private async goneUnder(record: TaskRecord, error: unknown): Promise<unknown> {
    const status = (error as { statusCode?: number }).statusCode;
    if ((status === 404 || status === 409) && Date.parse(record.expiresAt) > Date.now() + 2000 && (await engineStopsUnder(this.docker, record.containerId))) {
      return this.engineWentAway(record, new Error("the task's container went and then the engine stopped answering"));
    }
    return this.containerGone(record, error);
  }

  /**
   * Why the task's container is no longer running, recorded as its end; the engine going away
   * under it (noted, and the error to raise); or undefined while the box runs on. `runnerLost`:
   * the runner's session ended with the command, which a stopping engine does first.
   */
  private async endedUnder(record: TaskRecord, runnerLost: boolean): Promise<string | AirlockError | undefined> {
    let running: boolean | undefined;
    try {
      running = await this.docker
        .getContainer(record.containerId)
        .inspect()
        .then(
          (info) => containerInspectSchema.parse(info).State.Running,
          (error: unknown) => {
            if (isEngineUnreachable(error)) throw error;
            return (error as { statusCode?: number }).statusCode === 404 ? false : undefined;
          },
        );
    } catch (error) {
      return this.engineWentAway(record, error);
    }
    // At the deadline the command's stream can end a moment before the engine marks the container
    // stopped: look again for a little while, so the TTL is not mistaken for the command's own kill.
    if (running && Date.parse(record.expiresAt) <= Date.now() + 2000) running = await this.stillRunningAfter(record, 3000);
    if (running === undefined || (running && !runnerLost)) return undefined;
    // The box's own TTL timer ends it a moment after the deadline the record holds.
    if (!running && Date.parse(record.expiresAt) <= Date.now() + 2000) {
      this.markDestroyed(record, 'ttl expired', { keep: false });
      return 'ttl expired';
    }
    if (await engineStopsUnder(this.docker, record.containerId)) return this.engineWentAway(record, new Error("the engine stopped the task's container and then stopped answering"));
    if (running) return undefined;
    this.markDestroyed(record, 'container exited', { keep: true });
    return 'container exited';
  }

  /** Closes runner sessions this process opened; tasks themselves keep running. */
  dispose(): void {
    for (const backend of this.backends.values()) backend.then((value) => value.dispose(), () => undefined);
    this.backends.clear();
  }
}

