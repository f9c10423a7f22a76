// What a failed delivery leaves for operators (src/outbox/failures.ts): the error's class, codes and
// message without any link, bounded; and the retry schedule, doubling up to its cap.
import { describe, expect, it } from 'vitest';
import { describeFailure, retryDelayMs } from '../../src/outbox/failures.js';

describe('describing a failure', () => {
  it('keeps the class, the codes and the message, and cuts out links', () => {
    const error = Object.assign(new Error('Message rejected: spam link https://id.example.test/recover/s3cret'), { code: 'EMESSAGE', responseCode: 550 });
    expect(describeFailure(error)).toBe('Error (EMESSAGE 550): Message rejected: spam link [link]');
  });

  it('stays short', () => {
    expect(describeFailure(new Error('x'.repeat(2000))).length).toBeLessThanOrEqual(300);
  });
});

describe('the retry schedule', () => {
  it('doubles from the first delay up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 50].map((attempts) => retryDelayMs(attempts, 5_000, 60_000))).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
  });
});
