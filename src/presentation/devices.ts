// Which device a session is on, in the words people use ("Chrome on Linux"), from the user agent
// the browser sent when it signed in. bowser (MIT, no dependencies) does the parsing.
//
// The user agent is whatever the client chose to send, and this text goes into the mail that warns
// a person of a sign-in from a new browser, and onto their sessions page. Someone signing in with
// a stolen password must not be able to write that warning: only the names bowser knows are shown
// as they are. bowser's fallback takes any text before a "/" for a browser's name ("Your IT
// department verified this sign-in … https://evil.example/help/1.0"), so that is not trusted. An
// agent bowser does not know shows its product token alone (`curl`, `python-requests`) when it
// looks like one, and otherwise nothing of its own.
import Bowser from 'bowser';
import { translator } from '../i18n/catalogs.js';

const { BROWSER_MAP, OS_MAP } = Bowser as unknown as { BROWSER_MAP: Record<string, string>; OS_MAP: Record<string, string> };
const KNOWN_BROWSERS = new Set(Object.values(BROWSER_MAP));
const KNOWN_SYSTEMS = new Set(Object.values(OS_MAP));
/** A product token and its version (RFC 9110 §10.1.5), as scripts and tools send: `curl/8.5.0`. */
const PRODUCT = /^([A-Za-z][A-Za-z0-9._-]{0,31})(?:\/([0-9][A-Za-z0-9._-]{0,15}))?(?:\s|$)/;

export function describeDevice(userAgent: string | null, locale = 'en'): string {
  const { t } = translator(locale);
  if (!userAgent) return t('device.unknown');
  const { browser, os } = Bowser.parse(userAgent);
  const browserName = browser.name && KNOWN_BROWSERS.has(browser.name) ? browser.name : undefined;
  const osName = os.name && KNOWN_SYSTEMS.has(os.name) ? os.name : undefined;
  if (browserName && osName) return t('device.browserOn', { browser: browserName, os: osName });
  const known = browserName || osName;
  if (known) return known;
  const product = PRODUCT.exec(userAgent);
  return product ? `${product[1]}${product[2] ? `/${product[2]}` : ''}` : t('device.unknown');
}
