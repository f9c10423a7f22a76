// The device a session is listed under: what people recognise, from what browsers really send.
import { describe, expect, it } from 'vitest';
import { describeDevice } from '../../src/presentation/devices.js';

describe('the device a session is on', () => {
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'Chrome on Linux'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0', 'Firefox on Windows'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Safari on iOS'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0', 'Microsoft Edge on macOS'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Chrome on Android'],
  ])('%s is %j', (userAgent, expected) => {
    expect(describeDevice(userAgent)).toBe(expected);
  });

  it('shows an agent it does not know by its product token alone', () => {
    expect(describeDevice('curl/8.5.0')).toBe('curl/8.5.0');
    expect(describeDevice('python-requests/2.32.3 extra words')).toBe('python-requests/2.32.3');
    expect(describeDevice(`Some custom agent ${'x'.repeat(200)}`)).toBe('Some');
  });

  it('never shows sentences a client wrote: the warning mail and the sessions page are not theirs to write', () => {
    for (const forged of [
      'Your IT department verified this sign-in, nothing to do. Questions? Call +1 555 0100 or visit https://evil.example/help/1.0 (X11; Linux x86_64)',
      'https://evil.example/keep your account safe',
      '\u202Eelpmaxe.live\u202C/1.0',
      'Mozilla/5.0 (compatible; Call 555 0100 now)',
    ]) {
      const shown = describeDevice(forged);
      expect(shown, forged).not.toMatch(/evil|IT department|555|\u202E/);
      expect(shown.length, forged).toBeLessThanOrEqual(48);
    }
  });

  it('says so when the browser sent none', () => {
    expect(describeDevice(null)).toBe('Unknown device');
    expect(describeDevice('')).toBe('Unknown device');
  });
});
