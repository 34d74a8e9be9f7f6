/** A request body's JSON Schema (the subset api.ts enforces: string, string-or-null, boolean and string-array fields). */
export interface BodySchema {
  type: 'object';
  properties: Record<string, Record<string, unknown>>;
  required: string[];
  /** false unless the body is open by nature (a Cloud API message). */
  additionalProperties: boolean;
}

const body = (
  properties: Record<string, Record<string, unknown>>,
  required: string[],
  additionalProperties = false,
): BodySchema => ({ type: 'object', properties, required, additionalProperties });

/**
 * Request bodies by operation (`METHOD /path` as in the document). The API validates every body against these before a
 * handler runs, so the document and the checks cannot drift; an operation missing here takes no body.
 */
export const REQUEST_BODIES: Record<string, BodySchema> = {
  'POST /tenants': body({ name: { type: 'string', maxLength: 100 } }, ['name']),
  'POST /tenants/{tenantId}/credentials': body({ token: { type: 'string', maxLength: 4096 } }, ['token']),
  'POST /tenants/{tenantId}/embedded-signup': body(
    {
      code: { type: 'string', maxLength: 2048 },
      wabaIds: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 100 },
      pin: { type: 'string', maxLength: 6 },
      // The WA_EMBEDDED_SIGNUP FINISH message's data (session info).
      wabaId: { type: 'string', maxLength: 32 },
      phoneNumberId: { type: 'string', maxLength: 32 },
      businessId: { type: 'string', maxLength: 32 },
    },
    ['code'],
  ),
  'POST /api-keys': body(
    { tenantId: { type: ['string', 'null'], maxLength: 100 }, label: { type: 'string', maxLength: 100 } },
    [],
  ),
  'POST /tenants/{tenantId}/subscriptions': body(
    {
      url: {
        type: 'string',
        maxLength: 2000,
        description:
          'https, on a public address: loopback, link-local, private, unique-local, unspecified and multicast destinations (IPv4 and IPv6, also by DNS name) are refused with 422 outbound_refused unless WACLOUD_OUTBOUND_ALLOW lists them',
      },
      events: { type: 'array', items: { type: 'string', maxLength: 100 }, maxItems: 100 },
    },
    ['url'],
  ),
  'PATCH /subscriptions/{subscriptionId}': body(
    { active: { type: 'boolean', description: 'false deactivates, true reactivates' } },
    ['active'],
  ),
  'POST /tenants/{tenantId}/flow-keys': body(
    { phoneNumberId: { type: 'string', maxLength: 32, description: "one of the tenant's phone number ids" } },
    ['phoneNumberId'],
  ),
  'POST /tenants/{tenantId}/flow-keys/rotate': body(
    { phoneNumberId: { type: 'string', maxLength: 32, description: "one of the tenant's phone number ids" } },
    ['phoneNumberId'],
  ),
  // Any Cloud API message body plus `from`; the message itself is validated like the SDK validates it.
  'POST /tenants/{tenantId}/messages': body(
    { from: { type: 'string', maxLength: 40, description: 'phone number id' } },
    ['from'],
    true,
  ),
};

/** The broker API's OpenAPI 3.1 document, served at /api/v1/openapi.json. Kept beside api.ts; a test compares routes. */
export function openApiDocument(): Record<string, unknown> {
  const ok = (description: string, schema: Record<string, unknown> = { type: 'object' }) => ({
    description,
    content: { 'application/json': { schema } },
  });
  const err = { $ref: '#/components/responses/Error' };
  const list = (item: string) =>
    ok('list', {
      type: 'object',
      properties: { data: { type: 'array', items: { $ref: `#/components/schemas/${item}` } } },
    });
  const tenantParam = { name: 'tenantId', in: 'path', required: true, schema: { type: 'string' } };
  const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
  const requestBody = (operation: string) => ({
    required: true,
    content: { 'application/json': { schema: REQUEST_BODIES[operation] } },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'wacloud broker API',
      version: '1',
      description:
        'Admin keys see every tenant; tenant keys see only their own (other ids answer 404); operations marked ' +
        'x-wacloud-admin answer 403 to tenant keys. Bodies are JSON (Content-Type: application/json, at most 1 MiB) ' +
        'checked against the schemas here: unknown fields, wrong types and malformed JSON answer 4xx and change ' +
        'nothing. Responses never contain a Meta token.',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'A broker API key (wck_...)' },
      },
      responses: {
        Error: ok('error', {
          type: 'object',
          properties: {
            error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
          },
        }),
      },
      schemas: {
        Tenant: {
          type: 'object',
          properties: { id: { type: 'string' }, name: { type: 'string' }, createdAtMs: { type: 'integer' } },
        },
        Credential: {
          type: 'object',
          description: 'Metadata only.',
          properties: {
            id: { type: 'string' },
            tenantId: { type: 'string' },
            kind: {
              enum: [
                'temporary',
                'user-short',
                'user-long',
                'system-user',
                'business-integration',
                'page',
                'app',
              ],
            },
            status: { enum: ['active', 'expiring', 'expired', 'invalid', 'revoked'] },
            version: { type: 'integer' },
            scopes: { type: 'array', items: { type: 'string' } },
            targetIds: { type: 'array', items: { type: 'string' } },
            issuedAt: { type: ['string', 'null'] },
            expiresAt: { type: ['string', 'null'] },
            dataAccessExpiresAt: { type: ['string', 'null'] },
            nextCheckAt: { type: 'string' },
            failures: { type: 'integer' },
            lastError: { type: ['string', 'null'] },
          },
        },
        Discovery: {
          type: 'object',
          description:
            "What a credential reaches: the WABAs named by debug_token's granular scopes and their phone numbers, " +
            'recorded for the tenant with the credential. A number another tenant owns is skipped (never taken over) ' +
            'and named in skipped and warnings. complete is false when a step failed (Graph unreachable, ...): the ' +
            'credential is kept; POST /credentials/{credentialId}/discover runs it again, and so does the daily ' +
            'health check for a credential with no phone number recorded.',
          properties: {
            wabaIds: { type: 'array', items: { type: 'string' } },
            phoneNumbers: { type: 'integer', description: 'numbers recorded by this run' },
            skipped: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  phoneNumberId: { type: 'string' },
                  wabaId: { type: 'string' },
                  reason: { enum: ['owned-by-another-tenant'] },
                },
              },
            },
            warnings: { type: 'array', items: { type: 'string' } },
            complete: { type: 'boolean' },
          },
        },
        PhoneNumber: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            tenantId: { type: 'string' },
            wabaId: { type: 'string' },
            displayPhoneNumber: { type: 'string' },
            verifiedName: { type: ['string', 'null'] },
          },
        },
        ApiKey: {
          type: 'object',
          properties: {
            keyId: { type: 'string' },
            tenantId: { type: ['string', 'null'] },
            label: { type: 'string' },
            createdAtMs: { type: 'integer' },
            revokedAtMs: { type: ['integer', 'null'] },
          },
        },
        Subscription: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            tenantId: { type: 'string' },
            url: { type: 'string' },
            events: { type: 'array', items: { type: 'string' } },
            active: { type: 'boolean' },
            createdAtMs: { type: 'integer' },
          },
        },
        Delivery: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            subscriptionId: { type: 'string' },
            eventId: { type: 'string' },
            eventType: { type: 'string' },
            status: { enum: ['pending', 'delivered', 'dead'] },
            attempts: { type: 'integer' },
            nextAttemptAtMs: { type: 'integer' },
            lastError: { type: ['string', 'null'] },
            createdAtMs: { type: 'integer' },
          },
        },
        Webhook: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            status: { type: 'string' },
            receivedAtMs: { type: 'integer' },
            bytes: { type: 'integer' },
          },
        },
        FlowKey: {
          type: 'object',
          description:
            'A WhatsApp Flows key pair: public fields only (the private key never leaves the vault).',
          properties: {
            id: { type: 'string' },
            tenantId: { type: 'string' },
            phoneNumberId: { type: 'string' },
            fingerprint: { type: 'string', description: 'SHA-256 of the public key PEM, first 16 hex' },
            state: { enum: ['pending', 'active', 'retiring', 'retired'] },
            metaStatus: {
              type: ['string', 'null'],
              description:
                "Meta's business_public_key_signature_status at the last check (VALID, MISMATCH, ...)",
            },
            retireAfterMs: { type: ['integer', 'null'] },
            uploadedAtMs: { type: ['integer', 'null'] },
            checkedAtMs: { type: ['integer', 'null'] },
            publicKeyPem: { type: 'string' },
          },
        },
        FlowKeyResult: {
          type: 'object',
          properties: {
            key: { $ref: '#/components/schemas/FlowKey' },
            retiring: {
              $ref: '#/components/schemas/FlowKey',
              description: 'after a rotation: the previous key, still decrypting until retireAfterMs',
            },
          },
        },
        AuditEntry: {
          type: 'object',
          properties: {
            event: { type: 'string' },
            tenantId: { type: ['string', 'null'] },
            credentialId: { type: ['string', 'null'] },
            atMs: { type: 'integer' },
          },
        },
      },
    },
    paths: {
      '/tenants': {
        get: { summary: 'List tenants', responses: { 200: list('Tenant'), 401: err } },
        post: {
          summary: 'Create a tenant (admin)',
          'x-wacloud-admin': true,
          requestBody: requestBody('POST /tenants'),
          responses: { 201: ok('created'), 403: err, 422: err },
        },
      },
      '/tenants/{tenantId}': {
        get: { summary: 'A tenant', parameters: [tenantParam], responses: { 200: ok('tenant'), 404: err } },
      },
      '/tenants/{tenantId}/credentials': {
        get: {
          summary: 'Credential metadata',
          parameters: [tenantParam],
          responses: { 200: list('Credential'), 404: err },
        },
        post: {
          summary:
            'Add a pasted token (checked with debug_token, stored encrypted), then discover its WABAs and phone numbers',
          parameters: [tenantParam],
          requestBody: requestBody('POST /tenants/{tenantId}/credentials'),
          responses: {
            201: ok('the credential, with its discovery (stored even when discovery is incomplete)', {
              allOf: [
                { $ref: '#/components/schemas/Credential' },
                {
                  type: 'object',
                  properties: { discovery: { $ref: '#/components/schemas/Discovery' } },
                },
              ],
            }),
            422: err,
            502: err,
          },
        },
      },
      '/tenants/{tenantId}/embedded-signup': {
        post: {
          summary: 'Complete Embedded Signup with the code from FB.login',
          parameters: [tenantParam],
          requestBody: requestBody('POST /tenants/{tenantId}/embedded-signup'),
          responses: { 201: ok('connected'), 400: err, 502: err },
        },
      },
      '/credentials/{credentialId}': {
        get: {
          summary: 'Credential metadata',
          parameters: [idParam('credentialId')],
          responses: { 200: ok('credential'), 404: err },
        },
        delete: {
          summary: 'Remove a credential',
          parameters: [idParam('credentialId')],
          responses: { 204: { description: 'removed' }, 404: err },
        },
      },
      '/credentials/{credentialId}/renew': {
        post: {
          summary: 'Renew now (where Meta allows it)',
          parameters: [idParam('credentialId')],
          responses: { 200: ok('credential'), 404: err },
        },
      },
      '/credentials/{credentialId}/discover': {
        post: {
          summary: 'Discover the WABAs and phone numbers the credential reaches again',
          parameters: [idParam('credentialId')],
          responses: {
            200: ok('discovery', { $ref: '#/components/schemas/Discovery' }),
            404: err,
            409: err,
          },
        },
      },
      '/credentials/{credentialId}/check': {
        post: {
          summary: 'Inspect now with debug_token',
          parameters: [idParam('credentialId')],
          responses: { 200: ok('credential'), 404: err },
        },
      },
      '/tenants/{tenantId}/phone-numbers': {
        get: {
          summary: 'Phone numbers',
          parameters: [tenantParam],
          responses: { 200: list('PhoneNumber'), 404: err },
        },
      },
      '/api-keys': {
        get: { summary: 'API keys (no secrets)', responses: { 200: list('ApiKey') } },
        post: {
          summary: 'Create a key (admin); the key is shown once',
          'x-wacloud-admin': true,
          requestBody: requestBody('POST /api-keys'),
          responses: { 201: ok('key'), 403: err },
        },
      },
      '/api-keys/{keyId}': {
        delete: {
          summary: 'Revoke a key (admin)',
          'x-wacloud-admin': true,
          parameters: [idParam('keyId')],
          responses: { 204: { description: 'revoked' }, 404: err },
        },
      },
      '/tenants/{tenantId}/subscriptions': {
        get: {
          summary: 'Outbound webhook subscriptions',
          parameters: [tenantParam],
          responses: { 200: list('Subscription') },
        },
        post: {
          summary: 'Subscribe a URL; the Standard Webhooks secret is shown once',
          parameters: [tenantParam],
          requestBody: requestBody('POST /tenants/{tenantId}/subscriptions'),
          responses: { 201: ok('subscription'), 422: err },
        },
      },
      '/subscriptions/{subscriptionId}': {
        patch: {
          summary:
            'Deactivate ({"active": false}: nothing new is sent, its pending deliveries are dead-lettered when due) or reactivate',
          parameters: [idParam('subscriptionId')],
          requestBody: requestBody('PATCH /subscriptions/{subscriptionId}'),
          responses: {
            200: ok('subscription', { $ref: '#/components/schemas/Subscription' }),
            404: err,
            422: err,
          },
        },
        delete: {
          summary: 'Remove a subscription',
          parameters: [idParam('subscriptionId')],
          responses: { 204: { description: 'removed' }, 404: err },
        },
      },
      '/tenants/{tenantId}/deliveries': {
        get: {
          summary: 'Recent deliveries, newest first; ?status=dead lists the dead letters',
          parameters: [
            tenantParam,
            { name: 'status', in: 'query', schema: { enum: ['pending', 'delivered', 'dead'] } },
          ],
          responses: { 200: list('Delivery') },
        },
      },
      '/deliveries/{deliveryId}/replay': {
        post: {
          summary:
            'Deliver a dead or delivered delivery again: pending, a fresh retry schedule, the same id as webhook-id',
          parameters: [idParam('deliveryId')],
          responses: { 200: ok('queued'), 404: err, 409: err },
        },
      },
      '/webhooks': { get: { summary: 'Recent webhooks received', responses: { 200: list('Webhook') } } },
      '/webhooks/{inboxId}/replay': {
        post: {
          summary:
            'Process a received webhook again (admin): its deliveries to active subscriptions are sent again with their ids, new subscriptions get new ones',
          'x-wacloud-admin': true,
          parameters: [idParam('inboxId')],
          responses: { 200: ok('queued'), 404: err, 409: err },
        },
      },
      '/tenants/{tenantId}/messages': {
        post: {
          summary: 'Send any Cloud API message as the tenant',
          parameters: [tenantParam],
          requestBody: requestBody('POST /tenants/{tenantId}/messages'),
          responses: { 200: ok('Graph response'), 404: err, 422: err, 502: err },
        },
      },
      '/tenants/{tenantId}/flow-keys': {
        get: {
          summary: "The tenant's Flows keys (fingerprint, state, Meta's signature status), newest first",
          parameters: [tenantParam],
          responses: { 200: list('FlowKey'), 404: err },
        },
        post: {
          summary:
            "Generate a key pair for one of the tenant's numbers and upload its public key with the tenant's stored " +
            'credential; active once Meta holds it (VALID). 409 when the number already has an active key (rotate it)',
          parameters: [tenantParam],
          requestBody: requestBody('POST /tenants/{tenantId}/flow-keys'),
          responses: {
            201: ok('the active key', { $ref: '#/components/schemas/FlowKeyResult' }),
            404: err,
            409: err,
            422: err,
            502: err,
            503: err,
          },
        },
      },
      '/tenants/{tenantId}/flow-keys/rotate': {
        post: {
          summary:
            'Rotate: a new key is generated and uploaded; the previous one keeps decrypting for the grace period (24 h), then retires',
          parameters: [tenantParam],
          requestBody: requestBody('POST /tenants/{tenantId}/flow-keys/rotate'),
          responses: {
            200: ok('the new key and the retiring one', { $ref: '#/components/schemas/FlowKeyResult' }),
            404: err,
            409: err,
            422: err,
            502: err,
            503: err,
          },
        },
      },
      '/audit': {
        get: { summary: 'Audit log (token events; never a token)', responses: { 200: list('AuditEntry') } },
      },
    },
  };
}
