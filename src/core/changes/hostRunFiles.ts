/**
 * Files the host runs, or acts on, without the developer choosing to run them: on folder open, by
 * editor tooling as it works (linters, formatters, test discovery, language servers that import or
 * build the project), on install or build, on a git action, and by coding agents. A change to any
 * of them is never taken by a blanket yes.
 *
 * This is the one list (riskRules.ts reads it; teams add globs with riskyPatterns, never remove).
 * Each entry's reason is shown to the reviewer, so it says what runs and when.
 *
 * What is deliberately not here: the project's own source and tests (the review is about them;
 * they run when the developer runs the project or its tests), `//go:generate` lines (only on an
 * explicit `go generate`), Dockerfiles (their RUN steps execute inside the builder, not on the
 * host), .editorconfig (no code), and shell rc files at the root (nothing sources them).
 *
 * Files that usually change harmlessly (package.json, lockfiles, pyproject.toml, Cargo.toml,
 * go.mod, tsconfig.json, composer.json, requirements.txt) are judged by content in
 * hostRunContent.ts instead of listed here.
 *
 * Globs are picomatch, matched with `dot` and case-insensitively (macOS and Windows hosts).
 */
export interface HostRunRule {
  // Keep globstars outside braces: picomatch does not match a brace holding a leading globstar at the root.
  glob: string | readonly string[];
  reason: string;
}

export const HOST_RUN_FILES: readonly HostRunRule[] = [
  // git and hook runners
  { glob: '**/.git/**', reason: 'git hooks and configuration run on the host' },
  { glob: '**/{.hg,.jj}/**', reason: 'Mercurial or Jujutsu repository configuration (hooks, aliases, fsmonitor commands) runs on the host' },
  { glob: '**/.gitattributes', reason: 'git attributes can run filter and diff drivers on the host' },
  // A planted bare repository needs HEAD beside objects/ and refs/; holding HEAD back keeps host git from discovering it.
  { glob: '**/HEAD', reason: 'a git HEAD file: with objects/ and refs/ beside it, host git treats the folder as a repository and runs its config (fsmonitor, hooks) in any shell or editor opened there' },
  { glob: '**/.gitmodules', reason: 'submodule URLs and paths are fetched by host git' },
  { glob: '**/.gitconfig', reason: 'git configuration' },
  { glob: '**/.lfsconfig', reason: 'git-lfs reads its endpoints and transfer settings from this file on checkout and push' },
  { glob: '**/{.githooks,.git-hooks,.husky}/**', reason: 'git hooks run on the host' },
  {
    glob: '**/{.pre-commit-config.yaml,.pre-commit-config.yml,.pre-commit-hooks.yaml,lefthook{,-local}.{yml,yaml,json,toml},.lefthook{,-local}.{yml,yaml,json,toml},.lefthook/**,.config/lefthook.{yml,yaml},.overcommit.yml,captainhook.json}',
    reason: 'commit hooks run on the host',
  },
  {
    glob: `**/{.lintstagedrc,.lintstagedrc.*,lint-staged.config.*,.nano-staged.*,nano-staged.*,.simple-git-hooks.*,simple-git-hooks.*,.huskyrc,.huskyrc.*,commitlint.config.*,.commitlintrc,.commitlintrc.*}`,
    reason: 'a git hook runner reads the commands it runs on commit from this file',
  },

  // editors
  { glob: '**/.vscode/**', reason: 'VS Code runs or configures this on the host' },
  { glob: '**/*.code-workspace', reason: 'VS Code workspace settings and tasks' },
  { glob: '**/{.idea,.run,.fleet}/**', reason: 'JetBrains project settings and run configurations, loaded when the project opens' },
  { glob: '**/{.zed/**,.helix/**,.nvim.lua,.nvimrc,.exrc,.lvimrc,.dir-locals.el,.dir-locals-2.el,*.sublime-project,.theia/**}', reason: 'editor project configuration (language servers, tasks, local scripts) loaded when the folder opens' },
  { glob: '{.devcontainer/**,.devcontainer.json}', reason: 'dev container definition (what runs, what is mounted)' },

  // coding agents
  {
    glob: [
      // Agents read these in subfolders too (nested CLAUDE.md and AGENTS.md apply to the files below them).
      '**/{.mcp.json,.claude/**,CLAUDE.md,CLAUDE.local.md,AGENTS.md,AGENT.md,GEMINI.md,QWEN.md,.cursor/**}',
      '{mcp.json,.cursorrules,.cursorignore,.clinerules,.clinerules/**,.cline/**,.windsurfrules,.windsurf/**,.codeium/**,.continue/**,.continuerc.json,.aider*,.github/copilot-instructions.md,.github/instructions/**,.github/prompts/**,.github/chatmodes/**,.github/agents/**,.github/copilot/**,.codex/**,.gemini/**,.qwen/**,.roo/**,.roomodes,.roorules*,.kilocode/**,.kilocodemodes,.amazonq/**,.junie/**,.kiro/**,.trae/**,.augment/**,.augment-guidelines,.openhands/**,.opencode/**,opencode.json,opencode.jsonc,.crush.json,crush.json,.goosehints,.rules,.agents/**}',
    ],
    reason: 'coding-agent configuration or instructions',
  },
  { glob: '.airlock.json', reason: 'Airlock team policy file' },

  // CI
  { glob: '{.github/workflows/**,.github/actions/**}', reason: 'CI workflow' },
  {
    glob: '{.gitlab-ci.yml,.gitlab/**,.circleci/**,.travis.yml,azure-pipelines.yml,.azure-pipelines/**,bitbucket-pipelines.yml,Jenkinsfile,.buildkite/**,.drone.yml,.woodpecker.yml,.woodpecker/**,.forgejo/workflows/**,.gitea/workflows/**,appveyor.yml,.appveyor.yml,.semaphore/**,cloudbuild.y{a,}ml,buildspec.y{a,}ml}',
    reason: 'CI pipeline',
  },

  // build tools that run their files as code (each is the "make" of its ecosystem)
  { glob: '**/{Makefile,makefile,GNUmakefile,*.mk}', reason: 'Makefile (runs on the host with `make`)' },
  { glob: '**/{configure,configure.ac,configure.in,Makefile.am,Makefile.in,autogen.sh}', reason: 'autotools input: runs as shell on the host when the project is configured' },
  { glob: '**/{justfile,.justfile,Taskfile.yml,Taskfile.yaml,Taskfile.dist.yml,Rakefile,*.rake,Gruntfile.*,gulpfile.*,Jakefile,Jakefile.*,build.xml,SConstruct,SConscript,wscript}', reason: 'a task runner\'s recipe file: its commands run on the host by task name' },
  { glob: '**/{CMakeLists.txt,*.cmake,CMakePresets.json,CMakeUserPresets.json}', reason: 'CMake runs this on configure, which the CMake Tools extension does when the folder opens' },
  { glob: '**/{meson.build,meson.options,meson_options.txt}', reason: 'Meson runs this on configure' },
  { glob: '**/{WORKSPACE,WORKSPACE.bazel,WORKSPACE.bzlmod,MODULE.bazel,BUILD,BUILD.bazel,*.bzl,.bazelrc,.bazelversion}', reason: 'Bazel evaluates this (repository rules run commands) on build and on editor queries' },
  { glob: '**/{build.zig,build.zig.zon}', reason: 'the Zig build script runs on build, and ZLS runs it when the folder opens' },
  { glob: '**/{docker-compose,compose}{,.*}.{yml,yaml}', reason: 'a compose file decides host mounts and privileges of the containers `docker compose up` starts' },

  // JavaScript and TypeScript: package managers
  { glob: '**/{.npmrc,.yarnrc,.yarnrc.yml,.pnpmfile.cjs,.pnpmfile.mjs,pnpm-workspace.yaml,bunfig.toml}', reason: 'package manager configuration (scripts, hooks, registries) used on install' },
  { glob: '**/{.yarn/**,.pnp.cjs,.pnp.js,.pnp.loader.mjs}', reason: 'Yarn releases, plugins, SDKs, patches and the Plug\'n\'Play loader: code that every yarn or node command (and editor SDK) runs' },
  { glob: '**/node_modules/**', reason: 'installed packages: editor extensions (ESLint, Prettier, TypeScript) and scripts load code from here' },
  { glob: 'patches/**', reason: 'patches applied to dependencies on install (patch-package, pnpm patchedDependencies)' },
  { glob: '**/binding.gyp', reason: 'node-gyp runs `<!(…)` command expansions in binding.gyp on install' },
  { glob: '**/*.gypi', reason: 'node-gyp includes this file, with its command expansions, on install' },
  { glob: '**/*.node', reason: 'a native Node addon: loaded by require as machine code' },

  // JavaScript and TypeScript: tool configs that are executed (editor extensions load them as they work)
  {
    glob: `**/{eslint.config.*,.eslintrc,.eslintrc.*,prettier.config.*,.prettierrc,.prettierrc.*,stylelint.config.*,.stylelintrc,.stylelintrc.*,babel.config.*,.babelrc,.babelrc.*,.swcrc,postcss.config.*,.postcssrc,.postcssrc.*,tailwind.config.*,uno.config.*,unocss.config.*,windi.config.*}`,
    reason: 'a linter, formatter or CSS tool config: editor extensions load it (and the plugins and parsers it names) as they work',
  },
  {
    glob: `**/{jest.config.*,jest.preset.*,vitest.config.*,vitest.workspace.*,playwright.config.*,cypress.config.*,karma.conf.*,.mocharc,.mocharc.*,ava.config.*,wdio.conf.*,nightwatch.conf.*,.nycrc,.nycrc.*,.c8rc,.c8rc.*}`,
    reason: 'a test runner config: test explorers load it (and the setup files it names) to discover tests',
  },
  {
    glob: `**/{vite.config.*,webpack.config.*,webpack.*.js,rollup.config.*,rolldown.config.*,rspack.config.*,rsbuild.config.*,esbuild.config.*,tsup.config.*,next.config.*,nuxt.config.*,svelte.config.*,astro.config.*,remix.config.*,react-router.config.*,vue.config.*,quasar.config.*,gatsby-config.*,gatsby-node.*,metro.config.*,electron.vite.config.*,ember-cli-build.js,vetur.config.*,.storybook/**}`,
    reason: 'a bundler or framework config: executed on build and dev, and by language servers (Svelte, Astro, Vitest) when the folder opens',
  },

  // Python
  { glob: '**/{setup.py,setup.cfg}', reason: 'setuptools runs setup.py (and follows setup.cfg) on install and editable builds' },
  { glob: '**/{conftest.py,pytest.ini,tox.ini,noxfile.py,hatch.toml,pdm.toml,poetry.toml,uv.toml,pixi.toml}', reason: 'a Python test or build tool imports or follows this (pytest test discovery imports conftest.py when the editor lists tests)' },
  { glob: '**/{.pylintrc,pylintrc,mypy.ini,.mypy.ini,.flake8,.coveragerc,.pdbrc}', reason: 'a Python linter, type checker or debugger config that can load plugins or run code (pylint init-hook, mypy plugins, flake8 local plugins, .pdbrc commands)' },
  { glob: '**/{sitecustomize.py,usercustomize.py,*.pth}', reason: 'Python imports this at interpreter start-up when it is on the path' },
  { glob: '**/{__pycache__/**,*.pyc,*.pyo}', reason: 'compiled Python bytecode: loaded in place of the reviewed source when its header matches' },
  { glob: '**/*.{so,pyd,dylib,dll}', reason: 'a native library: Python and other runtimes load it in place of source of the same module name' },
  { glob: '**/{.venv,venv}/**', reason: 'a virtual environment: the Python extension runs its interpreter when the folder opens' },
  { glob: '**/pyvenv.cfg', reason: 'marks a virtual environment whose interpreter the Python extension runs' },
  { glob: '**/{.python-version,pip.conf,pip.ini,.pypirc,.condarc}', reason: 'Python version, index or package-manager configuration used on install and by the editor' },
  { glob: '**/{jupyter_*_config.py,ipython_config.py,ipython_kernel_config.py}', reason: 'Jupyter and IPython load config from the working folder when a kernel or server starts' },

  // Rust
  { glob: '**/build.rs', reason: 'a Cargo build script: rust-analyzer runs it when the folder opens' },
  { glob: '**/.cargo/config{,.toml}', reason: 'Cargo configuration (runners, rustc wrappers, linkers, aliases) used by every cargo command rust-analyzer runs' },
  { glob: '**/{rust-toolchain,rust-toolchain.toml}', reason: 'picks the Rust toolchain rustup runs (it may name a local path)' },
  { glob: '**/{rust-analyzer.toml,.rust-analyzer.toml}', reason: 'rust-analyzer configuration (check and build commands it runs)' },

  // Go
  { glob: '**/{go.work,go.work.sum}', reason: 'Go workspace: decides which module sources the go command and gopls build' },
  { glob: '**/{.golangci.yml,.golangci.yaml,.golangci.toml,.golangci.json,.custom-gcl.yml}', reason: 'golangci-lint configuration, which may load plugins, run by the Go extension on save' },

  // JVM
  { glob: '**/{*.gradle,*.gradle.kts,gradle.properties,gradle/wrapper/**,gradlew,gradlew.bat,buildSrc/**}', reason: 'Gradle build logic and wrapper: the Java extension runs it when it imports the project on open' },
  { glob: '**/{pom.xml,.mvn/**,mvnw,mvnw.cmd}', reason: 'Maven build, extensions and wrapper: plugins run when the project is imported or built' },
  { glob: '**/{*.sbt,project/*.scala,.bsp/**,.sbtopts,.jvmopts,build.sc,build.mill,.mill-version}', reason: 'sbt or Mill build definition (or a build-server launcher) that Metals runs when it imports the project' },

  // .NET
  {
    glob: '**/{*.csproj,*.fsproj,*.vbproj,*.vcxproj,*.proj,*.props,*.targets,*.sln,*.slnx,Directory.Build.rsp,global.json,NuGet.config,omnisharp.json,.config/dotnet-tools.json}',
    reason: 'MSBuild project, SDK or NuGet configuration: evaluated (targets and inline tasks run) when the C# extension loads the project',
  },

  // Ruby, PHP, Elixir, Haskell, Swift
  { glob: '**/{Gemfile,*.gemspec,.bundle/config,.ruby-version,.rubocop.yml,.rubocop_*.yml,.rubocop-*.yml,.rspec,.solargraph.yml,.irbrc,.pryrc}', reason: 'Ruby code or configuration that Bundler, Ruby LSP, RuboCop or IRB loads (the Gemfile is Ruby run on every bundle command)' },
  { glob: '**/{mix.exs,.formatter.exs}', reason: 'Elixir project code that ElixirLS compiles and runs when the folder opens' },
  { glob: '**/{hie.yaml,.hie-bios,Setup.hs,cabal.project,cabal.project.*,stack.yaml}', reason: 'Haskell build or cradle configuration: the language server runs the programs it names when the folder opens' },
  { glob: '**/Package.swift', reason: 'a SwiftPM manifest: Swift code sourcekit-lsp runs when the folder opens' },

  // shells, version managers and environment files
  { glob: '**/{.envrc,.env,.env.*,.flaskenv,.autoenv.zsh,.autoenv_leave.zsh}', reason: 'environment loaded by direnv, autoenv, editors (python.envFile) and dev servers: variables such as NODE_OPTIONS or PYTHONSTARTUP run code' },
  { glob: '**/{.tool-versions,.nvmrc,.node-version,.java-version,.sdkmanrc,mise.toml,.mise.toml,mise.local.toml,.mise.local.toml,.mise/**,.config/mise.toml,.rtx.toml,.prototools,devbox.json,flake.nix,shell.nix,devenv.nix,devenv.yaml}', reason: 'a version manager or dev shell acts on this when you enter the folder (installs tools, runs hooks)' },
  { glob: '**/{.terraformrc,terraform.rc}', reason: 'Terraform CLI configuration (provider overrides point at local binaries it runs)' },
];
