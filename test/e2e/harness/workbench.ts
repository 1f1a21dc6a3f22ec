// playwright-core helpers for VS Code 1.139's workbench as code-server serves it, driven in
// Debian's chromium (never a downloaded browser). Every helper waits on UI state with a timeout;
// none sleeps. The selectors are the ones VS Code's own DOM uses (checked against 1.139).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Browser, type BrowserContext, chromium, type FrameLocator, type Locator, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** The first load of the workbench: code-server starts its extension host on demand. */
export const FIRST_LOAD_TIMEOUT_MS = 60_000;
/** Anything after that, generous for two slow cores. */
export const UI_TIMEOUT_MS = 20_000;

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Headless chromium with one page. VS Code 1.139 starts in its light theme whatever `colorScheme` says; set `workbench.colorTheme` for another. */
export async function launchBrowser(options: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {}): Promise<BrowserSession> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`bash scripts/setup-e2e.sh\` (Debian's chromium package)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: FIRST_LOAD_TIMEOUT_MS });
  try {
    const context = await browser.newContext({ viewport: options.viewport ?? { width: 1400, height: 900 }, deviceScaleFactor: 1, colorScheme: options.colorScheme });
    context.setDefaultTimeout(UI_TIMEOUT_MS);
    const page = await context.newPage();
    return { browser, context, page, close: () => browser.close() };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

/** A RegExp matching exactly `text` (after Playwright's whitespace normalisation). */
export function exactly(text: string): RegExp {
  return new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
}

/** A CSS attribute value, quoted. */
const css = (value: string) => JSON.stringify(value);

/** Opens `url` (code-server's `?folder=` URL) and waits for the workbench. */
export async function openWorkbench(page: Page, url: string, timeoutMs = FIRST_LOAD_TIMEOUT_MS): Promise<void> {
  // Clipboard access lets a test read what "Copy …" commands wrote.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(url).origin });
  await page.goto(url, { timeout: timeoutMs });
  await waitForWorkbench(page, timeoutMs);
}

/**
 * The workbench is laid out and connected to the server: the parts are there and the status bar
 * shows the remote host item, which needs the connection to the server.
 */
export async function waitForWorkbench(page: Page, timeoutMs = FIRST_LOAD_TIMEOUT_MS): Promise<void> {
  for (const selector of ['.monaco-workbench', '.part.activitybar', '.part.statusbar', '.part.editor']) {
    await page.locator(selector).first().waitFor({ state: 'visible', timeout: timeoutMs });
  }
  await page.locator('.part.statusbar [id="status.host"]').waitFor({ state: 'attached', timeout: timeoutMs });
}

// ---- quick input: the command palette, quick picks, input boxes -------------------------------

/** The quick input while it is open; one that is closing stays in the DOM for a moment, inert. */
export const quickInput = (page: Page) => page.locator('.quick-input-widget:not(.quick-input-widget-closing)');

/**
 * Resolves when the command palette has gone: closed, or turned into the quick pick or input
 * box the command opened (its value no longer starts with ">").
 */
async function waitForPaletteGone(page: Page, timeoutMs: number): Promise<void> {
  // In-page code as text: this project's type checking has no DOM library.
  const gone = `(() => {
    const widget = document.querySelector('.quick-input-widget:not(.quick-input-widget-closing)');
    if (!widget || widget.style.display === 'none' || widget.offsetParent === null) return true;
    return !widget.querySelector('.quick-input-box input')?.value.startsWith('>');
  })()`;
  await page.waitForFunction(gone, undefined, { timeout: timeoutMs, polling: 100 });
}

async function closeQuickInput(page: Page): Promise<void> {
  const widget = quickInput(page);
  if (await widget.isVisible()) {
    await page.keyboard.press('Escape');
    await widget.waitFor({ state: 'hidden' });
  }
}

/** A row of the open quick input whose label is exactly `label` (or matches it). */
export function quickInputRow(page: Page, label: string | RegExp): Locator {
  const text = typeof label === 'string' ? exactly(label) : label;
  return quickInput(page).locator('.monaco-list-row[role="option"]').filter({ has: page.locator('.label-name', { hasText: text }) });
}

/**
 * Runs a command by its palette title ("Airlock: Doctor") through F1. The matching row is clicked
 * rather than taking the first row: the palette's fuzzy order puts longer titles first.
 */
export async function runCommand(page: Page, title: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  await closeQuickInput(page);
  const widget = quickInput(page);
  // Focus can sit where F1 means nothing for a moment (a closing menu, a webview being created).
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('F1');
    try {
      await widget.waitFor({ state: 'visible', timeout: 5000 });
      break;
    } catch (error) {
      if (attempt === 3) throw new Error(`the command palette did not open for "${title}"`, { cause: error });
      await page.keyboard.press('Escape');
    }
  }
  await widget.locator('.quick-input-box input').fill(`>${title}`);
  const row = quickInputRow(page, title);
  try {
    await row.first().waitFor({ state: 'visible', timeout: timeoutMs });
  } catch (error) {
    const shown = await widget.locator('.monaco-list-row[role="option"] .label-name').allInnerTexts();
    throw new Error(`no command "${title}" in the palette; it shows: ${JSON.stringify(shown)}`, { cause: error });
  }
  await row.first().click();
  await waitForPaletteGone(page, timeoutMs);
}

/** Opens a workspace file by its relative path through Go to File; resolves when its tab is active. */
export async function openFile(page: Page, relativePath: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  await runCommand(page, 'Go to File...', timeoutMs);
  await quickInput(page).locator('.quick-input-box input').fill(relativePath);
  const name = path.posix.basename(relativePath);
  await answerQuickPick(page, name, { filter: false, timeoutMs });
  await editorTab(page, name).and(page.locator('.active')).first().waitFor({ timeout: timeoutMs });
}

/**
 * Picks `label` in an open quick pick, after checking its title when given. The list is virtual
 * (only rows on screen exist), so a string label is typed into the filter first unless `filter: false`.
 */
export async function answerQuickPick(page: Page, label: string | RegExp, options: { title?: string | RegExp; filter?: boolean; timeoutMs?: number } = {}): Promise<void> {
  const timeout = options.timeoutMs ?? UI_TIMEOUT_MS;
  const widget = quickInput(page);
  await widget.waitFor({ state: 'visible', timeout });
  if (options.title) await widget.locator('.quick-input-title', { hasText: options.title }).waitFor({ timeout });
  if (typeof label === 'string' && (options.filter ?? true)) {
    const input = widget.locator('.quick-input-box input');
    if ((await input.inputValue()) !== label) await input.fill(label);
  }
  await quickInputRow(page, label).first().click({ timeout });
  await widget.waitFor({ state: 'hidden', timeout });
}

/** Types `text` into an open input box (showInputBox) and accepts it; a validation message left showing fails. */
export async function answerInputBox(page: Page, text: string, options: { title?: string | RegExp; timeoutMs?: number } = {}): Promise<void> {
  const timeout = options.timeoutMs ?? UI_TIMEOUT_MS;
  const widget = quickInput(page);
  await widget.waitFor({ state: 'visible', timeout });
  if (options.title) await widget.locator('.quick-input-title', { hasText: options.title }).waitFor({ timeout });
  await widget.locator('.quick-input-box input').fill(text);
  await page.keyboard.press('Enter');
  try {
    await widget.waitFor({ state: 'hidden', timeout });
  } catch (error) {
    const message = await widget.locator('.quick-input-message').innerText().catch(() => '');
    throw new Error(`the input box did not accept ${JSON.stringify(text)}: ${message}`, { cause: error });
  }
}

// ---- notifications and dialogs ----------------------------------------------------------------

/** Notifications (toasts and the notification centre's list) whose message contains `text`. */
export function notifications(page: Page, text: string | RegExp): Locator {
  return page.locator('.notifications-toasts .notification-list-item, .notifications-center .notification-list-item').filter({ has: page.locator('.notification-list-item-message', { hasText: text }) });
}

/**
 * Waits for a notification saying `text`. A toast hides itself after a while; then the
 * notification centre still lists it, so that is opened and searched once before failing.
 */
export async function waitForNotification(page: Page, text: string | RegExp, timeoutMs = UI_TIMEOUT_MS): Promise<Locator> {
  const found = notifications(page, text).first();
  try {
    await found.waitFor({ state: 'visible', timeout: timeoutMs });
    return found;
  } catch (error) {
    await runCommand(page, 'Notifications: Show Notifications').catch(() => undefined);
    if (await found.isVisible()) return found;
    const shown = await page.locator('.notification-list-item-message').allInnerTexts().catch(() => []);
    throw new Error(`no notification matching ${String(text)}; shown: ${JSON.stringify(shown)}`, { cause: error });
  }
}

/** The message text of a notification found by waitForNotification. */
export const notificationMessage = (notification: Locator) => notification.locator('.notification-list-item-message').innerText();

/** Clicks `button` ("Show Log") on the notification saying `text`. */
export async function clickNotificationButton(page: Page, text: string | RegExp, button: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  const notification = await waitForNotification(page, text, timeoutMs);
  await notification.locator('.notification-list-item-buttons-container .monaco-button', { hasText: exactly(button) }).click({ timeout: timeoutMs });
}

/** Clears every notification, so the next wait only sees new ones. */
export async function clearNotifications(page: Page): Promise<void> {
  await runCommand(page, 'Notifications: Clear All Notifications');
  await page.locator('.notifications-toasts .notification-list-item').first().waitFor({ state: 'detached' });
}

export const dialog = (page: Page) => page.locator('.monaco-dialog-box');

/** Answers a modal dialog (showWarningMessage with `modal: true`) with `button`; returns its message and detail. */
export async function answerDialog(page: Page, button: string, timeoutMs = UI_TIMEOUT_MS): Promise<string> {
  const box = dialog(page);
  await box.waitFor({ state: 'visible', timeout: timeoutMs });
  const text = (await box.locator('.dialog-message-container').innerText()).trim();
  await box.locator('.dialog-buttons .monaco-button', { hasText: exactly(button) }).click({ timeout: timeoutMs });
  // This dialog has gone; another may take its place at once (a confirmation that leads to the next).
  await page.locator('.monaco-dialog-box .dialog-message-container', { hasText: text.split('\n')[0] }).waitFor({ state: 'detached', timeout: timeoutMs });
  return text;
}

// ---- workspace trust --------------------------------------------------------------------------

/** Trusts the open folder the way a person does: Manage Workspace Trust, then Trust. */
export async function trustWorkspace(page: Page, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  const restricted = page.locator('.part.statusbar [id="status.workspaceTrust"]');
  // A new folder opens in Restricted Mode, whose status item can come a moment after the workbench:
  // waiting for it (rather than looking once) keeps an early look from skipping the trust.
  try {
    await restricted.first().waitFor({ state: 'attached', timeout: 15_000 });
  } catch {
    return;
  }
  await runCommand(page, 'Workspaces: Manage Workspace Trust');
  const editor = page.locator('.workspace-trust-editor');
  await editor.waitFor({ state: 'visible', timeout: timeoutMs });
  await editor.locator('.workspace-trust-buttons-row .monaco-button', { hasText: exactly('Trust') }).first().click({ timeout: timeoutMs });
  await page.locator('.workspace-trust-editor.trusted').waitFor({ timeout: timeoutMs });
  await restricted.waitFor({ state: 'detached', timeout: timeoutMs });
  // 1.139 shows it as a modal editor, which Escape closes.
  await page.keyboard.press('Escape');
  try {
    await editor.waitFor({ state: 'hidden', timeout: 5000 });
  } catch {
    await runCommand(page, 'View: Close Editor');
    await editor.waitFor({ state: 'hidden', timeout: timeoutMs });
  }
}

// ---- activity bar, views, trees ---------------------------------------------------------------

/** Opens the activity-bar container titled `title` ("Airlock") unless it is already showing; returns the side bar. */
export async function openViewContainer(page: Page, title: string, timeoutMs = UI_TIMEOUT_MS): Promise<Locator> {
  const sideBar = page.locator('.part.sidebar');
  const heading = sideBar.locator('.composite.title .title-label h2', { hasText: exactly(title) });
  // Clicking the active container's icon would close the side bar.
  if (await heading.isVisible()) return sideBar;
  // The label may add a keybinding ("Explorer (Ctrl+Shift+E)") or a badge ("… - 1 pending changes").
  const label = [title, `${title} (`, `${title} - `].map((text, i) => `a.action-label[aria-label${i ? '^' : ''}=${css(text)}]`).join(', ');
  // The item, not its icon: a badge over the icon takes the click.
  await page.locator('.part.activitybar .action-item').filter({ has: page.locator(label) }).first().click({ timeout: timeoutMs });
  await heading.waitFor({ state: 'visible', timeout: timeoutMs });
  return sideBar;
}

/** The view pane whose header says `name` ("Tasks"), in the side bar, the panel or the secondary side bar. */
export function viewPane(page: Page, name: string): Locator {
  return page.locator('.part.sidebar .pane, .part.panel .pane, .part.auxiliarybar .pane').filter({ has: page.locator('.pane-header h3.title', { hasText: exactly(name) }) });
}

/** Waits for the view and expands it when collapsed; returns the pane. */
export async function showView(page: Page, name: string, timeoutMs = UI_TIMEOUT_MS): Promise<Locator> {
  const pane = viewPane(page, name);
  const header = pane.locator('.pane-header');
  await header.waitFor({ state: 'visible', timeout: timeoutMs });
  if ((await header.getAttribute('aria-expanded')) === 'false') {
    await header.click();
    await pane.locator('.pane-header[aria-expanded="true"]').waitFor({ timeout: timeoutMs });
  }
  return pane;
}

/** A wider side bar, so screenshots show whole rows: the sash on its right edge, dragged. */
export async function widenSideBar(page: Page, width = 520): Promise<void> {
  const bar = await page.locator('.part.sidebar').boundingBox();
  if (!bar || bar.width >= width) return;
  const edge = bar.x + bar.width;
  await page.mouse.move(edge, bar.y + bar.height / 2);
  await page.mouse.down();
  await page.mouse.move(bar.x + width, bar.y + bar.height / 2, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(`document.querySelector('.part.sidebar').getBoundingClientRect().width >= ${width - 20}`, undefined, { timeout: 10_000 });
}

/** A view's welcome content (viewsWelcome), shown while its tree is empty. */
export const viewWelcome = (page: Page, name: string) => viewPane(page, name).locator('.pane-body.welcome .welcome-view-content');

/** Clicks an action in a view's title bar by its title ("Start Task for This Workspace"). */
export async function clickViewTitleAction(page: Page, view: string, action: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  const pane = await showView(page, view, timeoutMs);
  await pane.locator('.pane-header').hover();
  await pane.locator(`.pane-header .actions a.action-label[aria-label=${css(action)}]`).click({ timeout: timeoutMs });
}

/** Tree rows in a view whose label contains `label` (a string) or matches it (a RegExp). */
export function treeItems(page: Page, view: string, label?: string | RegExp): Locator {
  const rows = viewPane(page, view).locator('.monaco-list[role="tree"] .monaco-list-row[role="treeitem"]');
  return label === undefined ? rows : rows.filter({ has: page.locator('.label-name', { hasText: label }) });
}

export async function waitForTreeItem(page: Page, view: string, label: string | RegExp, timeoutMs = UI_TIMEOUT_MS): Promise<Locator> {
  const row = treeItems(page, view, label).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  return row;
}

/** A tree row's label, description and accessible label (which adds the tooltip's words). */
export async function treeItemText(row: Locator): Promise<{ label: string; description: string; ariaLabel: string }> {
  return {
    label: (await row.locator('.label-name').innerText()).trim(),
    description: (await row.locator('.label-description').innerText().catch(() => '')).trim(),
    ariaLabel: (await row.getAttribute('aria-label')) ?? '',
  };
}

/** Expands a collapsed tree row (a folder, a task with children); leaves an expanded one alone. */
export async function expandTreeItem(page: Page, view: string, label: string | RegExp, timeoutMs = UI_TIMEOUT_MS): Promise<Locator> {
  const row = await waitForTreeItem(page, view, label, timeoutMs);
  if ((await row.getAttribute('aria-expanded')) === 'false') {
    await row.locator('.monaco-tl-twistie').click();
    await treeItems(page, view, label).and(page.locator('[aria-expanded="true"]')).first().waitFor({ timeout: timeoutMs });
  }
  return row;
}

/** Hovers a tree row and clicks one of its inline actions by title ("Stop Task"). */
export async function clickTreeItemAction(page: Page, view: string, label: string | RegExp, action: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  const row = await waitForTreeItem(page, view, label, timeoutMs);
  await row.hover();
  await row.locator(`.actions a.action-label[aria-label=${css(action)}]`).click({ timeout: timeoutMs });
}

/** Right-clicks a tree row and picks `item` ("Copy Task ID") from its context menu. */
export async function pickTreeItemMenu(page: Page, view: string, label: string | RegExp, item: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  const row = await waitForTreeItem(page, view, label, timeoutMs);
  await row.click({ button: 'right' });
  await pickContextMenuItem(page, item, timeoutMs);
}

/** The open context menu's item titles. */
export function contextMenuItems(page: Page): Promise<string[]> {
  return page.locator('.context-view .monaco-menu a.action-menu-item .action-label').allInnerTexts();
}

/** Picks `item` in the open context menu. */
export async function pickContextMenuItem(page: Page, item: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  const menu = page.locator('.context-view .monaco-menu');
  await menu.waitFor({ state: 'visible', timeout: timeoutMs });
  const entry = menu.locator('li.action-item').filter({ has: page.locator('a.action-menu-item .action-label', { hasText: exactly(item) }) });
  if ((await entry.count()) === 0) {
    const shown = await contextMenuItems(page);
    await page.keyboard.press('Escape');
    throw new Error(`no "${item}" in the context menu; it has ${JSON.stringify(shown)}`);
  }
  // A click straight after the menu opens is dropped; hovering focuses the item and Enter runs it.
  await entry.first().hover({ timeout: timeoutMs });
  await menu.locator('li.action-item.focused').filter({ has: page.locator('.action-label', { hasText: exactly(item) }) }).waitFor({ timeout: timeoutMs });
  await page.keyboard.press('Enter');
  await menu.waitFor({ state: 'hidden', timeout: timeoutMs });
}

// ---- status bar, editors, webviews, clipboard -------------------------------------------------

/**
 * A status bar item by its id: VS Code's own (`status.problems`) or an extension's, which is
 * `<publisher>.<name>.<id>` (`airlock.airlock.airlock.status` for createStatusBarItem('airlock.status')).
 */
export const statusBarItem = (page: Page, id: string) => page.locator(`.part.statusbar .statusbar-item[id=${css(id)}]`);

/** The status bar item's text as shown (codicons are not text). */
export async function statusBarText(page: Page, id: string, timeoutMs = UI_TIMEOUT_MS): Promise<string> {
  const label = statusBarItem(page, id).locator('.statusbar-item-label');
  await label.waitFor({ state: 'visible', timeout: timeoutMs });
  return (await label.innerText()).trim();
}

/** Editor tabs for a file name ("README.md", "Untitled-1"); 1.139 renders the name and extension in separate spans. */
export const editorTab = (page: Page, name: string) => page.locator(`.part.editor .tabs-container .tab[role="tab"]:is([data-resource-name=${css(name)}], [aria-label=${css(name)}])`);

/** The text of the active editor's visible lines (Monaco renders only what is on screen). */
export async function activeEditorText(page: Page): Promise<string> {
  const lines = page.locator('.part.editor .editor-group-container.active .monaco-editor .view-lines');
  await lines.first().waitFor({ state: 'visible' });
  return (await lines.first().innerText()).replace(/\u00a0/g, ' ');
}

/**
 * The content of a webview: an outer iframe the workbench owns, an inner `#active-frame` with the
 * extension's HTML. `extensionId` ("airlock.airlock") tells one extension's webviews from others.
 */
export function webviewFrame(page: Page, extensionId?: string): FrameLocator {
  const outer = extensionId ? `iframe.webview.ready[src*=${css(`extensionId=${extensionId}&`)}]` : 'iframe.webview.ready';
  return page.frameLocator(`${outer} >> visible=true`).frameLocator('iframe#active-frame');
}

/** What "Copy …" commands put on the clipboard (openWorkbench granted the permission). */
export function readClipboard(page: Page): Promise<string> {
  return page.evaluate<string>('navigator.clipboard.readText()');
}

// ---- screenshots ------------------------------------------------------------------------------

/**
 * Saves a screenshot of the page as `<dir>/<name>.png` and returns its path. Names are kept to
 * lower-case words and dashes, so they can be copied to media/ for the README as they are.
 */
export async function screenshot(page: Page, name: string, dir: string): Promise<string> {
  const safe = name.toLowerCase().replace(/\.png$/, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${safe || 'screenshot'}.png`);
  await page.screenshot({ path: file, timeout: UI_TIMEOUT_MS });
  return file;
}
