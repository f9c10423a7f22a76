// What the new-password check judges, where it is bounded for the sake of the event loop
// (GUESSABILITY_LIMITS in src/people/passwords.ts): zxcvbn reads only the first 64 characters and
// tries at most 8 l33t substitutions, so a crafted password cannot cost a second of CPU.
import { describe, expect, it } from 'vitest';
import { checkNewPassword, GUESSABILITY_LIMITS } from '../../src/people/passwords.js';

describe('checkNewPassword', () => {
  it('refuses common, l33t-spelled and personal passwords, and takes ordinary strong ones', () => {
    expect(checkNewPassword('password123')?.code).toBe('guessable');
    expect(checkNewPassword('P@$$w0rd2024')?.code).toBe('guessable');
    expect(checkNewPassword('ada.lovelace@example.com', ['ada.lovelace@example.com'])?.code).toBe('guessable');
    expect(checkNewPassword('correct horse battery staple')).toBeUndefined();
    expect(checkNewPassword('short')?.code).toBe('too_short');
    expect(checkNewPassword('x'.repeat(129))?.code).toBe('too_long');
  });

  it('judges only the first 64 characters: what a guessable start is followed by does not rescue it', () => {
    expect(GUESSABILITY_LIMITS.maxLength).toBe(64);
    const guessableStart = 'password'.repeat(8);
    const strongTail = 'Kx9#qv2!Lm7@Rt4$Zp8%Wn3^Hb6&Jc1*';
    expect(checkNewPassword(guessableStart + strongTail)?.code).toBe('guessable');
    expect(checkNewPassword(strongTail + guessableStart)).toBeUndefined();
  });
});
