import * as fs from 'node:fs';
import * as path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { git } from '../ground/runHost.js';
import { readUntrustedText } from '../ground/untrustedFile.js';
import { CREDENTIAL_CONFIG_MAX_BYTES, credentialConfigIsClean } from './credentialConfigs.js';
import { secretRules } from './secretRules.js';

/** Why a present host path is not one a fresh listing would copy. */
export type UnlistedReason = 'git' | 'secret' | 'credentials' | 'ignored';

/**
 * The workspace listing's rules (workspaceListing.ts) asked one path at a time, for work that
 * follows a workspace after the copy (the host mirror): the same secret patterns and credential
 * content checks, and the same idea of "ignored": in a git work tree tracked files plus untracked
 * ones git does not ignore (asked of git itself, nested .gitignore files included), elsewhere what
 * the root .gitignore leaves out. A path under a symlinked folder is never listed: the listing
 * copies the link, not what it leads to.
 */
export interface ListingRules {
  readonly git: boolean;
  /**
   * Cheap and synchronous, for a watcher's filter: whether nothing at or below this path can be
   * listed and it need not be heard (a .git folder, a secret folder, a folder the root .gitignore
   * leaves out that holds no tracked file). `isDir` undefined means "not known": the path is looked at.
   */
  unwatched(rel: string, isDir: boolean | undefined): boolean;
  /** Of these present paths (files and symlinks, posix, workspace-relative), the ones a listing leaves out by name. */
  unlisted(rels: readonly string[], signal?: AbortSignal): Promise<Map<string, UnlistedReason>>;
  /** A credential-prone config, copied only when its bytes carry no credential. */
  needsContentCheck(rel: string): boolean;
  contentIsClean(rel: string, bytes: Buffer): boolean;
  /** The root .gitignore changed: read it again. */
  reload(): void;
}

const ancestorsOf = (rel: string): string[] => {
  const parts = rel.split('/');
  return parts.slice(0, -1).map((_, index) => parts.slice(0, index + 1).join('/'));
};

/** Paths per `git check-ignore` run: the arguments travel on stdin, so this only bounds one answer. */
const CHECK_CHUNK = 5000;

export async function listingRules(root: string, secretPatterns: readonly string[], signal?: AbortSignal): Promise<ListingRules> {
  const secrets = secretRules(secretPatterns);
  const probe = await git(root, ['rev-parse', '--show-toplevel'], { signal, allowFailure: true });
  const inGit = probe.code === 0;
  const trackedDirs = new Set<string>();
  if (inGit) {
    const tracked = await git(root, ['ls-files', '-z', '--cached'], { signal });
    for (const rel of tracked.stdout.toString('utf8').split('\0')) if (rel) for (const dir of ancestorsOf(rel)) trackedDirs.add(dir);
  }

  // The root .gitignore as walkFolder reads it. One that cannot be read safely leaves everything
  // out (fail closed), as it stops a listing.
  let rootIgnore: Ignore = ignore();
  let rootIgnoreBroken = false;
  const reload = () => {
    try {
      const text = readUntrustedText(path.join(root, '.gitignore'), { maxBytes: CREDENTIAL_CONFIG_MAX_BYTES, within: root, what: 'workspace: .gitignore' });
      rootIgnore = ignore();
      if (text !== undefined) rootIgnore.add(text);
      rootIgnoreBroken = false;
    } catch {
      rootIgnoreBroken = true;
    }
  };
  reload();
  const ignores = (rel: string) => {
    try {
      return rootIgnore.ignores(rel);
    } catch {
      return true;
    }
  };

  const unwatched = (rel: string, isDir: boolean | undefined): boolean => {
    if (rel.split('/').includes('.git')) return true;
    const dir = isDir ?? fs.lstatSync(path.join(root, rel), { throwIfNoEntry: false })?.isDirectory();
    // Gone already: whatever it was, its removal still has to be heard.
    if (dir === undefined) return false;
    // Files are always heard, so a secret or ignored one can be reported as left out.
    return dir && (secrets.excludesDir(rel) || (!trackedDirs.has(rel) && ignores(`${rel}/`)));
  };

  /** A folder on the way that is a symlink (or not a folder): the listing never looks past it. */
  const realDirs = new Map<string, boolean>();
  const isRealDir = (rel: string) => {
    let known = realDirs.get(rel);
    if (known === undefined) {
      known = fs.lstatSync(path.join(root, rel), { throwIfNoEntry: false })?.isDirectory() ?? false;
      realDirs.set(rel, known);
    }
    return known;
  };
  /** A folder holding its own repository (a nested clone or a submodule): git lists it as one entry, never its files. */
  const nestedRepo = new Map<string, boolean>();
  const holdsRepo = (rel: string) => {
    let known = nestedRepo.get(rel);
    if (known === undefined) {
      known = fs.lstatSync(path.join(root, rel, '.git'), { throwIfNoEntry: false }) !== undefined;
      nestedRepo.set(rel, known);
    }
    return known;
  };

  const unlisted = async (rels: readonly string[], askSignal?: AbortSignal): Promise<Map<string, UnlistedReason>> => {
    realDirs.clear();
    nestedRepo.clear();
    const out = new Map<string, UnlistedReason>();
    const askGit: string[] = [];
    for (const rel of rels) {
      if (rel.split('/').includes('.git')) out.set(rel, 'git');
      else if (secrets.excludesFile(rel)) out.set(rel, 'secret');
      else if (!ancestorsOf(rel).every(isRealDir)) out.set(rel, 'ignored');
      else if (inGit) {
        if (ancestorsOf(rel).some(holdsRepo)) out.set(rel, 'ignored');
        else askGit.push(rel);
      } else if (rootIgnoreBroken || ancestorsOf(rel).some((dir) => ignores(`${dir}/`)) || ignores(rel)) out.set(rel, 'ignored');
    }
    for (let start = 0; start < askGit.length; start += CHECK_CHUNK) {
      const chunk = askGit.slice(start, start + CHECK_CHUNK);
      // check-ignore never reports a tracked path, so "not reported" is exactly ls-files' --cached
      // plus --others --exclude-standard for a path that exists.
      // "./" first: check-ignore takes each line as a pathspec, and one starting with ":" would be
      // read as pathspec magic (and fail the whole run); it answers in the form it was asked.
      const result = await git(root, ['check-ignore', '-z', '--stdin'], { signal: askSignal, allowFailure: true, input: chunk.map((rel) => `./${rel}\0`).join('') });
      if (result.code > 1) {
        for (const rel of chunk) out.set(rel, 'ignored');
        continue;
      }
      for (const rel of result.stdout.toString('utf8').split('\0')) if (rel.startsWith('./')) out.set(rel.slice(2), 'ignored');
    }
    return out;
  };

  return {
    git: inGit,
    unwatched,
    unlisted,
    needsContentCheck: (rel) => secrets.needsContentCheck(rel),
    contentIsClean: (rel, bytes) => credentialConfigIsClean(rel, bytes),
    reload,
  };
}
