import picomatch from 'picomatch';
import type { FileChange } from './changeSet.js';

/**
 * Files that run on the host, or change how tools and agents behave there. A change to any of them
 * is never taken by a blanket yes; each needs an explicit per-file choice. This is the one list;
 * teams extend it with their own globs (riskyPatterns), never shorten it.
 */
export const RISKY_PATHS: ReadonlyArray<{ glob: string; reason: string }> = [
  { glob: '**/.git/**', reason: 'git hooks and configuration run on the host' },
  { glob: '**/.gitattributes', reason: 'git attributes can run filter and diff drivers on the host' },
  { glob: '**/.gitmodules', reason: 'submodule URLs and paths are fetched by host git' },
  { glob: '**/.gitconfig', reason: 'git configuration' },
  { glob: '{.githooks,.husky}/**', reason: 'git hooks run on the host' },
  { glob: '{.pre-commit-config.yaml,lefthook.yml,.lefthook.yml,lefthook.yaml}', reason: 'commit hooks run on the host' },
  { glob: '.vscode/{tasks,launch,settings,extensions}.json', reason: 'VS Code runs or configures this on the host' },
  { glob: '**/*.code-workspace', reason: 'VS Code workspace settings and tasks' },
  { glob: '{.devcontainer/**,.devcontainer.json}', reason: 'dev container definition (what runs, what is mounted)' },
  { glob: '{.github/workflows/**,.github/actions/**}', reason: 'CI workflow' },
  { glob: '{.gitlab-ci.yml,.gitlab/**,.circleci/**,.travis.yml,azure-pipelines.yml,.azure-pipelines/**,bitbucket-pipelines.yml,Jenkinsfile,.buildkite/**,.drone.yml}', reason: 'CI pipeline' },
  { glob: '**/{Makefile,makefile,GNUmakefile,*.mk}', reason: 'Makefile (runs on the host with `make`)' },
  { glob: '**/{.npmrc,.yarnrc,.yarnrc.yml,.pnpmfile.cjs,.pypirc,pip.conf,.envrc,.env.local,.tool-versions,.nvmrc}', reason: 'package manager or shell environment configuration' },
  { glob: '{.mcp.json,.claude/**,CLAUDE.md,CLAUDE.local.md,AGENTS.md,.cursor/**,.cursorrules,.clinerules,.clinerules/**,.windsurfrules,.continue/**,.aider*,.github/copilot-instructions.md,.github/instructions/**,.github/prompts/**,.codex/**,.gemini/**,GEMINI.md}', reason: 'coding-agent configuration or instructions' },
  { glob: '.airlock.json', reason: 'Airlock team policy file' },
];

/** package.json fields whose change runs code on the next install or run on the host. */
const PACKAGE_EXECUTION_FIELDS = ['scripts', 'bin', 'config', 'workspaces', 'packageManager', 'pnpm', 'overrides', 'resolutions'];

export interface RiskInput {
  change: Pick<FileChange, 'path' | 'status' | 'before' | 'after' | 'oldPath'>;
  /** Text of the base and new content, when the file is text and both are at hand. */
  beforeText?: string;
  afterText?: string;
}

export type RiskClassifier = (input: RiskInput) => string[];

/** Builds the classifier once; extra globs (from configuration) add to the built-in list. */
export function riskClassifier(extraGlobs: readonly string[] = []): RiskClassifier {
  const rules = [...RISKY_PATHS, ...extraGlobs.map((glob) => ({ glob, reason: `matches the configured risky pattern ${glob}` }))].map((rule) => ({
    reason: rule.reason,
    // nocase: on macOS and Windows hosts `.VSCode/Tasks.json` is the same file.
    test: picomatch(rule.glob, { dot: true, nocase: true }),
  }));
  return ({ change, beforeText, afterText }) => {
    const reasons = new Set<string>();
    for (const candidate of [change.path, change.oldPath]) {
      if (candidate === undefined) continue;
      for (const rule of rules) if (rule.test(candidate)) reasons.add(rule.reason);
    }
    const { before, after } = change;
    if (after?.kind === 'symlink') reasons.add('symlink (applied only when chosen, and only if it points inside the workspace)');
    if (after?.kind === 'file' && after.mode & 0o111 && !(before?.kind === 'file' && before.mode & 0o111)) reasons.add('exec bit is new');
    if (/(^|\/)package\.json$/.test(change.path) && after?.kind === 'file') {
      const changed = changedPackageFields(beforeText, afterText);
      if (changed === undefined) reasons.add('package.json could not be parsed; it may hide script changes');
      else if (changed.length) reasons.add(`package.json changes ${changed.join(', ')} (runs on install or run)`);
    }
    return [...reasons];
  };
}

function changedPackageFields(beforeText: string | undefined, afterText: string | undefined): string[] | undefined {
  if (afterText === undefined) return undefined;
  const parse = (text: string | undefined): Record<string, unknown> | undefined => {
    if (text === undefined) return {};
    try {
      const value: unknown = JSON.parse(text);
      return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const before = parse(beforeText) ?? {};
  const after = parse(afterText);
  if (!after) return undefined;
  return PACKAGE_EXECUTION_FIELDS.filter((field) => JSON.stringify(before[field]) !== JSON.stringify(after[field]));
}
