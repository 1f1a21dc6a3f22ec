/**
 * Words only one front end may use: a CLI command (`airlock ls`), a CLI flag (`--allow-root`) or a
 * VS Code command or setting id (`airlock.acceptPolicy`). The core's errors are read in every front
 * end, so their text holds none of these (test/unit/coreErrorText.test.ts), and the CLI's own
 * wording of them does (test/unit/errorHints.test.ts).
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

/** Why a piece of error text is front-end wording, or undefined when it is neutral. */
export function cliWords(text: string): string | undefined {
  const command = CLI_COMMAND.exec(text);
  if (command) return `names the CLI command \`${command[0]}\``;
  const vscodeId = VSCODE_ID.exec(text);
  if (vscodeId) return `names the VS Code id ${vscodeId[0]}`;
  for (const flag of text.matchAll(LONG_FLAG)) {
    const before = text.slice(0, flag.index);
    const clause = before.slice(Math.max(0, ...['(', ')', '`', ';', ':', '. ', ', '].map((mark) => (before.includes(mark) ? before.lastIndexOf(mark) + mark.length : 0)))).trimStart();
    if (!OTHER_TOOL.test(clause)) return `names the flag ${flag[0]}`;
  }
  return undefined;
}

