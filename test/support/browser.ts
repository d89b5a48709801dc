import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (or CHROMIUM_PATH), headless, for the page tests. */
export async function launchChromium(): Promise<Browser> {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(path)) throw new Error(`No Chromium at ${path}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({ executablePath: path, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

/** Saves whole-page screenshots at desktop and phone widths under test-results/{dir}/
 *  (gitignored), to be looked at; the page is left at desktop width. */
export function screenshots(dir: string) {
  const shots = resolve(import.meta.dirname, '../../test-results', dir);
  mkdirSync(shots, { recursive: true });
  return async (page: Page, name: string) => {
    for (const [label, width, height] of [['desktop', 1280, 900], ['phone', 390, 844]] as const) {
      await page.setViewportSize({ width, height });
      await page.screenshot({ path: join(shots, `${name}-${label}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  };
}
