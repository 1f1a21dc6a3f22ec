import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Claude Code's Bash tool hands CLAUDE_CODE_SHELL_PREFIX one argument shaped like
 *   source ~/.claude/shell-snapshots/snapshot-bash-….sh [2>/dev/null] [|| true] && … eval '<command>' < /dev/null && pwd -P >| /tmp/claude-XXXX-cwd
 * The snapshot is the host's shell (its PATH, functions, perhaps tokens a profile exports) and the
 * box cannot read it; the cwd file is read by Claude on the host. Both are taken off the line: the
 * box runs the rest, and the host writes the cwd file itself, with the host's path.
 */
export interface ClaudeCodeLine {
  /** What runs in the box. */
  line: string;
  /** The host snapshot the line sourced, left out (never copied into the box). */
  droppedSnapshot?: string;
  /** The host file Claude reads the final folder from, written by the host after a success. */
  cwdFile?: string;
}

const WORD = String.raw`(?:'[^']*'|"[^"\\$\x60]*"|[^\s'"\\;&|<>()$\x60]+)`;
const SNAPSHOT_PREFIX = new RegExp(String.raw`^\s*(?:source|\.)\s+(${WORD})(?:\s+2>\s*/dev/null)?(?:\s*\|\|\s*true)?\s*&&\s*`);
const CWD_SUFFIX = new RegExp(String.raw`\s*&&\s*pwd\s+-P\s*>\|?\s*(${WORD})\s*$`);

function unquote(word: string): string {
  return /^['"]/.test(word) ? word.slice(1, -1) : word;
}

/** Whether `file` is one of Claude Code's shell snapshots (under ~/.claude or CLAUDE_CONFIG_DIR). */
function isClaudeSnapshot(file: string, env: NodeJS.ProcessEnv): boolean {
  const roots = [path.join(os.homedir(), '.claude'), env.CLAUDE_CONFIG_DIR].filter((root): root is string => Boolean(root)).map((root) => path.resolve(root));
  const resolved = path.resolve(file.replace(/^~(?=\/)/, os.homedir()));
  return roots.some((root) => path.dirname(resolved) === path.join(root, 'shell-snapshots')) && /^snapshot-[\w.-]+\.sh$/.test(path.basename(resolved));
}

/** Whether `file` is a Claude cwd file: directly in a temp folder, named claude-<hex>-cwd. */
function isClaudeCwdFile(file: string): boolean {
  const dir = path.dirname(file);
  return path.isAbsolute(file) && [os.tmpdir(), '/tmp', '/private/tmp'].map((root) => path.resolve(root)).includes(dir) && /^claude-[0-9a-z]+-cwd$/i.test(path.basename(file));
}

/** Takes Claude Code's host-only parts off a prefixed line; any other line is returned as it is. */
export function adaptClaudeCodeLine(line: string, env: NodeJS.ProcessEnv = process.env): ClaudeCodeLine {
  let rest = line;
  let droppedSnapshot: string | undefined;
  let cwdFile: string | undefined;
  const prefix = SNAPSHOT_PREFIX.exec(rest);
  if (prefix && isClaudeSnapshot(unquote(prefix[1]), env)) {
    droppedSnapshot = unquote(prefix[1]);
    rest = rest.slice(prefix[0].length);
  }
  const suffix = CWD_SUFFIX.exec(rest);
  if (suffix && isClaudeCwdFile(unquote(suffix[1]))) {
    cwdFile = unquote(suffix[1]);
    rest = rest.slice(0, suffix.index);
  }
  return { line: rest, droppedSnapshot, cwdFile };
}
