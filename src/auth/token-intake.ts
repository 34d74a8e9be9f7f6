import { ValidationError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import type { AuthClient } from './auth-client.js';
import type { CredentialKind, CredentialRecord } from './credential-store.js';
import { assertUsable } from './login-flow.js';
import { OAuthError } from './oauth-errors.js';
import { allTargetIds, credentialKindOf, describeTokenSubcode } from './token-inspection.js';

export interface AddCredentialInput {
  tenantId: string;
  token: string | Secret;
  id?: string | undefined;
  /** The kind, when the flow knows better than `debug_token` (a business-integration token looks like a system user). */
  kind?: CredentialKind | undefined;
  /**
   * Inspect with `debug_token` before storing (default true): an invalid, expired or foreign token is refused and
   * nothing is stored. With `false` the fields below are trusted as given.
   */
  inspect?: boolean | undefined;
  expiresAtMs?: number | null | undefined;
  dataAccessExpiresAtMs?: number | null | undefined;
  issuedAtMs?: number | null | undefined;
  scopes?: string[] | undefined;
  targetIds?: string[] | undefined;
  subjectId?: string | null | undefined;
}

export type CredentialFields = Pick<
  CredentialRecord,
  'kind' | 'subjectId' | 'scopes' | 'targetIds' | 'issuedAtMs' | 'expiresAtMs' | 'dataAccessExpiresAtMs'
>;

/**
 * What a new credential is, from `debug_token` (or, with `inspect: false`, from the caller). Refuses, storing
 * nothing, a token that is invalid, expired, foreign, of an unsupported type, or an app token (never stored).
 */
export async function credentialFields(
  auth: AuthClient,
  input: AddCredentialInput,
  token: Secret,
  now: number,
): Promise<CredentialFields> {
  const fields =
    input.inspect === false ? givenFields(input) : await inspectedFields(auth, input, token, now);
  if (fields.kind === 'app') {
    throw new ValidationError(
      'app tokens are derived from the app secret when needed and never stored (design.md)',
      'token',
    );
  }
  if (fields.expiresAtMs !== null && fields.expiresAtMs <= now) {
    throw new OAuthError('token-expired', 'The token has already expired: nothing was stored.');
  }
  return fields;
}

function givenFields(input: AddCredentialInput): CredentialFields {
  if (!input.kind) throw new ValidationError('is required when inspect is false', 'kind');
  return {
    kind: input.kind,
    subjectId: input.subjectId ?? null,
    scopes: input.scopes ?? [],
    targetIds: input.targetIds ?? [],
    issuedAtMs: input.issuedAtMs ?? null,
    expiresAtMs: input.expiresAtMs ?? null,
    dataAccessExpiresAtMs: input.dataAccessExpiresAtMs ?? null,
  };
}

async function inspectedFields(
  auth: AuthClient,
  input: AddCredentialInput,
  token: Secret,
  now: number,
): Promise<CredentialFields> {
  const inspection = await auth.inspect(token);
  if (!inspection.isValid) {
    const expired = inspection.error?.subcode === 463;
    throw new OAuthError(
      expired ? 'token-expired' : 'token-invalid',
      expired
        ? 'The token has expired: nothing was stored. Log in again to get a new one.'
        : `The token is not valid (${describeTokenSubcode(inspection.error?.subcode)}): nothing was stored.`,
      { graphCode: inspection.error?.code, graphSubcode: inspection.error?.subcode },
    );
  }
  assertUsable(inspection, auth.appId);
  const kind = credentialKindOf(inspection, now, input.kind) ?? input.kind;
  if (!kind) throw new ValidationError(`debug_token type "${inspection.type}" is not supported`, 'token');
  return {
    kind,
    subjectId: inspection.userId ?? input.subjectId ?? null,
    scopes: inspection.scopes,
    targetIds: allTargetIds(inspection),
    issuedAtMs: inspection.issuedAtMs ?? now,
    expiresAtMs: inspection.expiresAtMs,
    dataAccessExpiresAtMs: inspection.dataAccessExpiresAtMs,
  };
}
