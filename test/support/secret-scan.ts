import { createPrivateKey } from 'node:crypto';
import { expect } from 'vitest';

const WINDOW = 12;

/**
 * Where any of `secrets` appears in `text`, whole or as any 12-character piece of it (catches truncated prints such
 * as "first 20 chars of the token", which peers leak). One pass over `text` against a set of every 12-character piece
 * of the longer secrets. Names a secret by its index only, never by its value.
 */
export function findSecrets(text: string, secrets: string[]): string[] {
  const hits = new Map<number, string>();
  const pieces = new Map<string, number>();
  secrets.forEach((secret, n) => {
    if (!secret) return;
    if (text.includes(secret)) hits.set(n, `secret #${n} in full`);
    else if (secret.length > WINDOW * 2)
      for (let i = 0; i + WINDOW <= secret.length; i++) pieces.set(secret.slice(i, i + WINDOW), n);
  });
  if (pieces.size > 0) {
    for (let i = 0; i + WINDOW <= text.length; i++) {
      const n = pieces.get(text.slice(i, i + WINDOW));
      if (n !== undefined && !hits.has(n)) hits.set(n, `part of secret #${n} at ${i}`);
    }
  }
  return [...hits.values()];
}

/** Asserts that none of `secrets` appears in `text`, whole or in part (see {@link findSecrets}). */
export function expectNoSecrets(text: string, secrets: string[], where = 'output'): void {
  expect(findSecrets(text, secrets), `${where} contains a secret`).toEqual([]);
}

/**
 * What of a private key must never be shown, for {@link expectNoSecrets}: its PEM's long lines and its private JWK
 * parts (d, p, q). Text that shows the matching public key on purpose must have it cut out first: a private key's
 * encoding holds the public modulus too.
 */
export function privateKeyParts(pems: string[]): string[] {
  return pems.flatMap((pem) => {
    const jwk = createPrivateKey(pem).export({ format: 'jwk' });
    return [...pem.split('\n').filter((l) => l.length > 40), ...([jwk.d, jwk.p, jwk.q] as string[])];
  });
}
