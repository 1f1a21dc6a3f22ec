import type { Page } from 'playwright-core';
import { UI_TIMEOUT_MS } from './workbench.js';

// The SCM view's parts, by what VS Code renders for an extension's source control.
export const scmView = (page: Page) => page.locator('.scm-view');
export const scmRows = (page: Page) => scmView(page).locator('.monaco-list-row');
export const scmResource = (page: Page, name: string) => scmRows(page).filter({ has: page.locator('.resource .label-name', { hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) });
export const scmGroup = (page: Page, label: string) => scmRows(page).filter({ has: page.locator('.resource-group', { hasText: label }) });

/**
 * A source control's title action. With git also in the workspace, each source control has a row
 * of its own and its actions sit there (hidden until hovered); `provider` picks the row.
 */
export async function clickScmTitleAction(page: Page, action: string, provider: RegExp = /Airlock: /): Promise<void> {
  const row = scmRows(page).filter({ has: page.locator('.scm-provider') }).filter({ hasText: provider }).first();
  await row.hover();
  await row.locator(`.actions a.action-label[aria-label=${JSON.stringify(action)}]`).click({ timeout: UI_TIMEOUT_MS });
}

