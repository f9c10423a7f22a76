// Which device a session is on, in the words people use ("Chrome on Linux"), from the user agent
// the browser sent when it signed in. bowser (MIT, no dependencies) does the parsing.
import Bowser from 'bowser';
import { translator } from '../i18n/catalogs.js';

const RAW_LIMIT = 80;

export function describeDevice(userAgent: string | null, locale = 'en'): string {
  const { t } = translator(locale);
  if (!userAgent) return t('device.unknown');
  const { browser, os } = Bowser.parse(userAgent);
  if (browser.name && os.name) return t('device.browserOn', { browser: browser.name, os: os.name });
  const known = browser.name || os.name;
  if (known) return known;
  // Not a browser bowser knows (a script, a new app): its own words, cut to fit the page.
  return userAgent.length > RAW_LIMIT ? `${userAgent.slice(0, RAW_LIMIT - 1)}…` : userAgent;
}
