import { createHash } from 'node:crypto';
import { z } from 'zod';
import { describeRefusal, type ApprovalRequest } from '../approvals/approvalQueue.js';
import { recordFields } from '../audit/auditLog.js';
import { ChangeService, formatChanges, type TaskChanges } from '../changes/changeService.js';
import { shortChangeSetId } from '../changes/changeSet.js';
import { formatZodError } from '../config/taskOptions.js';
import { CommandRefused, CommandWaiting, previewCommand } from '../gate/commandGate.js';
import { describeFinding } from '../commands/commandClassifier.js';
import { AirlockError, CancelledError, describeError, type ErrorWording } from '../ground/errors.js';
import { printable, printableLine } from '../ground/printable.js';
import { WORKSPACE_PATH } from '../ground/sandboxPaths.js';
import { sandboxIds } from '../task/containerSpec.js';
import type { TaskService } from '../task/taskService.js';
import { applyRequestOutcome, fileApplyRequest } from './applyRequest.js';
import { readBoxFile, workspacePath, writeBoxFile } from './boxFiles.js';
import { BoundedOutput } from './commandOutput.js';
import { taskForFolder, type FolderTask } from './folderTask.js';
import { runShellLine } from './shellLine.js';

/**
 * Airlock's tools for coding agents, defined once: the MCP server (`mcp`) and VS Code's
 * language-model tools register these same names, schemas, hints and handlers. Every handler
 * works through the core (TaskService, ChangeService, the gate and its approval queue), acts only
 * inside a task's box or files a request for a person, and answers in printable text: what the
 * box wrote is untrusted and never reaches an agent or a chat view with control characters in it.
 */

export const AGENT_TOOL_LIMITS = {
  /** What a command's answer keeps of each stream: its start and its end. */
  outputHeadBytes: 16 * 1024,
  outputTailBytes: 48 * 1024,
  defaultTimeoutSeconds: 300,
  maxTimeoutSeconds: 3600,
  defaultReadBytes: 64 * 1024,
  maxReadBytes: 1024 * 1024,
  /** Characters of `content`: 8 MiB of text, or 6 MiB of bytes in base64. */
  maxWriteChars: 8 * 1024 * 1024,
  /** Characters of unified diff in one answer; naming paths shows the rest. */
  maxDiffChars: 96 * 1024,
  maxPaths: 200,
} as const;

export interface AgentToolContext {
  tasks: TaskService;
  /** Host folders whose task a call that names none uses, first match first (the server's folder; the editor's workspace folders). */
  folders: readonly string[];
  /** The one task this front end serves; a call naming another is refused. */
  task?: string;
  signal?: AbortSignal;
  /** Where a reviewer decides a request, in the front end's own words (its view, its commands). */
  whereToDecide?: (request: ApprovalRequest) => string;
  /** The front end's wording of errors' hints and fields. */
  wording?: ErrorWording;
}

export interface AgentToolResult {
  /** Printable text for the agent. */
  text: string;
  /** The tool could not do what was asked: a refusal, bad input, an Airlock error. */
  isError: boolean;
}

/** MCP's tool annotations; every tool acts on a task's closed box, never the open world. */
export interface AgentToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: false;
}

export interface AgentTool<S extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  /** For the model: what it does, what it answers, how approvals work. */
  description: string;
  inputSchema: S;
  annotations: AgentToolAnnotations;
  /** In VS Code's chat as a language-model tool (the chat subset): its contributed name and `#` reference. */
  chat?: { name: string; toolReferenceName: string };
  run(input: z.output<S>, context: AgentToolContext): Promise<AgentToolResult>;
}

const defineTool = <S extends z.ZodObject>(tool: AgentTool<S>): AgentTool<S> => tool;

const taskField = z
  .string()
  .regex(/^[a-z0-9]{1,32}$/, 'a task id, or its first characters')
  .optional()
  .describe('The task id (or its first characters). Default: the live task whose workspace holds the folder this session works in.');

const pathsField = (what: string) =>
  z
    .array(z.string().min(1).max(4096))
    .max(AGENT_TOOL_LIMITS.maxPaths)
    .optional()
    .describe(what);

const approvalId = z.string().regex(/^[a-f0-9]{24}$/, 'the 24-character approval id a previous call returned');

const fromWorkspace = (what: string) => `${what}, relative to ${WORKSPACE_PATH} (or absolute inside it).`;

/** The task a call works in: the one the front end serves, the one named, or the one for the session's folder. */
async function taskOf(context: AgentToolContext, named: string | undefined): Promise<FolderTask> {
  const { tasks, folders } = context;
  const here = folders[0] ?? WORKSPACE_PATH;
  if (context.task) {
    const served = tasks.store.resolve(context.task).id;
    if (named !== undefined && tasks.store.resolve(named).id !== served) {
      throw new AirlockError(`task: this session serves task ${served} only`, { code: 'tool.otherTask', hint: 'Leave the task out, or name that task.', field: 'task' });
    }
    return taskForFolder(tasks, here, served);
  }
  if (named !== undefined) return taskForFolder(tasks, here, named);
  let last: Error | undefined;
  for (const folder of folders) {
    try {
      return await taskForFolder(tasks, folder);
    } catch (error) {
      last = error as Error;
    }
  }
  throw last ?? new AirlockError('no folder to find a task for', { code: 'task.noneForFolder', hint: 'Start a task for this folder first, or name the task.', field: 'task', actions: [{ kind: 'startTask' }] });
}

const defaultWhere = () => "in Airlock's approvals (VS Code's Approvals view, or the approvals on the command line)";

const seconds = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);

export const runCommandTool = defineTool({
  name: 'run_command',
  title: 'Run a command in the Airlock task',
  description: [
    "Runs one shell command line inside the Airlock task's hardened container (bash, or sh where the image has none), as the sandbox user, in the task's private copy of the workspace at /workspace.",
    'Nothing runs on the host, and nothing reaches the host until a person reviews the changes. Answers with the exit code and the output (the start and the end of long output).',
    'Commands the task policy gates are not run at once: the answer is "waiting for approval <id>" and a person decides. Call again with the same command, cwd and that approval id to run it once allowed (one run per approval); until then the answer is "still waiting". A refused command answers with the refusal.',
  ].join(' '),
  inputSchema: z.strictObject({
    command: z.string().min(1).max(64 * 1024).describe('The shell command line, exactly as for bash -c.'),
    cwd: z.string().min(1).max(4096).optional().describe(`${fromWorkspace('The working folder')} Default: the session folder's place in the task.`),
    timeout: z.number().int().min(1).max(AGENT_TOOL_LIMITS.maxTimeoutSeconds).optional().describe(`Seconds before the command and everything it started are killed (default ${AGENT_TOOL_LIMITS.defaultTimeoutSeconds}).`),
    approval: approvalId.optional().describe('The approval id an earlier call for this same command and cwd answered with: runs the command once a person has allowed it.'),
    task: taskField,
  }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  chat: { name: 'airlock_run_command', toolReferenceName: 'airlockRun' },
  async run(input, context) {
    const folder = await taskOf(context, input.task);
    const cwd = input.cwd !== undefined ? workspacePath(input.cwd, 'cwd') : folder.boxCwd;
    const timeoutSeconds = input.timeout ?? AGENT_TOOL_LIMITS.defaultTimeoutSeconds;
    const stdout = new BoundedOutput(AGENT_TOOL_LIMITS.outputHeadBytes, AGENT_TOOL_LIMITS.outputTailBytes);
    const stderr = new BoundedOutput(AGENT_TOOL_LIMITS.outputHeadBytes, AGENT_TOOL_LIMITS.outputTailBytes);
    const started = Date.now();
    try {
      const result = await runShellLine(context.tasks, folder.record.id, {
        line: input.command,
        cwd,
        timeoutMs: timeoutSeconds * 1000,
        signal: context.signal,
        // A session runs many commands: the task's runner where the image has node.
        backend: 'auto',
        gate: { noWait: true, ...(input.approval !== undefined ? { approval: input.approval } : {}) },
        onStdout: stdout.take,
        onStderr: stderr.take,
      });
      const how = result.timedOut
        ? `timed out after ${timeoutSeconds} s: the command and everything it started were killed (exit code ${result.exitCode})`
        : result.taskEnded
          ? `the task ended while the command ran (${result.taskEnded}); it was killed with it (exit code ${result.exitCode}). A person starts a new task to go on`
          : result.cancelled
            ? `cancelled (exit code ${result.exitCode})`
            : `exit code ${result.exitCode}`;
      const lines = [`${how}; ran in ${printableLine(cwd)} of task ${folder.record.id} (${seconds(Date.now() - started)})`];
      for (const [name, output] of [['stdout', stdout], ['stderr', stderr]] as const) {
        if (output.bytes) lines.push(`--- ${name} (${output.bytes} bytes) ---`, output.text());
      }
      if (!stdout.bytes && !stderr.bytes) lines.push('(no output)');
      return { text: lines.join('\n'), isError: false };
    } catch (error) {
      if (error instanceof CommandWaiting) return { text: waitingText(error.request, input.approval !== undefined, context), isError: false };
      if (error instanceof CommandRefused) return { text: `${error.message}; the command did not run`, isError: true };
      throw error;
    }
  },
});

export interface RunPreview {
  task: string;
  cwd: string;
  /** The command as a reviewer sees it. */
  subject: string;
  /** What the gate would do now: `ask` only when no earlier allow for the task covers it. */
  decision: 'allow' | 'ask' | 'deny';
  /** The strictest rule's reason, for ask and deny. */
  reason?: string;
}

/**
 * What run_command would meet, for a confirmation before the call: the task, the folder, and
 * the gate's verdict, with nothing filed or recorded. The call itself still goes through the gate.
 */
export async function previewRunCommand(input: unknown, context: AgentToolContext): Promise<RunPreview> {
  const parsed = parseToolInput(runCommandTool, input);
  const folder = await taskOf(context, parsed.task);
  const cwd = parsed.cwd !== undefined ? workspacePath(parsed.cwd, 'cwd') : folder.boxCwd;
  const { verdict, subject, granted } = await previewCommand(context.tasks.store, folder.record, { line: parsed.command }, cwd);
  const decision = verdict.decision === 'ask' && granted ? 'allow' : verdict.decision;
  const first = verdict.findings.find((finding) => finding.decision === verdict.decision);
  return { task: folder.record.id, cwd, subject, decision, ...(decision !== 'allow' && first ? { reason: printableLine(describeFinding(first)) } : {}) };
}

function waitingText(request: ApprovalRequest, again: boolean, context: AgentToolContext): string {
  const where = context.whereToDecide?.(request) ?? defaultWhere();
  return [
    `${again ? 'still waiting' : 'waiting'} for approval ${request.id}: the command did not run.`,
    `command: ${printableLine(request.subject)}`,
    `why: ${printableLine(request.reason)}`,
    `A person decides ${printableLine(where)}.`,
    `Call this tool again with the same command and cwd and approval "${request.id}" to run it once it is allowed; unanswered, it is refused at ${request.expiresAt}.`,
  ].join('\n');
}

/** The bytes as text, when they are UTF-8 without NUL (a character cut at the end of a piece read still counts). */
function asText(bytes: Buffer, cut: boolean): string | undefined {
  if (bytes.includes(0)) return undefined;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let trim = 0; trim <= (cut ? 3 : 0) && trim <= bytes.length; trim++) {
    try {
      return decoder.decode(bytes.subarray(0, bytes.length - trim));
    } catch {
      // a longer cut character, or not text
    }
  }
  return undefined;
}

export const readFileTool = defineTool({
  name: 'read_file',
  title: 'Read a file in the Airlock task',
  description: [
    `Reads a file of the task's workspace copy (${WORKSPACE_PATH} inside the task's container), as the agent's commands left it: the task's own files, never the host's.`,
    `Text comes back as text (control characters shown escaped); other bytes, or encoding "base64", as base64. At most ${AGENT_TOOL_LIMITS.defaultReadBytes} bytes by default (maxBytes up to ${AGENT_TOOL_LIMITS.maxReadBytes}); offset reads further on. Symlinks are not followed.`,
  ].join(' '),
  inputSchema: z.strictObject({
    path: z.string().min(1).max(4096).describe(fromWorkspace('The file')),
    offset: z.number().int().min(0).optional().describe('Byte to start at (default 0).'),
    maxBytes: z.number().int().min(1).max(AGENT_TOOL_LIMITS.maxReadBytes).optional().describe(`Bytes to read at most (default ${AGENT_TOOL_LIMITS.defaultReadBytes}).`),
    encoding: z.enum(['text', 'base64']).optional().describe('"base64" for the exact bytes; default: text when the file is UTF-8 text.'),
    task: taskField,
  }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  chat: { name: 'airlock_read_file', toolReferenceName: 'airlockReadFile' },
  async run(input, context) {
    const folder = await taskOf(context, input.task);
    const boxPath = workspacePath(input.path);
    const container = context.tasks.engine.docker.getContainer(folder.record.containerId);
    const file = await readBoxFile(container, boxPath, { offset: input.offset ?? 0, maxBytes: input.maxBytes ?? AGENT_TOOL_LIMITS.defaultReadBytes, signal: context.signal });
    const end = file.offset + file.bytes.length;
    const range = file.offset > 0 || file.truncated ? `; bytes ${file.offset}–${end} shown${file.truncated ? ` (offset ${end} reads on)` : ''}` : '';
    const text = input.encoding === 'base64' ? undefined : asText(file.bytes, file.truncated);
    if (text === undefined) return { text: `${printableLine(boxPath)}: ${file.size} bytes${range}; base64:\n${file.bytes.toString('base64')}`, isError: false };
    // Line by line, so each line keeps its own CR (a CRLF file reads as one) and nothing else is obeyed.
    const shown = text.split('\n').map(printable).join('\n');
    const escaped = shown !== text ? '; control characters shown escaped (encoding "base64" gives the exact bytes)' : '';
    return { text: `${printableLine(boxPath)}: ${file.size} bytes${range}${escaped}\n${shown}`, isError: false };
  },
});

export const writeFileTool = defineTool({
  name: 'write_file',
  title: 'Write a file in the Airlock task',
  description: [
    `Writes a whole file in the task's workspace copy (${WORKSPACE_PATH} inside the task's container), owned by the sandbox user, making missing folders. Never the host: the change shows in the task's changes, and reaches the host only through a reviewed apply.`,
    'A replaced file keeps its permissions; a new one is 0644. Paths through symlinks, and folders, are refused.',
  ].join(' '),
  inputSchema: z.strictObject({
    path: z.string().min(1).max(4096).describe(fromWorkspace('The file')),
    content: z.string().max(AGENT_TOOL_LIMITS.maxWriteChars).describe('The whole new content.'),
    encoding: z.enum(['utf8', 'base64']).optional().describe('How content is given (default utf8).'),
    task: taskField,
  }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async run(input, context) {
    if (input.encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(input.content.replace(/\s+/g, ''))) {
      throw new AirlockError('content: is not base64', { code: 'tool.invalidInput', hint: 'Give base64 text, or leave encoding out for plain text.', field: 'content' });
    }
    const folder = await taskOf(context, input.task);
    const boxPath = workspacePath(input.path);
    const bytes = Buffer.from(input.content, input.encoding === 'base64' ? 'base64' : 'utf8');
    const container = context.tasks.engine.docker.getContainer(folder.record.containerId);
    const outcome = await writeBoxFile(container, boxPath, bytes, { ...sandboxIds({ user: folder.record.user }), signal: context.signal });
    // A command's audit line names what it ran; a write names what it wrote, so the log tells how each file came to be.
    context.tasks.store.audit(folder.record.id).append({ type: 'file.written', task: folder.record.id, path: boxPath, bytes: outcome.bytes, sha256: createHash('sha256').update(bytes).digest('hex'), created: outcome.created, by: 'write_file' });
    const folders = outcome.folders.length ? `; made ${outcome.folders.map(printableLine).join(', ')}` : '';
    return { text: `wrote ${outcome.bytes} bytes to ${printableLine(boxPath)} in task ${folder.record.id} (${outcome.created ? 'new file' : 'replaced'}${folders}); the host is unchanged`, isError: false };
  },
});

/** One line per change: what a reviewer sees first. */
function changeLines(changes: TaskChanges, only: (path: string) => boolean): string[] {
  return changes.changeSet.files
    .filter((change) => only(change.path) || (change.oldPath !== undefined && only(change.oldPath)))
    .map((change) => {
      const notes = [change.oldPath !== undefined ? `from ${printableLine(change.oldPath)}` : '', change.binary ? 'binary' : '', change.risk.length ? `risky: ${change.risk.map(printableLine).join('; ')}` : '', change.refusal ? `never applied: ${printableLine(change.refusal)}` : ''].filter(Boolean);
      return `  ${change.status.padEnd(8)} ${printableLine(change.path)}${notes.length ? `  (${notes.join('; ')})` : ''}`;
    });
}

const pathFilter = (paths: readonly string[] | undefined) => {
  const named = (paths ?? []).map((item) => item.replace(/^\/workspace\/?/, '').replace(/\/+$/, ''));
  return named.length ? (rel: string) => named.some((item) => rel === item || rel.startsWith(`${item}/`)) : () => true;
};

export const listChangesTool = defineTool({
  name: 'list_changes',
  title: "List the Airlock task's changes",
  description: [
    "Takes a fresh look at what the task changed in its workspace copy against the snapshot it started from: one line per file (added, modified, deleted, renamed; risky and never-applied files marked) and a unified diff.",
    'It names the change set it saw, so that an apply request can name exactly that set.',
  ].join(' '),
  inputSchema: z.strictObject({
    paths: pathsField('Only these paths or folders, relative to the workspace.'),
    diff: z.boolean().optional().describe('Include the unified diff (default true).'),
    task: taskField,
  }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  chat: { name: 'airlock_list_changes', toolReferenceName: 'airlockChanges' },
  async run(input, context) {
    const folder = await taskOf(context, input.task);
    const changes = await new ChangeService(context.tasks).changes(folder.record.id, { signal: context.signal });
    const only = pathFilter(input.paths);
    const listed = changeLines(changes, only);
    const count = changes.changeSet.files.length;
    const lines = [`change set ${shortChangeSetId(changes.changeSet.id)} of task ${folder.record.id}: ${count === 0 ? 'no changes' : `${count} change(s)`}${input.paths?.length ? `, ${listed.length} under the paths named` : ''}`, ...listed];
    if (input.diff !== false && listed.length) {
      let diff = formatChanges(changes, (change) => only(change.path) || (change.oldPath !== undefined && only(change.oldPath)));
      if (diff.length > AGENT_TOOL_LIMITS.maxDiffChars) {
        const cut = diff.lastIndexOf('\n', AGENT_TOOL_LIMITS.maxDiffChars);
        diff = `${diff.slice(0, cut > 0 ? cut : AGENT_TOOL_LIMITS.maxDiffChars)}\n[… the diff goes on for ${diff.length - (cut > 0 ? cut : AGENT_TOOL_LIMITS.maxDiffChars)} more characters: name paths to see the rest …]\n`;
      }
      lines.push('', diff.trimEnd());
    }
    return { text: lines.join('\n'), isError: false };
  },
});

export const requestApplyTool = defineTool({
  name: 'request_apply',
  title: "Ask a person to apply the Airlock task's changes",
  description: [
    "Files a request for a person to apply the task's changes to the host workspace: all changes that are neither risky nor refused, or the paths named (risky ones only when named in allowRisky).",
    'The request names the change set (a fresh look, or the one given) and every file by its hash; the person reviews exactly that, and approving it writes exactly that to the host. Answers with the request id at once, without waiting.',
    'Call again with only approval (that id) to learn how it ended: still waiting, refused and why, or written (the files written, and those the host kept because it had changed them itself).',
  ].join(' '),
  inputSchema: z.strictObject({
    paths: pathsField('Only these paths or folders, relative to the workspace (default: every change that is neither risky nor refused).'),
    allowRisky: pathsField('Risky paths to include, each named on its own.'),
    changeSet: z.string().regex(/^[0-9a-f]{32,64}$/, 'the change set id list_changes named').optional().describe('The change set list_changes named, exactly as it was (default: a fresh look).'),
    approval: approvalId.optional().describe('The id an earlier request_apply answered with: files nothing, and answers how that request ended.'),
    task: taskField,
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async run(input, context) {
    const folder = await taskOf(context, input.task);
    if (input.approval !== undefined) {
      if (input.paths?.length || input.allowRisky?.length || input.changeSet !== undefined) {
        throw new AirlockError('approval: give it alone, to ask how that request ended; paths, allowRisky and changeSet file a new one', { code: 'tool.invalidInput', hint: 'Leave approval out to file a new request.', field: 'approval' });
      }
      return { text: applyOutcomeText(applyRequestOutcome(context.tasks.store, folder.record.id, input.approval), context), isError: false };
    }
    const request = await fileApplyRequest(new ChangeService(context.tasks), folder.record.id, { paths: input.paths ?? [], allowRisky: input.allowRisky ?? [], hunks: {} }, { signal: context.signal, ...(input.changeSet !== undefined ? { changeSet: input.changeSet } : {}) });
    const files = Array.isArray(request.details?.files) ? (request.details.files as unknown[]).map((item) => `  ${printableLine(String(item))}`) : [];
    const where = context.whereToDecide?.(request) ?? defaultWhere();
    return {
      text: [
        `apply request ${request.id} filed for task ${folder.record.id}: ${printableLine(request.subject)}, from change set ${printableLine(shortChangeSetId(typeof request.details?.changeSet === 'string' ? request.details.changeSet : ''))}`,
        ...files,
        `Nothing was written to the host yet. A person reviews exactly these files and decides ${printableLine(where)}; approving writes them. Unanswered, it is refused at ${request.expiresAt}. Call request_apply with approval "${request.id}" to learn how it ended.`,
      ].join('\n'),
      isError: false,
    };
  },
});

function applyOutcomeText(outcome: ReturnType<typeof applyRequestOutcome>, context: AgentToolContext): string {
  const { request } = outcome;
  const head = `apply request ${request.id}: ${printableLine(request.subject)}`;
  switch (outcome.state) {
    case 'waiting':
      return `${head}\nstill waiting for a person, who decides ${printableLine(context.whereToDecide?.(request) ?? defaultWhere())}; unanswered, it is refused at ${request.expiresAt}. Nothing was written to the host.`;
    case 'refused':
      return `${head}\nrefused: ${printableLine(describeRefusal(outcome.decision))}. Nothing was written to the host.`;
    case 'allowed':
      return `${head}\nallowed by ${printableLine(outcome.decision.by)} at ${outcome.decision.at}; not written yet (the reviewer's Airlock writes it as it records the allow). Ask again shortly.`;
    case 'applied': {
      const entries = (key: string) => (Array.isArray(outcome.applied[key]) ? (outcome.applied[key] as unknown[]) : []).map((item) => recordFields(item));
      const written = entries('written').filter((item) => item.action !== 'mkdir');
      const kept = [...entries('refused'), ...entries('held')];
      return [
        `${head}\nallowed by ${printableLine(outcome.decision.by)} and written to the host at ${printableLine(String(outcome.applied.time))}: ${written.length} file(s)${kept.length ? `, ${kept.length} not written` : ''}`,
        ...written.map((item) => `  ${printableLine(String(item.action))} ${printableLine(String(item.path))}`),
        ...kept.map((item) => `  not written: ${printableLine(String(item.path))}: ${printableLine(String(item.reason))}`),
      ].join('\n');
    }
  }
}

/** Every tool, in the order front ends list them. */
export const AGENT_TOOLS: readonly AgentTool[] = [runCommandTool, readFileTool, writeFileTool, listChangesTool, requestApplyTool];

/** The input as the tool's schema reads it, or an error naming the field. */
export function parseToolInput<S extends z.ZodObject>(tool: AgentTool<S>, input: unknown): z.output<S> {
  const parsed = tool.inputSchema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  throw new AirlockError(formatZodError(parsed.error), { code: 'tool.invalidInput', hint: `Call ${tool.name} with the fields its input schema names.`, field: parsed.error.issues[0]?.path.join('.') || undefined });
}

/**
 * One call of a tool from any front end: the input checked, the handler run, and every failure
 * an answer with `isError` (one printable message and its hint), so an agent always gets text.
 */
export async function callAgentTool(tool: AgentTool, input: unknown, context: AgentToolContext): Promise<AgentToolResult> {
  try {
    return await tool.run(parseToolInput(tool, input), context);
  } catch (error) {
    if (CancelledError.is(error) || context.signal?.aborted) return { text: 'cancelled', isError: true };
    return { text: describeError(error, context.wording), isError: true };
  }
}

/** The tool's input as JSON Schema (draft-07, the input side), as MCP lists it and VS Code's package.json declares it. */
export function toolInputJsonSchema(tool: AgentTool): Record<string, unknown> {
  const { $schema: _schema, ...schema } = z.toJSONSchema(tool.inputSchema, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  return schema;
}

/** The `contributes.languageModelTools` entries for the chat subset, generated from the same definitions. */
export function languageModelToolContributions(): Array<{ name: string; displayName: string; modelDescription: string; toolReferenceName: string; canBeReferencedInPrompt: boolean; inputSchema: Record<string, unknown> }> {
  return AGENT_TOOLS.flatMap((tool) => (tool.chat ? [{ name: tool.chat.name, displayName: tool.title, modelDescription: tool.description, toolReferenceName: tool.chat.toolReferenceName, canBeReferencedInPrompt: true, inputSchema: toolInputJsonSchema(tool) }] : []));
}
