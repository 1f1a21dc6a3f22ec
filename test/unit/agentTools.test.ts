import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { AirlockError } from '../../src/core/ground/errors.js';
import { AGENT_TOOLS, callAgentTool, languageModelToolContributions, listChangesTool, parseToolInput, readFileTool, requestApplyTool, runCommandTool, toolInputJsonSchema, writeFileTool, type AgentTool } from '../../src/core/usecases/agentTools.js';
import { BoundedOutput } from '../../src/core/usecases/commandOutput.js';
import { workspacePath } from '../../src/core/usecases/boxFiles.js';
import type { TaskService } from '../../src/core/task/taskService.js';

/** The message a bad input is refused with, which must name the field. */
function refusal(tool: AgentTool, input: unknown): AirlockError {
  try {
    parseToolInput(tool, input);
  } catch (error) {
    assert.ok(error instanceof AirlockError, `${tool.name}: an AirlockError, not ${String(error)}`);
    assert.equal(error.code, 'tool.invalidInput');
    return error;
  }
  assert.fail(`${tool.name} accepted ${JSON.stringify(input)}`);
}

describe('agent tool definitions (one for MCP and VS Code)', () => {
  test('the five tools, names unique and MCP-safe, each with a title, a description and an object schema', () => {
    assert.deepEqual(AGENT_TOOLS.map((tool) => tool.name), ['run_command', 'read_file', 'write_file', 'list_changes', 'request_apply']);
    assert.equal(new Set(AGENT_TOOLS.map((tool) => tool.name)).size, AGENT_TOOLS.length);
    const chatNames = AGENT_TOOLS.flatMap((tool) => (tool.chat ? [tool.chat.name, tool.chat.toolReferenceName] : []));
    assert.equal(new Set(chatNames).size, chatNames.length, 'chat names and references are unique');
    for (const tool of AGENT_TOOLS) {
      assert.match(tool.name, /^[a-z][a-z_]{2,63}$/);
      assert.ok(tool.title.length > 5 && tool.description.length > 40, tool.name);
      const schema = toolInputJsonSchema(tool);
      assert.equal(schema.type, 'object', tool.name);
      assert.equal(schema.additionalProperties, false, `${tool.name}: unknown fields are refused, not ignored`);
      assert.equal('$schema' in schema, false);
    }
  });

  test('the chat subset is run command, list changes and read file', () => {
    assert.deepEqual(AGENT_TOOLS.filter((tool) => tool.chat).map((tool) => tool.name), ['run_command', 'read_file', 'list_changes']);
    for (const tool of AGENT_TOOLS.filter((item) => item.chat)) assert.match(tool.chat!.name, /^airlock_[a-z_]+$/);
  });

  test('hints: reads are read-only, writes and commands are not, apply requests destroy nothing, and nothing is open-world', () => {
    const hints = Object.fromEntries(AGENT_TOOLS.map((tool) => [tool.name, tool.annotations]));
    assert.deepEqual(hints, {
      run_command: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
      read_file: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      write_file: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
      list_changes: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      request_apply: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    });
  });

  test('good input parses, with the fields it gave and nothing else', () => {
    assert.deepEqual(parseToolInput(runCommandTool, { command: 'npm test', cwd: 'pkg', timeout: 30 }), { command: 'npm test', cwd: 'pkg', timeout: 30 });
    assert.deepEqual(parseToolInput(runCommandTool, { command: 'ls', approval: 'a'.repeat(24), task: 'abc123' }), { command: 'ls', approval: 'a'.repeat(24), task: 'abc123' });
    assert.deepEqual(parseToolInput(readFileTool, { path: 'src/a.ts', offset: 10, maxBytes: 100, encoding: 'base64' }), { path: 'src/a.ts', offset: 10, maxBytes: 100, encoding: 'base64' });
    assert.deepEqual(parseToolInput(writeFileTool, { path: 'a', content: '' }), { path: 'a', content: '' });
    assert.deepEqual(parseToolInput(listChangesTool, undefined), {});
    assert.deepEqual(parseToolInput(requestApplyTool, { paths: ['src'], changeSet: 'f'.repeat(32) }), { paths: ['src'], changeSet: 'f'.repeat(32) });
  });

  test('bad input is refused with a message that names the field', () => {
    const cases: Array<[AgentTool, unknown, string]> = [
      [runCommandTool, {}, 'command'],
      [runCommandTool, { command: '' }, 'command'],
      [runCommandTool, { command: 42 }, 'command'],
      [runCommandTool, { command: 'ls', timeout: 0 }, 'timeout'],
      [runCommandTool, { command: 'ls', timeout: 99_999 }, 'timeout'],
      [runCommandTool, { command: 'ls', timeout: 1.5 }, 'timeout'],
      [runCommandTool, { command: 'ls', approval: 'yes' }, 'approval'],
      [runCommandTool, { command: 'ls', task: '../x' }, 'task'],
      [runCommandTool, { command: 'ls', shell: 'zsh' }, 'shell'],
      [readFileTool, { path: 'a', maxBytes: 2 * 1024 * 1024 }, 'maxBytes'],
      [readFileTool, { path: 'a', offset: -1 }, 'offset'],
      [readFileTool, { path: 'a', encoding: 'latin1' }, 'encoding'],
      [readFileTool, {}, 'path'],
      [writeFileTool, { path: 'a' }, 'content'],
      [writeFileTool, { path: 'a', content: 'x', encoding: 'hex' }, 'encoding'],
      [listChangesTool, { paths: 'src' }, 'paths'],
      [listChangesTool, { diff: 'yes' }, 'diff'],
      [requestApplyTool, { changeSet: 'abc' }, 'changeSet'],
      [requestApplyTool, { allowRisky: [''] }, 'allowRisky.0'],
    ];
    for (const [tool, input, field] of cases) {
      const error = refusal(tool, input);
      assert.ok(error.message.startsWith(`${field}: `) || error.message.includes(`unknown field(s) ${field}`), `${tool.name} ${JSON.stringify(input)}: ${error.message}`);
      assert.doesNotMatch(error.message, /\n/, 'one line');
    }
  });

  test('a call with bad input answers with isError and the field, and never reaches the handler', async () => {
    const untouchable = new Proxy({}, { get: () => assert.fail('the handler ran') }) as TaskService;
    const result = await callAgentTool(runCommandTool, { command: 7 }, { tasks: untouchable, folders: ['/nowhere'] });
    assert.equal(result.isError, true);
    assert.match(result.text, /^command: /);
  });

  test('paths are taken from /workspace and may not leave it', () => {
    assert.equal(workspacePath('src/a.ts'), '/workspace/src/a.ts');
    assert.equal(workspacePath('/workspace/./b//c'), '/workspace/b/c');
    assert.equal(workspacePath('.'), '/workspace');
    for (const bad of ['../etc/passwd', '/etc/passwd', 'a/../../x', '/workspacex/y', 'a\0b']) {
      assert.throws(() => workspacePath(bad), (error: AirlockError) => error.field === 'path' && /^path: /.test(error.message), bad);
    }
    assert.throws(() => workspacePath('/tmp', 'cwd'), (error: AirlockError) => error.field === 'cwd');
  });

  test("a command's output keeps its start and its end within the budget, printable", () => {
    const output = new BoundedOutput(8, 8);
    for (const piece of ['0123', '4567', '89ab', 'cdef', 'ghij', 'kl\x1b[2Jmn']) output.take(Buffer.from(piece));
    assert.equal(output.bytes, 28);
    assert.equal(output.text(), '01234567\n[… 12 bytes left out …]\nkl^[[2Jmn');
    const small = new BoundedOutput(8, 8);
    small.take(Buffer.from('ab\ncd\u202e'));
    assert.equal(small.text(), 'ab\ncd<U+202E>');
  });
});

describe('package.json (the lead adds these entries: fails until then)', () => {
  const manifest = JSON.parse(fs.readFileSync(path.resolve('package.json'), 'utf8')) as { contributes?: { languageModelTools?: Array<Record<string, unknown>>; mcpServerDefinitionProviders?: Array<Record<string, unknown>> } };

  test('contributes.languageModelTools: the chat subset, each inputSchema exactly as generated from its zod schema', () => {
    const declared = manifest.contributes?.languageModelTools ?? [];
    const generated = languageModelToolContributions();
    assert.deepEqual(declared.map((entry) => entry.name), generated.map((entry) => entry.name), 'the same tools, in the same order');
    for (const entry of generated) {
      const found = declared.find((item) => item.name === entry.name);
      assert.deepEqual(found?.inputSchema, entry.inputSchema, `${entry.name}: inputSchema (regenerate it from the zod schema)`);
      assert.equal(found?.toolReferenceName, entry.toolReferenceName, `${entry.name}: toolReferenceName`);
      assert.equal(found?.canBeReferencedInPrompt, true, `${entry.name}: canBeReferencedInPrompt`);
      assert.equal(typeof found?.modelDescription, 'string', `${entry.name}: modelDescription`);
    }
  });

  test('contributes.mcpServerDefinitionProviders names airlock.mcp', () => {
    assert.ok((manifest.contributes?.mcpServerDefinitionProviders ?? []).some((entry) => entry.id === 'airlock.mcp'), JSON.stringify(manifest.contributes?.mcpServerDefinitionProviders));
  });
});
