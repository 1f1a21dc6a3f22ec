import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import dockerignore from '@balena/dockerignore';
import type Docker from 'dockerode';
import type * as TarFs from 'tar-fs';
import type { Header, Pack } from 'tar-stream';
import { z } from 'zod';
import { AirlockError, CancelledError, throwIfAborted } from '../ground/errors.js';
import type { OnProgress, ProgressUpdate } from '../ground/progress.js';
import { readUntrustedFile, readUntrustedText, UNTRUSTED_LIMITS } from '../ground/untrustedFile.js';
import type { DevcontainerBuild } from './devcontainerPlan.js';

export interface BuildImageOptions {
  tag: string;
  labels?: Record<string, string>;
  /** Bytes; also the memory+swap limit, so build steps cannot swap (the task's rule too). */
  memory?: number;
  signal?: AbortSignal;
  /**
   * One update per readable line of the builder's output (trimmed, never empty, control
   * characters removed) as `message`, with `output` set: step `building`, counted in commands
   * once the builder prints its `Step N/M`.
   */
  onProgress?: OnProgress;
}

export interface BuiltImage {
  imageId: string;
  tag: string;
}

const BUILD_HINT = 'Fix the Dockerfile and build again. Builds run with no network: whatever a step needs must come from the build context or a local base image.';

/**
 * A stable tag per workspace, Dockerfile and target, so a rebuild replaces the previous image's
 * tag (and reuses its cached layers) instead of piling up new names.
 */
export function buildTag(build: DevcontainerBuild, workspace: string): string {
  const key = [path.resolve(workspace), path.resolve(build.dockerfile), build.target ?? ''].join('\0');
  return `airlock-build-${createHash('sha256').update(key).digest('hex').slice(0, 12)}:latest`;
}

/** What one build may send the engine: a context past these is a mistake or an attack on its disk. */
export interface ContextLimits {
  maxBytes: number;
  maxEntries: number;
}
export const CONTEXT_LIMITS: ContextLimits = { maxBytes: 2 * 1024 ** 3, maxEntries: 500_000 };

const CONTEXT_HINT = 'Exclude what the build does not need (dependencies, build output, data files) in the context\'s .dockerignore.';

/**
 * The build context as the docker CLI sends it: `<context>/.dockerignore` applied with docker's
 * own rules (not gitignore's: `*.log` matches at the context root only, `!` exceptions may re-add
 * files inside an excluded folder), the Dockerfile and .dockerignore always included, owners set
 * to root. Symbolic links are packed as links (tar-fs's default, kept on purpose): a link is never
 * followed, so nothing outside the context is read through one. Sockets, fifos and devices are not
 * sent. A Dockerfile outside the context is added under a generated name, and that name is added
 * to the packed .dockerignore so that the engine drops it from the context after reading it (what
 * the docker CLI does), keeping it out of `COPY . …`. The context is bounded in bytes and entries
 * (a sparse multi-terabyte file would otherwise land on the engine's disk), counted at the walk
 * and again as files are packed, in case one grew in between.
 */
export function packContext(build: DevcontainerBuild, limits: ContextLimits = CONTEXT_LIMITS): { stream: NodeJS.ReadableStream; dockerfileName: string } {
  const context = path.resolve(build.context);
  const dockerfile = path.resolve(build.dockerfile);
  const relative = path.relative(context, dockerfile);
  if (relative === '') throw new AirlockError('build.dockerfile: is the context folder itself, not a file', { code: 'build.dockerfileIsFolder', hint: 'Point "dockerfile" at a file.', field: 'build.dockerfile' });
  const outside = relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);

  const ignoreText = readDockerignore(context);
  const rules = ignoreText === undefined ? [] : ignoreLines(ignoreText);
  // Docker on Linux matches case-sensitively; the library's default is case-insensitive.
  const matcher = dockerignore({ ignorecase: false }).add(rules);
  const dockerfileName = outside ? `.airlock-Dockerfile-${randomBytes(10).toString('hex')}` : relative.split(path.sep).join('/');
  // The docker CLI keeps both files by adding exceptions for them when the rules exclude them.
  const kept = ['.dockerignore', ...(outside ? [] : [dockerfileName])];
  for (const name of kept) {
    if (matcher.ignores(name)) {
      matcher.add(`!${name}`);
      rules.push(`!${name}`);
    }
  }

  let entries: string[];
  try {
    entries = contextEntries(context, matcher, exceptionPatterns(rules), limits);
  } catch (error) {
    if (AirlockError.is(error)) throw error;
    throw new AirlockError(`build: could not read the build context ${context} (${(error as Error).message})`, { code: 'build.contextUnreadable', hint: 'Check that the context folder and everything it sends are readable.', field: 'build' });
  }

  const extras: { name: string; content: Buffer; mode: number }[] = [];
  if (outside) {
    extras.push({ name: dockerfileName, content: readRegularFile(dockerfile, 'build.dockerfile'), mode: 0o600 });
    extras.push({ name: '.dockerignore', content: Buffer.from(`${ignoreText ?? '.dockerignore'}\n${dockerfileName}\n`), mode: 0o644 });
    entries = entries.filter((entry) => entry !== '.dockerignore');
  }

  let packedBytes = 0;
  let tooLarge: AirlockError | undefined;
  const stream = new PassThrough();
  let pack: Pack | undefined;
  const map = (header: Header): Header => {
    packedBytes += header.size ?? 0;
    if (packedBytes > limits.maxBytes && !tooLarge) {
      tooLarge = contextTooLarge(context, limits);
      // Thrown out of tar-fs's stat callback it would be lost; the stream carries it instead.
      queueMicrotask(() => pack?.destroy(tooLarge));
    }
    return { ...header, uid: 0, gid: 0, uname: '', gname: '' };
  };
  const finish = (finished: Pack) => {
    for (const extra of extras) {
      finished.entry({ name: extra.name, type: 'file', mode: extra.mode, size: extra.content.length, mtime: new Date(), uid: 0, gid: 0 }, extra.content);
    }
    finished.finalize();
  };
  // tar-fs loads with the first build, not with the core (the extension's start stays small).
  import('tar-fs')
    .then((tarFs) => {
      if (stream.destroyed) return;
      // tar-fs's typings are narrower than its runtime (map's header type, finish).
      const started = tarFs.pack(context, {
        // Exactly the walk below: no folder is expanded by tar-fs itself.
        entries,
        ignore: () => true,
        map: map as unknown as TarFs.PackOptions['map'],
        // Modes exactly as on disk, as the docker CLI sends them.
        umask: 0,
        // Something that turned into a fifo or socket since the walk is skipped, not an error.
        strict: false,
        finalize: false,
        finish,
        fs: contextFs,
      } as TarFs.PackOptions);
      pack = started;
      started.on('error', (error: Error) => stream.destroy(error));
      stream.on('close', () => started.destroy());
      started.pipe(stream);
    })
    .catch((error: unknown) => stream.destroy(error instanceof Error ? error : new Error(String(error))));
  return { stream, dockerfileName };
}

/**
 * What tar-fs reads files with: a file swapped for a FIFO or a symlink after the walk fails to
 * open instead of hanging the pack or reading through the link.
 */
const contextFs = {
  ...fs,
  createReadStream: (file: string, options: { start: number; end: number }) => fs.createReadStream(file, { ...options, flags: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK } as unknown as Parameters<typeof fs.createReadStream>[1]),
};

function contextTooLarge(context: string, limits: ContextLimits): AirlockError {
  return new AirlockError(`build: the build context ${context} is larger than the ${limits.maxBytes} bytes Airlock sends to the engine`, { code: 'build.contextTooLarge', hint: CONTEXT_HINT, field: 'build.context' });
}

/** The repository's .dockerignore: a regular file (a symbolic link is not followed), of a bounded size. */
function readDockerignore(context: string): string | undefined {
  return readUntrustedText(path.join(context, '.dockerignore'), { maxBytes: UNTRUSTED_LIMITS.dockerignore, within: context, followSymlinks: false, what: `build: ${path.join(context, '.dockerignore')}` });
}

/** A Dockerfile's bytes without following a symbolic link at its own name, of a bounded size. */
function readRegularFile(file: string, field: string): Buffer {
  const bytes = readUntrustedFile(file, { maxBytes: UNTRUSTED_LIMITS.dockerfile, followSymlinks: false, what: `${field}: ${file}` });
  if (bytes === undefined) throw new AirlockError(`${field}: ${file} does not exist`, { code: 'build.fileMissing', hint: 'Point it at a regular, readable file inside the workspace.', field });
  return bytes;
}

/** The lines of a .dockerignore as the docker CLI reads them: a UTF-8 BOM dropped, `#` lines are comments. */
function ignoreLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((line) => !line.startsWith('#') && line.trim() !== '');
}

/** Exception patterns (`!x`) cleaned as docker cleans them, for the "may this folder be skipped" check. */
function exceptionPatterns(rules: string[]): string[] {
  return rules
    .map((rule) => rule.trim())
    .filter((rule) => rule.startsWith('!'))
    .map((rule) => {
      const cleaned = path.posix.normalize(rule.slice(1).trim()).replace(/(?<=.)\/$/, '');
      return cleaned.length > 1 && cleaned.startsWith('/') ? cleaned.slice(1) : cleaned;
    })
    .filter((rule) => rule !== '' && rule !== '.');
}

/**
 * Docker's context walk (moby pkg/archive TarWithOptions): an excluded file is dropped; an
 * excluded folder is not walked unless an exception pattern starts with its path, in which case
 * its contents are walked but the folder entry itself is not sent. Only folders, regular files
 * and symbolic links are kept.
 */
function contextEntries(context: string, matcher: ReturnType<typeof dockerignore>, exceptions: string[], limits: ContextLimits): string[] {
  const entries: string[] = [];
  let bytes = 0;
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(path.join(context, dir)).sort()) {
      const rel = dir ? `${dir}/${name}` : name;
      const stat = fs.lstatSync(path.join(context, rel));
      if (matcher.ignores(rel)) {
        if (stat.isDirectory() && exceptions.some((pattern) => `${pattern}/`.startsWith(`${rel}/`))) walk(rel);
        continue;
      }
      if (stat.isDirectory()) {
        entries.push(rel);
        walk(rel);
      } else if (stat.isFile() || stat.isSymbolicLink()) {
        entries.push(rel);
        if (stat.isFile()) bytes += stat.size;
        if (bytes > limits.maxBytes) throw contextTooLarge(context, limits);
      }
      if (entries.length > limits.maxEntries) throw new AirlockError(`build: the build context ${context} has more than the ${limits.maxEntries} files and folders Airlock sends to the engine`, { code: 'build.contextTooManyEntries', hint: CONTEXT_HINT, field: 'build.context' });
    }
  };
  walk('');
  return entries;
}

/**
 * `ADD <url>` is fetched by the engine itself, on the host's network, whatever the build's
 * network mode: it would bypass default-deny egress (cloud metadata addresses included). Such
 * sources, and sources built from variables (which could expand to a URL), are refused before
 * anything reaches the engine. Returns the offending sources.
 */
export function remoteAddSources(dockerfileText: string): string[] {
  const offending: string[] = [];
  for (const instruction of dockerfileInstructions(dockerfileText)) {
    const add = /^(?:onbuild\s+)?add(?:\s+(.*))?$/is.exec(instruction);
    if (!add) continue;
    const rest = (add[1] ?? '').replace(/^(--\S+\s*)*/, '');
    let args = rest.split(/\s+/).filter(Boolean);
    if (rest.startsWith('[')) {
      try {
        args = z.array(z.string()).parse(JSON.parse(rest));
      } catch {
        // Not a JSON array: docker reads the line in the shell form, as split above.
      }
    }
    for (const source of args.slice(0, -1)) {
      if (source.includes('://') || /^git@/i.test(source) || source.includes('$')) offending.push(source);
    }
  }
  return offending;
}

/** Instructions with line continuations joined and comment lines dropped; honours `# escape=`. */
function dockerfileInstructions(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  for (const line of lines) {
    const directive = /^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$/.exec(line);
    if (!directive) break;
    if (directive[1].toLowerCase() === 'escape') escape = directive[2]!;
  }
  const instructions: string[] = [];
  let current = '';
  for (const line of lines) {
    if (/^\s*#/.test(line)) continue;
    const trimmed = line.replace(/\s+$/, '');
    if (trimmed.endsWith(escape)) {
      current += `${trimmed.slice(0, -escape.length)} `;
      continue;
    }
    current += line;
    if (current.trim()) instructions.push(current.trim());
    current = '';
  }
  if (current.trim()) instructions.push(current.trim());
  return instructions;
}

/** One JSON line of the classic builder's progress stream: the parts Airlock reads. */
const buildLineSchema = z.object({
  stream: z.string().optional(),
  status: z.string().optional(),
  id: z.string().optional(),
  error: z.string().optional(),
  errorDetail: z.object({ message: z.string().optional(), code: z.number().optional() }).passthrough().optional(),
  aux: z.object({ ID: z.string().optional() }).passthrough().optional(),
}).passthrough();

/**
 * Reads progress from the classic builder's lines: `Step N/M : …` starts command N of M, so N-1 are
 * done; `Successfully built …` ends the last. Every line becomes one update carrying the line as
 * its message, with the count once the builder has printed one. Counts never go down.
 */
export function buildProgressTracker(): (line: string) => ProgressUpdate {
  let done = 0;
  let total: number | undefined;
  return (line) => {
    const step = /^Step (\d+)\/(\d+) :/.exec(line);
    if (step) {
      total = Math.max(total ?? 0, Number(step[2]));
      done = Math.max(done, Math.min(Number(step[1]) - 1, total));
    } else if (total !== undefined && line.startsWith('Successfully built ')) done = total;
    return { step: 'building', message: line, output: true, ...(total !== undefined ? { done, total, unit: 'commands' as const } : {}) };
  };
}

/** ANSI escape sequences, then any remaining control character except tab: build output is repository-controlled. */
const printable = (text: string) =>
  text.replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '').replace(/\u001b[\]P^_][^\u0007\u001b]*(\u0007|\u001b\\)?/g, '').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');

/**
 * Builds `build` with the engine's classic builder and tags it `options.tag`. The tag appears only
 * when the build succeeds. Every RUN step runs with network mode "none": Airlock's default-deny
 * egress must also hold while a repository's Dockerfile runs, and a build step is as untrusted as
 * the agent (`ADD <url>`, fetched by the engine itself, is refused up front for the same reason).
 */
export async function buildImage(docker: Docker, build: DevcontainerBuild, options: BuildImageOptions): Promise<BuiltImage> {
  const { signal, tag } = options;
  throwIfAborted(signal);
  const remote = remoteAddSources(readRegularFile(path.resolve(build.dockerfile), 'build.dockerfile').toString('utf8'));
  if (remote.length > 0) {
    throw new AirlockError(
      `build: the Dockerfile ADDs from a URL or a variable (${remote.join(', ')}); the engine would fetch it on the host's network, outside the sandbox's egress rules`,
      { code: 'build.remoteAdd', hint: 'Use COPY with files in the build context, or start from a prebuilt image that already contains them.', field: 'build' },
    );
  }
  const previous = await imageIdOf(docker, tag);
  throwIfAborted(signal);
  const { stream: context, dockerfileName } = packContext(build);
  const buildOptions: Docker.ImageBuildOptions = {
    t: tag,
    dockerfile: dockerfileName,
    rm: true,
    forcerm: true,
    pull: false,
    // No network for RUN steps (see above).
    networkmode: 'none',
    // The classic builder: the one whose network mode, memory limit and progress stream this relies on.
    version: '1',
    abortSignal: signal,
  };
  if (Object.keys(build.args).length > 0) buildOptions.buildargs = build.args;
  if (build.target) buildOptions.target = build.target;
  if (options.labels && Object.keys(options.labels).length > 0) buildOptions.labels = options.labels;
  if (options.memory) {
    buildOptions.memory = options.memory;
    buildOptions.memswap = options.memory;
  }

  let response: Readable;
  try {
    response = (await docker.buildImage(context, buildOptions)) as unknown as Readable;
  } catch (error) {
    (context as PassThrough).destroy();
    if (signal?.aborted) throw new CancelledError();
    throw new AirlockError(`build: the engine refused the build: ${printable(engineMessage(error))}`, { code: 'build.engineRefused', hint: BUILD_HINT, field: 'build' });
  }
  const reported = await followBuild(response, context as PassThrough, options);
  const imageId = reported ?? (await imageIdOf(docker, tag));
  if (!imageId) throw new AirlockError(`build: the engine ended the build without an image for ${tag}`, { code: 'build.noImage', hint: BUILD_HINT, field: 'build' });
  if (previous && previous !== imageId) {
    // The stable tag moved: the image it named before would stay behind untagged. Removed without
    // force, so an image a container still uses, or one the new image builds on, is kept.
    await docker.getImage(previous).remove().catch(() => undefined);
  }
  return { imageId, tag };
}

async function imageIdOf(docker: Docker, image: string): Promise<string | undefined> {
  try {
    return z.object({ Id: z.string() }).passthrough().parse(await docker.getImage(image).inspect()).Id;
  } catch {
    return undefined;
  }
}

/** Reads the progress stream to its end; resolves with the image id when the engine reported one. */
function followBuild(response: Readable, context: PassThrough, options: BuildImageOptions): Promise<string | undefined> {
  const { signal, onProgress } = options;
  const progress = buildProgressTracker();
  return new Promise<string | undefined>((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let pending = '';
    let imageId: string | undefined;
    let settled = false;
    // The latest step's output, for the error message when that step fails.
    let stepOutput: string[] = [];

    const settle = (error: Error | undefined, value?: string) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        response.destroy();
        context.destroy();
        reject(error);
      } else {
        resolve(value);
      }
    };
    const onAbort = () => settle(new CancelledError());

    const emit = (text: string) => {
      for (const raw of text.split(/\r\n|\r|\n/)) {
        const line = printable(raw).trim();
        if (!line) continue;
        if (/^Step \d+\/\d+ :/.test(line)) stepOutput = [];
        else if (!line.startsWith('---> ') && !line.startsWith('Removing intermediate container') && !line.startsWith('Running in ')) stepOutput = [...stepOutput.slice(-9), line];
        onProgress?.(progress(line));
      }
    };

    const handleLine = (raw: string) => {
      const text = raw.trim();
      if (!text) return;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return;
      }
      const parsed = buildLineSchema.safeParse(json);
      if (!parsed.success) return;
      const line = parsed.data;
      if (line.error !== undefined || line.errorDetail !== undefined) {
        const message = printable(line.errorDetail?.message ?? line.error ?? 'unknown error').trim();
        const output = stepOutput.length > 0 ? `\n  last output:\n    ${stepOutput.join('\n    ')}` : '';
        settle(new AirlockError(`build: the Dockerfile step failed: ${message}${output}`, { code: 'build.stepFailed', hint: BUILD_HINT, field: 'build' }));
        return;
      }
      if (line.aux?.ID) imageId = line.aux.ID;
      if (line.stream !== undefined) emit(line.stream);
      else if (line.status !== undefined) emit(line.id ? `${line.id}: ${line.status}` : line.status);
    };

    const consume = (text: string) => {
      pending += text;
      let newline = pending.indexOf('\n');
      while (newline >= 0 && !settled) {
        handleLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
    };

    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    response.on('data', (chunk: Buffer) => consume(decoder.write(chunk)));
    response.on('end', () => {
      consume(decoder.end());
      if (!settled) handleLine(pending);
      settle(undefined, imageId);
    });
    response.on('error', (error: Error) => settle(signal?.aborted ? new CancelledError() : new AirlockError(`build: the connection to the engine failed during the build (${error.message})`, { code: 'build.connectionLost', hint: BUILD_HINT, field: 'build' })));
    response.on('close', () => settle(signal?.aborted ? new CancelledError() : new AirlockError('build: the engine closed the build before it finished', { code: 'build.endedEarly', hint: BUILD_HINT, field: 'build' })));
  });
}

function engineMessage(error: unknown): string {
  const json = z.object({ message: z.string() }).safeParse((error as { json?: unknown }).json);
  if (json.success) return json.data.message.trim();
  return (error instanceof Error ? error.message : String(error)).trim();
}
