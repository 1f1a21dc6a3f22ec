import type * as Core from '../../core/index.js';

/**
 * Text from the box or a repository, made safe for a notification or a status bar message: one
 * printable line, in which VS Code will render no link (a `[label](command:…)` in a notification
 * runs the command with its arguments when clicked) and no `$(icon)`.
 */
export function noticeText(core: Pick<typeof Core, 'printableLine'>, text: string): string {
  return core.printableLine(text).replace(/\]\s*\(/g, ']\u2009(').replace(/\$\(/g, '$\u2009(');
}
