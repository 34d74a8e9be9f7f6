import type { GraphError } from '../core/graph-error.js';
import type { Secret } from '../core/secret.js';
import type { AuthClient } from './auth-client.js';
import type { CredentialRecord } from './credential-store.js';
import type { VersionedToken } from './token-cache.js';
import type { TokenEventTrigger } from './token-events.js';
import { allTargetIds, type TokenInspection } from './token-inspection.js';
import { afterSuccess, isTerminal } from './token-policy.js';
import { errorText, type TokenStoreSync } from './token-store-sync.js';

/** A `debug_token` health check: records what Graph says (or the failure to ask), marks a dead token. */
export async function checkCredential(
  sync: TokenStoreSync,
  auth: AuthClient,
  rec: CredentialRecord,
  trigger: TokenEventTrigger,
): Promise<CredentialRecord | undefined> {
  let inspection: TokenInspection;
  try {
    inspection = await auth.inspect(rec.token);
  } catch (err) {
    return sync.recordFailure(rec, err, 'credential.check_failed', trigger);
  }
  if (!inspection.isValid) return sync.markFromInspection(rec, inspection, trigger);
  return recordChecked(sync, rec, inspection, trigger);
}

/** Graph vouches for the token: store its current expiries and scopes, clear failures, emit `credential.checked`. */
async function recordChecked(
  sync: TokenStoreSync,
  rec: CredentialRecord,
  inspection: TokenInspection,
  trigger: TokenEventTrigger,
): Promise<CredentialRecord | undefined> {
  const timing = {
    kind: rec.kind,
    expiresAtMs: inspection.expiresAtMs,
    dataAccessExpiresAtMs: inspection.dataAccessExpiresAtMs,
  };
  const updated = await sync.write(rec, {
    expiresAtMs: timing.expiresAtMs,
    dataAccessExpiresAtMs: timing.dataAccessExpiresAtMs,
    scopes: inspection.scopes,
    targetIds: allTargetIds(inspection),
    subjectId: inspection.userId ?? rec.subjectId,
    ...afterSuccess(sync.policies, timing, sync.clock.now()),
    failures: 0,
    lastError: null,
    leaseOwner: null,
    leaseExpiresAtMs: null,
  });
  if (updated) {
    sync.emit('credential.checked', updated, {
      expiresAtMs: updated.expiresAtMs,
      dataAccessExpiresAtMs: updated.dataAccessExpiresAtMs,
      trigger,
    });
  }
  return updated;
}

/**
 * Graph answered 190 to `token`: is there a newer version to retry with? If not, ask Graph about the token and mark
 * the credential. Returns the version to retry with, or undefined.
 */
export async function inspectRejected(
  sync: TokenStoreSync,
  auth: AuthClient,
  id: string,
  token: Secret,
  error: GraphError,
): Promise<VersionedToken | undefined> {
  const rec = await sync.refresh(id);
  if (!rec || isTerminal(rec.status)) return undefined;
  if (!rec.token.equals(token)) return { token: rec.token, version: rec.version };
  sync.logger.warn('token rejected by Graph; inspecting', {
    credentialId: id,
    tenantId: rec.tenantId,
    graphCode: error.graphCode,
    graphSubcode: error.graphSubcode,
  });
  let inspection: TokenInspection;
  try {
    inspection = await auth.inspect(rec.token);
  } catch (err) {
    // Graph is down or refuses the inspection: leave the state alone and look again soon.
    await sync.write(rec, { nextCheckAtMs: sync.clock.now(), lastError: errorText(err) });
    sync.kick();
    return undefined;
  }
  if (inspection.isValid) {
    // Graph still vouches for the token: the 190 was about something else; there is nothing newer to retry with.
    await recordChecked(sync, rec, inspection, 'token-rejected');
    return undefined;
  }
  const after = await sync.markFromInspection(rec, inspection, 'token-rejected');
  return after && !after.token.equals(token) && !isTerminal(after.status)
    ? { token: after.token, version: after.version }
    : undefined;
}
