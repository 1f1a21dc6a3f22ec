// playwright-core helpers for VS Code 1.139's integrated terminal as code-server serves it. The
// terminal is read from xterm's DOM renderer, so a session that reads terminals sets
// `terminal.integrated.gpuAcceleration: "off"` (TERMINAL_SETTINGS): a WebGL canvas has no text.
// Shell-integration gutter decorations are xterm decorations VS Code classes by the command's
// exit code (checked against 1.139's DOM).
import type { Locator, Page } from 'playwright-core';
import { answerQuickPick, runCommand, UI_TIMEOUT_MS } from './workbench.js';

/** User settings a session that reads terminal text needs. */
export const TERMINAL_SETTINGS: Readonly<Record<string, unknown>> = {
  'terminal.integrated.gpuAcceleration': 'off',
  // VS Code's default, pinned: the gutter decorations are what the tests read.
  'terminal.integrated.shellIntegration.decorationsEnabled': 'both',
  // No "Shell integration activated" hints or suggest widget over the text being read.
  'terminal.integrated.suggest.enabled': false,
  'terminal.integrated.shellIntegration.showWelcome': false,
  'terminal.integrated.enablePersistentSessions': false,
};

const TERMINAL_INSTANCES = '.part.panel .terminal-wrapper';

/** The terminal instance the panel shows (the one with focus when there are several). */
const ACTIVE_TERMINAL = '.part.panel .terminal-wrapper.active';
export const activeTerminal = (page: Page): Locator => page.locator(ACTIVE_TERMINAL).first();

/**
 * The text of the active terminal's viewport, one string per row, with xterm's non-breaking
 * spaces made plain and trailing blanks trimmed.
 */
export async function terminalLines(page: Page): Promise<string[]> {
  await activeTerminal(page).locator('.xterm-rows').waitFor({ state: 'attached', timeout: UI_TIMEOUT_MS });
  // In-page code as text: this project's type checking has no DOM library.
  return page.evaluate<string[]>(`[...document.querySelector(${JSON.stringify(`${ACTIVE_TERMINAL} .xterm-rows`)}).children].map((row) => row.textContent.replace(/\\u00a0/g, ' ').trimEnd())`);
}

/** Waits until the active terminal's text (rows joined by newlines) matches `pattern`; returns that text. */
export async function waitForTerminalText(page: Page, pattern: RegExp, timeoutMs = UI_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The rows below the cursor are blank until written: left out, so `$` in a pattern is the last text.
    const text = (await terminalLines(page).catch(() => [] as string[])).join('\n').replace(/\n+$/, '');
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`the terminal did not show ${String(pattern)} within ${timeoutMs} ms; it shows:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Focuses the active terminal and types `line` and Enter, as a person does. */
export async function typeInTerminal(page: Page, line: string): Promise<void> {
  const terminal = activeTerminal(page);
  await terminal.locator('.xterm-screen').click({ timeout: UI_TIMEOUT_MS });
  await terminal.locator('.xterm.focus').waitFor({ timeout: UI_TIMEOUT_MS });
  await page.keyboard.type(line, { delay: 10 });
  await page.keyboard.press('Enter');
}

/** What a command's gutter decoration says: its exit code's verdict, or 'pending' (the prompt waiting, a command running). */
export type DecorationState = 'success' | 'error' | 'pending';

/**
 * The active terminal's command decorations, top to bottom: VS Code draws one per command its
 * shell integration saw (codicon-terminal-decoration-success for exit 0, -error and the `error`
 * class otherwise) and a placeholder at the prompt waiting for the next one.
 */
export async function commandDecorations(page: Page): Promise<{ state: DecorationState; classes: string }[]> {
  const found = await page.evaluate<{ top: number; classes: string }[]>(
    `[...document.querySelectorAll(${JSON.stringify(`${ACTIVE_TERMINAL} .terminal-command-decoration`)})].map((element) => ({ top: element.getBoundingClientRect().top, classes: element.className }))`,
  );
  return found
    .sort((a, b) => a.top - b.top)
    .map(({ classes }) => ({
      classes,
      state: /\bcodicon-terminal-decoration-error\b/.test(classes) ? 'error' : /\bcodicon-terminal-decoration-success\b/.test(classes) ? 'success' : 'pending',
    }));
}

/** Waits until the finished commands' decorations (placeholders left out) are exactly `states`, in order. */
export async function waitForDecorations(page: Page, states: Exclude<DecorationState, 'pending'>[], timeoutMs = UI_TIMEOUT_MS): Promise<{ state: DecorationState; classes: string }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await commandDecorations(page);
    const finished = found.filter((item) => item.state !== 'pending').map((item) => item.state);
    if (JSON.stringify(finished) === JSON.stringify(states)) return found;
    if (Date.now() > deadline) throw new Error(`the terminal's command decorations are ${JSON.stringify(found)}, not ${JSON.stringify(states)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Opens a new terminal from the profile titled `profile` ("Airlock sandbox") through the palette's profile picker. */
export async function createTerminalWithProfile(page: Page, profile: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  const before = await page.locator(TERMINAL_INSTANCES).count();
  // The palette shows this one without its "Terminal:" category.
  await runCommand(page, 'Create New Terminal (With Profile)', timeoutMs);
  await answerQuickPick(page, profile, { timeoutMs });
  await waitForTerminalCount(page, before + 1, timeoutMs);
}

/**
 * Waits until the panel has `count` terminals. With one terminal VS Code hides the tabs list, so
 * the terminal instances themselves are counted.
 */
export async function waitForTerminalCount(page: Page, count: number, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  await page.waitForFunction(`document.querySelectorAll(${JSON.stringify(TERMINAL_INSTANCES)}).length === ${count}`, undefined, { timeout: timeoutMs, polling: 200 });
}
