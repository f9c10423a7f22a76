// WCAG 2.x text contrast, measured in the browser on what it actually rendered: every visible
// element with text of its own (and every filled-in form field), its computed text colour against
// its effective background — its own and its ancestors' backgrounds composited, up to the first
// opaque one — and the ratio WCAG 1.4.3 asks for (4.5:1, or 3:1 for large text).
import type { Page } from 'playwright-core';

export interface LowContrast {
  text: string;
  element: string;
  color: string;
  background: string;
  ratio: number;
  required: number;
}

/** Every piece of text on the page below the contrast WCAG AA requires. */
export async function lowContrastText(page: Page): Promise<LowContrast[]> {
  // What is measured must be what the stylesheet says: a heading can be in the DOM (and found by
  // a waitFor) before the stylesheet has arrived, and then the browser's default link blue shows.
  await page.waitForLoadState('load');
  // Runs in the page: self-contained, no imports, no helpers from outside this function.
  return page.evaluate(() => {
    type Rgba = [number, number, number, number];
    // The few DOM types used here, declared locally: the project compiles without the DOM lib.
    interface Element {
      tagName: string; id: string; classList: Iterable<string>; parentElement: Element | null; textContent: string | null;
      childNodes: Iterable<{ nodeType: number; textContent: string | null }>;
      matches(selector: string): boolean; closest(selector: string): Element | null;
      checkVisibility(options: object): boolean; getBoundingClientRect(): { width: number; height: number };
    }
    const { document, getComputedStyle, matchMedia } = globalThis as unknown as {
      document: { body: { querySelectorAll(selector: string): Iterable<Element> } };
      getComputedStyle(element: Element): { color: string; backgroundColor: string; fontSize: string; fontWeight: string };
      matchMedia(query: string): { matches: boolean };
    };
    const TEXT_NODE = 3;
    const valueOf = (element: Element) => (element as unknown as { value: string }).value;

    // Chromium computes colours as rgb()/rgba(), and color-mix() results as color(srgb …).
    function parse(css: string): Rgba {
      let m = /^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/.exec(css);
      if (m) return [Number(m[1]) / 255, Number(m[2]) / 255, Number(m[3]) / 255, m[4] === undefined ? 1 : Number(m[4])];
      m = /^color\(srgb ([\d.e-]+) ([\d.e-]+) ([\d.e-]+)(?: \/ ([\d.e-]+))?\)$/.exec(css);
      if (m) return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])];
      throw new Error(`a colour the contrast check cannot read: ${css}`);
    }

    function over(top: Rgba, bottom: Rgba): Rgba {
      const a = top[3];
      return [top[0] * a + bottom[0] * (1 - a), top[1] * a + bottom[1] * (1 - a), top[2] * a + bottom[2] * (1 - a), 1];
    }

    function luminance([r, g, b]: Rgba): number {
      const lin = (c: number) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    }

    function hex([r, g, b]: Rgba): string {
      return `#${[r, g, b].map((c) => Math.round(c * 255).toString(16).padStart(2, '0')).join('')}`;
    }

    /** The backgrounds behind an element, composited from the first opaque one outwards. */
    function backgroundOf(element: Element): Rgba {
      const layers: Rgba[] = [];
      for (let at: Element | null = element; at; at = at.parentElement) {
        const layer = parse(getComputedStyle(at).backgroundColor);
        if (layer[3] > 0) layers.push(layer);
        if (layer[3] >= 1) break;
      }
      // Nothing opaque at all: the browser's canvas, white in light mode and dark in dark mode.
      const dark = matchMedia('(prefers-color-scheme: dark)').matches;
      let result: Rgba = layers.at(-1)?.[3] === 1 ? layers.pop()! : dark ? [0x12 / 255, 0x12 / 255, 0x12 / 255, 1] : [1, 1, 1, 1];
      while (layers.length) result = over(layers.pop()!, result);
      return result;
    }

    function hasOwnText(element: Element): boolean {
      if (element.matches('input:not([type=hidden],[type=checkbox],[type=radio]), textarea')) {
        return valueOf(element).trim() !== '';
      }
      if (element.matches('select')) return true;
      return [...element.childNodes].some((node) => node.nodeType === TEXT_NODE && node.textContent!.trim() !== '');
    }

    function describe(element: Element): string {
      const classes = [...element.classList].map((c) => `.${c}`).join('');
      return `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ''}${classes}`;
    }

    const found: Array<{ text: string; element: string; color: string; background: string; ratio: number; required: number }> = [];
    for (const element of document.body.querySelectorAll('*')) {
      if (element.matches('option, script, style') || !hasOwnText(element)) continue;
      if (!element.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
      const box = element.getBoundingClientRect();
      if (box.width <= 1 || box.height <= 1) continue; // visually hidden, for screen readers only
      // WCAG exempts inactive controls.
      if (element.closest('button:disabled, input:disabled, select:disabled, textarea:disabled, fieldset:disabled')) continue;
      const style = getComputedStyle(element);
      const background = backgroundOf(element);
      const color = over(parse(style.color), background);
      const [lighter, darker] = [luminance(color), luminance(background)].sort((a, b) => b - a) as [number, number];
      const ratio = (lighter + 0.05) / (darker + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      const required = large ? 3 : 4.5;
      if (ratio < required) {
        const text = element.matches('input, textarea, select') ? valueOf(element) : element.textContent ?? '';
        found.push({ text: text.replace(/\s+/g, ' ').trim().slice(0, 60), element: describe(element), color: hex(color), background: hex(background), ratio: Math.round(ratio * 100) / 100, required });
      }
    }
    return found;
  });
}
