import { ValidationError } from '../core/errors.js';
import { Secret } from '../core/secret.js';
import type { AuthClient } from './auth-client.js';
import {
  type CredentialKind,
  CredentialNotFoundError,
  type CredentialPatch,
  type CredentialRecord,
} from './credential-store.js';
import { OAuthError } from './oauth-errors.js';
import { CredentialUnavailableError } from './token-cache.js';
import type { TokenEventTrigger } from './token-events.js';
import type { TokenInspection } from './token-inspection.js';
import { afterSuccess, isTerminal, renewAt, renewedExpiry, renewMethodOf } from './token-policy.js';
import type { TokenStoreSync } from './token-store-sync.js';

/** Claims the credential (a lease across instances), or reads it where the store has no leases. */
async function claimForRenewal(
  sync: TokenStoreSync,
  id: string,
): Promise<{ rec: CredentialRecord; held: boolean }> {
  const { store } = sync;
  const rec = store.claim
    ? await store.claim(id, sync.instanceId, sync.clock.now(), sync.policies.leaseMs)
    : undefined;
  if (rec) return { rec, held: true };
  const current = await store.get(id);
  if (!current) throw new CredentialNotFoundError(id);
  return { rec: current, held: !store.claim };
}

/**
 * Renews one credential now: exchange a short-lived token, or refresh a 60-day one, then store the new token with a
 * version compare-and-set. The old token stays in place when Graph or the store fails. Callers go through the
 * manager's single flight ({@link TokenManager.renew}).
 */
export async function renewCredential(
  sync: TokenStoreSync,
  auth: AuthClient,
  id: string,
  trigger: TokenEventTrigger,
): Promise<CredentialRecord> {
  const now = sync.clock.now();
  const { rec, held } = await claimForRenewal(sync, id);
  sync.apply(rec);
  // Another instance holds the lease and is renewing: its new version reaches us through the store.
  if (!held) return rec;
  if (isTerminal(rec.status)) {
    await sync.release(rec);
    throw new CredentialUnavailableError(rec.id, rec.tenantId, rec.status, rec.lastError);
  }
  // A sweep works through a batch claimed earlier: when a slow batch outlived its lease, another instance may have
  // renewed this credential already. Renewing what is no longer due would refresh it at Meta a second time.
  const due = renewAt(sync.policies, rec);
  if (trigger === 'schedule' && due !== undefined && due > now) {
    await sync.release(rec);
    return rec;
  }
  const method = renewMethodOf(rec);
  if (!method) {
    await sync.release(rec);
    throw new ValidationError(
      `a ${rec.kind} token${rec.expiresAtMs === null ? ' that never expires' : ''} cannot be renewed; ${
        rec.kind === 'user-long' ? 'the person must log in again before it expires' : 'nothing to do'
      }`,
      'credential',
    );
  }
  let fresh: { accessToken: Secret; expiresAtMs: number | null };
  try {
    fresh =
      method === 'exchange-short-lived'
        ? await auth.exchangeForLongLived(rec.token)
        : await auth.refreshSystemUserToken(rec.token);
  } catch (err) {
    await renewalFailed(sync, auth, rec, err, trigger);
    throw err;
  }
  const at = sync.clock.now();
  const kind: CredentialKind = method === 'exchange-short-lived' ? 'user-long' : rec.kind;
  const expiresAtMs = renewedExpiry(method, fresh.expiresAtMs, rec.expiresAtMs, at);
  const sameToken = fresh.accessToken.equals(rec.token);
  const patch: CredentialPatch = {
    kind,
    expiresAtMs,
    ...afterSuccess(sync.policies, { ...rec, kind, expiresAtMs }, at),
    failures: 0,
    lastError: null,
    leaseOwner: null,
    leaseExpiresAtMs: null,
  };
  if (!sameToken) {
    patch.token = new Secret(fresh.accessToken.reveal(), 'access-token');
    patch.issuedAtMs = at;
  }
  let updated: CredentialRecord | undefined;
  try {
    updated = await sync.store.update(rec.id, rec.version, patch, at);
  } catch (err) {
    // The store failed: the new token is dropped, the old one stays in use (it still works), and we retry later.
    sync.logger.error('could not store a renewed token; keeping the current one', {
      credentialId: rec.id,
      err,
    });
    await sync.release(rec).catch(() => undefined);
    throw err;
  }
  if (!updated) {
    // Another writer rotated first: theirs wins (ours is simply never used).
    const current = await sync.refresh(rec.id);
    await sync.release(rec).catch(() => undefined);
    if (!current) throw new CredentialNotFoundError(rec.id);
    return current;
  }
  sync.apply(updated);
  sync.kick();
  // Graph handed the same token back (a never-expiring system-user token, a long-lived re-exchange): nothing rotated.
  if (sameToken) return updated;
  sync.emit('credential.refreshed', updated, {
    previousVersion: rec.version,
    method,
    expiresAtMs: updated.expiresAtMs,
    trigger,
  });
  sync.rotated(updated, rec.version, 'renewal');
  return updated;
}

async function renewalFailed(
  sync: TokenStoreSync,
  auth: AuthClient,
  rec: CredentialRecord,
  err: unknown,
  trigger: TokenEventTrigger,
): Promise<void> {
  if (err instanceof OAuthError && (err.reason === 'token-expired' || err.reason === 'token-invalid')) {
    // Graph refuses the token itself: look at it and mark it (expired / invalid) rather than retrying forever.
    let inspection: TokenInspection | undefined;
    try {
      inspection = await auth.inspect(rec.token);
    } catch {
      inspection = undefined;
    }
    if (inspection && !inspection.isValid) {
      await sync.markFromInspection(rec, inspection, trigger);
      return;
    }
    if (!inspection && err.reason === 'token-expired') {
      await sync.markTerminal(rec, 'expired', 'the token expired before it could be renewed', trigger);
      return;
    }
  }
  await sync.recordFailure(rec, err, 'credential.renewal_failed', trigger);
}
