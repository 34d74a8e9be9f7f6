import type { Logger } from '../core/logger.js';
import type { CredentialKind, CredentialStatus } from './credential-store.js';

/** What every token event carries: ids, kinds and times, never a token value. */
export interface TokenEventBase {
  credentialId: string;
  tenantId: string;
  kind: CredentialKind;
  status: CredentialStatus;
  /** The credential's version after the change. */
  version: number;
  /** When it happened, on the manager's clock (ms since the epoch). */
  atMs: number;
}

/** What made the manager look at a credential. */
export type TokenEventTrigger = 'schedule' | 'token-rejected' | 'manual' | 'add';

export type TokenEvent =
  | (TokenEventBase & { type: 'credential.added'; expiresAtMs: number | null })
  | (TokenEventBase & {
      type: 'credential.refreshed';
      previousVersion: number;
      /** `exchange-short-lived` (short → long-lived) or `renew-60-day` (system-user refresh). */
      method: 'exchange-short-lived' | 'renew-60-day';
      expiresAtMs: number | null;
      trigger: TokenEventTrigger;
    })
  | (TokenEventBase & {
      type: 'credential.rotated';
      previousVersion: number;
      /** `renewal` (this instance renewed), `replace` (a new token was put in), `store` (another instance rotated). */
      source: 'renewal' | 'replace' | 'store';
    })
  | (TokenEventBase & {
      type: 'credential.checked';
      expiresAtMs: number | null;
      dataAccessExpiresAtMs: number | null;
      trigger: TokenEventTrigger;
    })
  | (TokenEventBase & {
      type: 'credential.expiring';
      /** The expiry this warning is about. */
      which: 'token' | 'data-access';
      expiresAtMs: number;
      msLeft: number;
      /** False for tokens Meta does not let us renew (long-lived user tokens): someone must log in again. */
      renewable: boolean;
    })
  | (TokenEventBase & { type: 'credential.expired'; expiresAtMs: number | null; trigger: TokenEventTrigger })
  | (TokenEventBase & {
      type: 'credential.invalid';
      /** Human text for why (password changed, revoked, app removed, ...). */
      reason: string;
      graphCode: number | undefined;
      graphSubcode: number | undefined;
      trigger: TokenEventTrigger;
    })
  | (TokenEventBase & { type: 'credential.revoked' })
  | (TokenEventBase & {
      type: 'credential.renewal_failed' | 'credential.check_failed';
      failures: number;
      /** When the manager tries again. */
      nextAttemptAtMs: number;
      /** A scrubbed message; never a token. */
      error: string;
      trigger: TokenEventTrigger;
    })
  | (TokenEventBase & { type: 'credential.removed' });

export type TokenEventType = TokenEvent['type'];
export type TokenEventOf<T extends TokenEventType> = Extract<TokenEvent, { type: T }>;
export type TokenEventListener<T extends TokenEventType = TokenEventType> = (event: TokenEventOf<T>) => void;

/** A small typed event hub; a throwing listener is logged and never breaks the manager. */
export class TokenEventHub {
  readonly #listeners = new Map<string, Set<(e: TokenEvent) => void>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Listens to one event type, or to all with `'*'`. Returns an unsubscribe function. */
  on<T extends TokenEventType>(type: T | '*', listener: TokenEventListener<T>): () => void {
    let set = this.#listeners.get(type);
    if (!set) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    const fn = listener as (e: TokenEvent) => void;
    set.add(fn);
    return () => set?.delete(fn);
  }

  emit(event: TokenEvent): void {
    for (const key of [event.type, '*']) {
      const set = this.#listeners.get(key);
      if (!set) continue;
      for (const fn of [...set]) {
        try {
          fn(event);
        } catch (err) {
          this.#logger.error('token event listener failed', { event: event.type, err });
        }
      }
    }
  }
}
