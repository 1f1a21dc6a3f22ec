import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Words only one front end may use: a CLI command (`airlock ls`), a CLI flag (`--allow-root`) or a
 * VS Code command or setting id (`airlock.acceptPolicy`). The core's errors are read in every front
 * end, so their text holds none of these (test/unit/coreErrorText.test.ts), and the CLI's own
 * wording of them does (test/unit/errorHints.test.ts). The core's other text (warnings, reasons,
 * descriptions) names no CLI command and none of the CLI's own flags either.
 */

/** The CLI's subcommands: `airlock <one of these>` in an error is a CLI instruction. */
const CLI_COMMANDS = ['start', 'exec', 'stop', 'ls', 'gc', 'audit', 'doctor', 'diff', 'apply', 'undo', 'push', 'net', 'gateway', 'approvals', 'approve', 'deny', 'policy'];
const CLI_COMMAND = new RegExp(`\\bairlock (?:${CLI_COMMANDS.join('|')})\\b`);
const LONG_FLAG = /(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*/g;
/** A VS Code command or setting id (`airlock.acceptPolicy`); `.airlock.json` is the policy file, not one. */
const VSCODE_ID = /(?<![\w.])airlock\.(?!json\b)[a-zA-Z]\w*/;
/**
 * Other tools' own flags, quoted as the command to run (`git fetch --unshallow`): the flag's clause
 * (text since the last bracket, backtick, colon or sentence end) starts with the tool's name.
 */
const OTHER_TOOL = /^(?:sudo\s+)?(?:git|docker)\b/;

/** Whether the flag at `index` of `text` belongs to another tool's command quoted there (git's, docker's). */
function otherToolsFlag(text: string, index: number): boolean {
  const before = text.slice(0, index);
  const clause = before.slice(Math.max(0, ...['(', ')', '`', ';', ':', '. ', ', '].map((mark) => (before.includes(mark) ? before.lastIndexOf(mark) + mark.length : 0)))).trimStart();
  return OTHER_TOOL.test(clause);
}

/** Why a piece of error text is front-end wording, or undefined when it is neutral. */
export function cliWords(text: string): string | undefined {
  const command = CLI_COMMAND.exec(text);
  if (command) return `names the CLI command \`${command[0]}\``;
  const vscodeId = VSCODE_ID.exec(text);
  if (vscodeId) return `names the VS Code id ${vscodeId[0]}`;
  for (const flag of text.matchAll(LONG_FLAG)) {
    if (!otherToolsFlag(text, flag.index)) return `names the flag ${flag[0]}`;
  }
  return undefined;
}

/** The CLI's own long flags, as its commands declare them (`.option('--allow-risky <path>', …)`) in src/cli. */
export function cliFlags(root = process.cwd()): Set<string> {
  const dir = path.join(root, 'src/cli');
  const flags = new Set<string>();
  for (const file of fs.readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
    const source = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const [, flag] of source.matchAll(/\b(?:option|requiredOption|Option)\(\s*['"`](?:-\w, )?(--[a-z][a-z0-9-]*)/g)) flags.add(flag);
  }
  return flags;
}

/**
 * Why a string of the core that is not an error's (a warning, a reason, a schema description) is
 * CLI wording: it names a CLI command, or one of the CLI's own flags outside another tool's quoted
 * command. A string that is one flag and nothing else is an argument the core hands to another
 * program (git's `--branch`, sudo's `--user`), never text a person reads.
 */
export function cliWordsInText(text: string, flags: ReadonlySet<string>): string | undefined {
  const command = CLI_COMMAND.exec(text);
  if (command) return `names the CLI command \`${command[0]}\``;
  if (/^--[a-z][a-z0-9-]*$/.test(text)) return undefined;
  for (const flag of text.matchAll(LONG_FLAG)) {
    if (flags.has(flag[0]) && !otherToolsFlag(text, flag.index)) return `names the CLI flag ${flag[0]}`;
  }
  return undefined;
}
