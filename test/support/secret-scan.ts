import { expect } from 'vitest';

/**
 * Asserts that none of `secrets` appears in `text`, whole or as a long-enough piece (a 12-character window catches
 * truncated prints such as "first 20 chars of the token", which peers leak).
 */
export function expectNoSecrets(text: string, secrets: string[], where = 'output'): void {
  for (const secret of secrets) {
    if (!secret) continue;
    expect(text.includes(secret), `${where} contains a secret in full`).toBe(false);
    const window = 12;
    if (secret.length > window * 2) {
      for (let i = 0; i + window <= secret.length; i += 4) {
        const piece = secret.slice(i, i + window);
        expect(text.includes(piece), `${where} contains part of a secret (${i}..${i + window})`).toBe(false);
      }
    }
  }
}
