import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Module from 'node:module';
import { after, before, describe, test } from 'node:test';
import type * as vscode from 'vscode';
import * as core from '../../src/core/index.js';
import { ApprovalBoard } from '../../src/core/approvals/approvalBoard.js';
import { gateCommand } from '../../src/core/gate/commandGate.js';
import type { TaskRecord } from '../../src/core/state/taskRecord.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import type { TaskService } from '../../src/core/task/taskService.js';
import * as agentTools from '../../src/core/usecases/agentTools.js';
import type { AirlockSession } from '../../src/extension/session/airlockSession.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

/**
 * The chat's language-model tools, driven as VS Code drives them (prepareInvocation, then invoke)
 * with a stand-in `vscode` and a task whose commands go through the real gate: a gated command
 * asks for confirmation and says a reviewer must also approve it, files nothing while preparing,
 * and on invoke files its request and answers at once.
 */

type Tool = vscode.LanguageModelTool<unknown>;
const registered = new Map<string, Tool>();
const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose: () => undefined }) } as unknown as vscode.CancellationToken;
let workspace = '';
let store: TaskStore;
let record: TaskRecord;
const ran: string[] = [];

const fakeVscode = {
  lm: { registerTool: (name: string, tool: Tool) => (registered.set(name, tool), { dispose: () => registered.delete(name) }) },
  workspace: { get workspaceFolders() { return [{ uri: { scheme: 'file', fsPath: workspace } }]; } },
  MarkdownString: class { value = ''; appendText(text: string) { this.value += text; return this; } appendMarkdown(text: string) { this.value += text; return this; } },
  LanguageModelToolResult: class { constructor(readonly content: unknown[]) {} },
  LanguageModelTextPart: class { constructor(readonly value: string) {} },
};

before(async () => {
  const load = (Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown })._load;
  (Module as unknown as { _load: typeof load })._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? fakeVscode : load.call(this, request, ...rest);
  };
  workspace = makeTempDir('airlock-lmtools-ws-');
  store = new TaskStore(makeTempDir('airlock-lmtools-state-'));
  const id = randomBytes(6).toString('hex');
  store.create(id);
  const now = new Date();
  record = {
    id, createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + 3_600_000).toISOString(), workspace, image: 'none', runtime: 'runc', containerId: 'none', containerName: 'none', user: '1000:1000', env: {},
    options: { commands: { ask: ['touch'], deny: ['curl'] } },
    snapshot: { kind: 'folder', files: 0, bytes: 0, excluded: [], manifestFile: '/nowhere', archiveFile: '/nowhere' },
  };
  store.save(record);
  // A TaskService as far as the tools use it here: the records, and an exec behind the real gate.
  const service = {
    store,
    live: (idOrPrefix: string) => Promise.resolve(store.resolve(idOrPrefix)),
    exec: async (_id: string, request: Parameters<TaskService['exec']>[1]) => {
      await gateCommand(store, record, { line: request.line! }, request.cwd!, request.gate || {});
      ran.push(request.line!);
      await request.onStdout?.(Buffer.from('ran it\n'));
      return { exitCode: 0, timedOut: false, cancelled: false, bytesOut: 7, bytesErr: 0, backend: 'docker-exec' as const };
    },
  } as unknown as TaskService;
  const session = { core: { ...core, ...agentTools }, connect: () => Promise.resolve(service) } as unknown as AirlockSession;
  const { registerLanguageModelTools } = await import('../../src/extension/agents/languageModelTools.js');
  registerLanguageModelTools({ subscriptions: [] } as unknown as vscode.ExtensionContext, session);
});

after(removeTempDirs);

const tool = (name: string) => registered.get(name)!;
const prepare = (name: string, input: unknown) => Promise.resolve(tool(name).prepareInvocation!({ input }, token));
const invoke = async (name: string, input: unknown) => {
  const result = (await tool(name).invoke({ input, toolInvocationToken: undefined }, token)) as unknown as { content: Array<{ value: string }> };
  return result.content.map((part) => part.value).join('');
};
const requests = () => new ApprovalBoard(store).queue(record.id).requests();

describe('language-model tools (the chat subset)', () => {
  test('registers run command, read file and list changes by their contributed names', () => {
    assert.deepEqual([...registered.keys()], ['airlock_run_command', 'airlock_read_file', 'airlock_list_changes']);
  });

  test('a gated command asks for confirmation, says a reviewer must also approve it, and files nothing yet', async () => {
    const prepared = await prepare('airlock_run_command', { command: 'touch made.txt' });
    assert.ok(prepared?.confirmationMessages, JSON.stringify(prepared));
    const message = (prepared.confirmationMessages.message as unknown as { value: string }).value;
    assert.match(message, /touch made\.txt/);
    assert.match(message, /task ask rule "touch"/);
    assert.match(message, /A reviewer must also approve it in the Airlock Approvals view before it runs/);
    assert.deepEqual(requests(), []);
    assert.equal(store.audit(record.id).read(), '', 'preparing records nothing');
  });

  test('an allowed command shows where it runs, a refused one says so; neither asks', async () => {
    const allowed = await prepare('airlock_run_command', { command: 'ls -la' });
    assert.equal(allowed?.confirmationMessages, undefined);
    assert.match(allowed?.invocationMessage as string, new RegExp(`^Running in Airlock task ${record.id} \\(/workspace\\): ls -la$`));
    const refused = await prepare('airlock_run_command', { command: 'curl example.invalid' });
    assert.equal(refused?.confirmationMessages, undefined);
    assert.match(refused?.invocationMessage as string, /^Airlock refuses this command \(curl example\.invalid: task deny rule "curl"\)/);
  });

  test('invoking a gated command files its request and answers at once, without running it', async () => {
    const text = await invoke('airlock_run_command', { command: 'touch made.txt' });
    const id = /^waiting for approval ([0-9a-f]{24}): the command did not run\./.exec(text)?.[1];
    assert.ok(id, text);
    assert.match(text, /A person decides in the Airlock Approvals view \(Approve or Deny\)\./);
    assert.deepEqual(requests().map((request) => request.id), [id]);
    assert.deepEqual(ran, []);
  });

  test('a refusal reaches the model as the tool failing, in the refusal words; an allowed command runs', async () => {
    await assert.rejects(invoke('airlock_run_command', { command: 'curl example.invalid' }), /^Error: refused: curl example\.invalid: task deny rule "curl"; the command did not run$/);
    const text = await invoke('airlock_run_command', { command: 'echo hi' });
    assert.match(text, /^exit code 0; ran in \/workspace of task [0-9a-f]{12}/);
    assert.match(text, /--- stdout \(7 bytes\) ---\nran it\n/);
    assert.deepEqual(ran, ['echo hi']);
  });
});
