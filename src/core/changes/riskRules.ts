import picomatch from 'picomatch';
import { hostEquivalentPath } from './changePath.js';
import type { FileChange } from './changeSet.js';
import { contentRisk } from './hostRunContent.js';
import { HOST_RUN_FILES, type HostRunRule } from './hostRunFiles.js';

/**
 * Files that run on the host, or change how tools and agents behave there. A change to any of them
 * is never taken by a blanket yes; each needs an explicit per-file choice. The list is
 * hostRunFiles.ts (paths) plus hostRunContent.ts (files judged by what changed in them); teams
 * extend it with their own globs (riskyPatterns), never shorten it.
 */
export const RISKY_PATHS: readonly HostRunRule[] = HOST_RUN_FILES;

export interface RiskInput {
  change: Pick<FileChange, 'path' | 'status' | 'before' | 'after' | 'oldPath'>;
  /** Text of the base and new content, when the file is text and both are at hand. */
  beforeText?: string;
  afterText?: string;
}

export type RiskClassifier = (input: RiskInput) => string[];

/** Builds the classifier once; extra globs (from configuration) add to the built-in list. */
export function riskClassifier(extraGlobs: readonly string[] = []): RiskClassifier {
  const rules = [...RISKY_PATHS, ...extraGlobs.map((glob): HostRunRule => ({ glob, reason: `matches the configured risky pattern ${glob}` }))].map((rule) => ({
    reason: rule.reason,
    // nocase: on macOS and Windows hosts `.VSCode/Tasks.json` is the same file.
    test: picomatch(rule.glob as string | string[], { dot: true, nocase: true }),
  }));
  return ({ change, beforeText, afterText }) => {
    const reasons = new Set<string>();
    // `.vscode./tasks.json` or `.vs\u200ccode/tasks.json` is `.vscode/tasks.json` once a Windows or macOS host opens it.
    const spellings = [change.path, change.oldPath].flatMap((candidate) => (candidate === undefined ? [] : [candidate, hostEquivalentPath(candidate)]));
    for (const candidate of new Set(spellings)) {
      for (const rule of rules) if (rule.test(candidate)) reasons.add(rule.reason);
    }
    const { before, after } = change;
    if (after?.kind === 'symlink') reasons.add('symlink (applied only when chosen, and only if it points inside the workspace)');
    if (after?.kind === 'file' && after.mode & 0o111 && !(before?.kind === 'file' && before.mode & 0o111)) reasons.add('exec bit is new');
    // A rename into a judged name (notes.txt → package.json) is judged as a new file: its old text says nothing.
    if (after?.kind === 'file') for (const reason of contentRisk(hostEquivalentPath(change.path), change.oldPath !== undefined && change.oldPath !== change.path ? undefined : beforeText, afterText)) reasons.add(reason);
    return [...reasons];
  };
}
