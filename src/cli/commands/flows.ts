import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { booleanFlag, parseCliArgs, printResult, stringFlag } from '../args.js';
import { type CliCommand, CliExit, type CliIo, EXIT } from '../io.js';

const usage = `wacloud flows <keygen|upload-key|validate|preview|test-endpoint> [options]

  keygen         --phone-number-id ID [--tenant ID] [--upload] [--json]
                 generate a 2048-bit RSA key pair for the number and keep it in the vault (the private key
                 encrypted like tokens); prints the public key. The tenant defaults to the number's owner.
                 --upload (with --tenant): upload it at once with the tenant's stored token, as the broker's
                 API and dashboard do (a number with an active key is rotated)
  upload-key     --phone-number-id ID [--tenant ID] [--key KEY_ID] [--json]
                 upload the number's newest pending key to Meta (whatsapp_business_encryption), read it back and
                 make it active; the previous key keeps decrypting for the grace period (24 h). With --tenant the
                 tenant's stored token is used (no raw token; needs WA_APP_ID and WA_APP_SECRET), without it
                 CLOUD_API_ACCESS_TOKEN. --phone is an alias of --phone-number-id
  validate       <flow.json> [--json]
                 check a Flow JSON offline (structure, screens, terminal screen, data declarations, routing_model);
                 errors are printed file:line:column like Meta's validation_errors; exit 6 when invalid
  preview        <flow-id> [--invalidate] [--json]
                 print the flow's web preview URL
  test-endpoint  <url> (--public-key FILE | --phone ID) [--init] [--flow-token T] [--json]
                 send an encrypted, signed (WA_APP_SECRET) health check (ping), or INIT, to a Flow endpoint,
                 as WhatsApp does, and check the decrypted answer

Meta calls use the tenant's stored token (--tenant) or CLOUD_API_ACCESS_TOKEN, WA_GRAPH_URL and WA_APP_SECRET; the vault is the broker's store
(DATABASE_URL or WACLOUD_DATA_DIR, WACLOUD_MASTER_KEY).`;

export const command: CliCommand = {
  summary: 'WhatsApp Flows: key pairs in the vault, Flow JSON checks, previews, endpoint tests',
  usage,
  async run(args, io) {
    const [sub, ...rest] = args;
    switch (sub) {
      case 'keygen':
        return keygen(rest, io);
      case 'upload-key':
        return uploadKey(rest, io);
      case 'validate':
        return validate(rest, io);
      case 'preview':
        return preview(rest, io);
      case 'test-endpoint':
        return testEndpoint(rest, io);
      default:
        throw new CliExit(
          EXIT.usage,
          `${sub ? `unknown subcommand "${sub}"` : 'a subcommand is required'}\nUsage: ${usage}`,
        );
    }
  },
};

async function client(io: CliIo) {
  const { WhatsApp } = await import('../../whatsapp/whatsapp.js');
  const { resolveConfigEnv } = await import('../../vault/secret-sources/config-references.js');
  const { env } = await resolveConfigEnv({
    env: io.env,
    cwd: io.cwd,
    secrets: ['CLOUD_API_ACCESS_TOKEN', 'WA_APP_SECRET'],
  });
  const wa = new WhatsApp({ configSource: { env, envFile: false, cwd: io.cwd } });
  if (!wa.graph.hasToken) {
    await wa.close();
    throw new CliExit(EXIT.config, 'CLOUD_API_ACCESS_TOKEN is not set (or run "wacloud login")');
  }
  return { wa, env };
}

async function custodyFor(io: CliIo) {
  const { open } = await import('./keys.js');
  const { FlowKeyCustody } = await import('../../flows/key-custody.js');
  const { store } = await open(io);
  return {
    store,
    custody: new FlowKeyCustody({ store: store.flowKeys, ...(io.clock ? { clock: io.clock } : {}) }),
  };
}

function phoneFlag(values: Record<string, unknown>): string {
  const phone = stringFlag(values as never, 'phone-number-id') ?? stringFlag(values as never, 'phone');
  if (!phone || !/^\d{1,32}$/.test(phone))
    throw new CliExit(EXIT.usage, `--phone-number-id must be a phone number id\nUsage: ${usage}`);
  return phone;
}

const PHONE_FLAGS = { phone: { type: 'string' }, 'phone-number-id': { type: 'string' } } as const;

/**
 * Key operations with a tenant's stored credential, through a token manager over the broker's store: the same
 * functions the broker's API and dashboard call, audited in the same log. No raw Meta token is needed.
 */
async function withTenantKeys<T>(
  io: CliIo,
  run: (deps: import('../../broker/flow-key-service.js').FlowKeyDeps) => Promise<T>,
): Promise<T> {
  const { open } = await import('./keys.js');
  const { createTokenManager } = await import('../../auth/token-manager.js');
  const { resolveConfigEnv } = await import('../../vault/secret-sources/config-references.js');
  const { env } = await resolveConfigEnv({ env: io.env, cwd: io.cwd, secrets: ['WA_APP_SECRET'] });
  const { store } = await open(io);
  const clock = io.clock ?? (await import('../../core/clock.js')).systemClock;
  let manager: ReturnType<typeof createTokenManager> | undefined;
  try {
    try {
      manager = createTokenManager({
        store: store.credentials,
        clock,
        ...(env.WA_GRAPH_URL ? { graphUrl: env.WA_GRAPH_URL } : {}),
        configSource: { env, envFile: false, cwd: io.cwd },
      });
    } catch (error) {
      throw new CliExit(EXIT.config, (error as Error).message);
    }
    return await run({
      store,
      manager,
      clock,
      graphUrl: env.WA_GRAPH_URL,
      audit: async (event, fields) => {
        await store.audit.append({ tenantId: fields.tenantId, event, detail: fields.detail }, clock.now());
      },
    });
  } catch (error) {
    const { FlowKeyRefusedError } = await import('../../broker/flow-key-service.js');
    if (error instanceof FlowKeyRefusedError)
      throw new CliExit(error.reason === 'no_token' ? EXIT.config : EXIT.usage, error.message);
    throw error;
  } finally {
    await manager?.close();
    await store.close();
  }
}

function printKey(
  io: CliIo,
  json: boolean,
  result: {
    key: { id: string; fingerprint: string; phoneNumberId: string; metaStatus: string | null };
    retiring?: { id: string } | undefined;
  },
) {
  const { key, retiring } = result;
  printResult(
    io,
    json,
    result,
    () =>
      `flow key ${key.id} (${key.fingerprint}) is active on ${key.phoneNumberId}; Meta: ${key.metaStatus}` +
      (retiring
        ? `\nthe previous key ${retiring.id} keeps decrypting for the grace period, then retires`
        : ''),
  );
}

async function keygen(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCliArgs(
    args,
    { ...PHONE_FLAGS, tenant: { type: 'string' }, upload: { type: 'boolean' }, json: { type: 'boolean' } },
    usage,
  );
  const phone = phoneFlag(values);
  const tenantFlag = stringFlag(values, 'tenant');
  if (booleanFlag(values, 'upload')) {
    if (!tenantFlag) throw new CliExit(EXIT.usage, `--upload needs --tenant\nUsage: ${usage}`);
    const { provisionFlowKey } = await import('../../broker/flow-key-service.js');
    const result = await withTenantKeys(io, (deps) => provisionFlowKey(deps, tenantFlag, phone, 'auto'));
    printKey(io, booleanFlag(values, 'json'), result);
    return EXIT.ok;
  }
  const { store, custody } = await custodyFor(io);
  try {
    const tenant = stringFlag(values, 'tenant') ?? (await store.phoneNumbers.get(phone))?.tenantId;
    if (!tenant) throw new CliExit(EXIT.usage, `number ${phone} is not connected to a tenant: pass --tenant`);
    const key = await custody.generate(tenant, phone);
    printResult(io, booleanFlag(values, 'json'), key, () =>
      [
        `generated flow key ${key.id} (${key.fingerprint}) for ${phone}, pending upload`,
        key.publicKeyPem,
      ].join('\n'),
    );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

async function uploadKey(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCliArgs(
    args,
    { ...PHONE_FLAGS, tenant: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' } },
    usage,
  );
  const phone = phoneFlag(values);
  const tenantFlag = stringFlag(values, 'tenant');
  if (tenantFlag) {
    const { uploadPendingFlowKey } = await import('../../broker/flow-key-service.js');
    const result = await withTenantKeys(io, (deps) =>
      uploadPendingFlowKey(deps, tenantFlag, phone, stringFlag(values, 'key')),
    );
    printKey(io, booleanFlag(values, 'json'), result);
    return EXIT.ok;
  }
  const { store, custody } = await custodyFor(io);
  const { wa } = await client(io).catch(async (e) => {
    await store.close();
    throw e;
  });
  try {
    const key = await custody.upload(phone, wa.flows, stringFlag(values, 'key'));
    printResult(
      io,
      booleanFlag(values, 'json'),
      key,
      () => `flow key ${key.id} (${key.fingerprint}) is active on ${phone}; Meta: ${key.metaStatus}`,
    );
    return EXIT.ok;
  } finally {
    await wa.close();
    await store.close();
  }
}

async function validate(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCliArgs(args, { json: { type: 'boolean' } }, usage);
  const file = positionals[0];
  if (!file) throw new CliExit(EXIT.usage, `a Flow JSON file is required\nUsage: ${usage}`);
  let text: string;
  try {
    text = readFileSync(resolve(io.cwd, file), 'utf8');
  } catch {
    throw new CliExit(EXIT.usage, `cannot read ${file}`);
  }
  const { validateFlowJson } = await import('../../flows/flow-json.js');
  const { errors } = validateFlowJson(text);
  printResult(
    io,
    booleanFlag(values, 'json'),
    { valid: errors.length === 0, validation_errors: errors },
    () =>
      errors.length === 0
        ? `${file}: valid`
        : errors
            .map((e) => `${file}:${e.line_start ?? 1}:${e.column_start ?? 1}: ${e.message} (${e.error})`)
            .join('\n'),
  );
  return errors.length === 0 ? EXIT.ok : EXIT.invalid;
}

async function preview(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCliArgs(
    args,
    { invalidate: { type: 'boolean' }, json: { type: 'boolean' } },
    usage,
  );
  const flowId = positionals[0];
  if (!flowId) throw new CliExit(EXIT.usage, `a flow id is required\nUsage: ${usage}`);
  const { wa } = await client(io);
  try {
    const p = await wa.flows.preview(flowId, { invalidate: booleanFlag(values, 'invalidate') });
    printResult(io, booleanFlag(values, 'json'), p, () => `${p.preview_url}\n(expires ${p.expires_at})`);
    return EXIT.ok;
  } finally {
    await wa.close();
  }
}

async function testEndpoint(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCliArgs(
    args,
    {
      'public-key': { type: 'string' },
      ...PHONE_FLAGS,
      init: { type: 'boolean' },
      'flow-token': { type: 'string' },
      json: { type: 'boolean' },
    },
    usage,
  );
  const url = positionals[0];
  if (!url || !/^https?:\/\//.test(url))
    throw new CliExit(EXIT.usage, `an http(s) endpoint URL is required\nUsage: ${usage}`);
  const { resolveConfigEnv } = await import('../../vault/secret-sources/config-references.js');
  const { env } = await resolveConfigEnv({ env: io.env, cwd: io.cwd, secrets: ['WA_APP_SECRET'] });
  const appSecret = env.WA_APP_SECRET;
  if (!appSecret)
    throw new CliExit(
      EXIT.config,
      'WA_APP_SECRET is not set: Meta signs every Flow endpoint request with it',
    );
  const publicKeyPem = await publicKeyFor(values, io);
  const { encryptFlowRequest, decryptFlowResponse } = await import('../../flows/crypto.js');
  const { signPayload } = await import('../../webhooks/verify-signature.js');
  const init = booleanFlag(values, 'init');
  const plain = init
    ? { version: '3.0', action: 'INIT', flow_token: stringFlag(values, 'flow-token') ?? 'wacloud-test' }
    : { version: '3.0', action: 'ping' };
  const sealed = encryptFlowRequest(plain, publicKeyPem);
  const body = JSON.stringify(sealed.body);
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(body, appSecret) },
      body,
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw new CliExit(
      EXIT.network,
      `the endpoint did not answer: ${(error as Error).name === 'TimeoutError' ? 'timed out after 10 s (Meta gives up at 10 s)' : 'unreachable'}`,
    );
  }
  const ms = Date.now() - started;
  const text = await res.text();
  let answer: unknown;
  let problem: string | undefined;
  if (res.status !== 200)
    problem = `HTTP ${res.status}${res.status === 421 ? ' (cannot decrypt: wrong key?)' : res.status === 432 ? ' (signature refused: wrong WA_APP_SECRET?)' : ''}`;
  else {
    try {
      answer = decryptFlowResponse(text, sealed.aesKey, sealed.initialVector);
    } catch {
      problem = 'the answer is not encrypted with the request key and the flipped IV';
    }
  }
  const status = (answer as { data?: { status?: unknown } } | undefined)?.data?.status;
  if (!problem && !init && status !== 'active')
    problem = 'ping must be answered {"data":{"status":"active"}}';
  if (!problem && init && typeof (answer as { screen?: unknown }).screen !== 'string')
    problem = 'INIT must be answered with a screen';
  printResult(
    io,
    booleanFlag(values, 'json'),
    { ok: !problem, status: res.status, ms, answer, problem },
    () =>
      problem
        ? `FAIL ${plain.action} ${url} in ${ms} ms: ${problem}`
        : `OK ${plain.action} ${url} in ${ms} ms: ${JSON.stringify(answer)}`,
  );
  return problem ? EXIT.failure : EXIT.ok;
}

async function publicKeyFor(values: Record<string, unknown>, io: CliIo): Promise<string> {
  const file = stringFlag(values as never, 'public-key');
  if (file) {
    try {
      return readFileSync(resolve(io.cwd, file), 'utf8');
    } catch {
      throw new CliExit(EXIT.usage, `cannot read ${file}`);
    }
  }
  const phone = phoneFlag(values);
  const { store } = await custodyFor(io);
  try {
    const active = (await store.flowKeys.listByPhone(phone)).find((k) => k.state === 'active');
    if (!active) throw new CliExit(EXIT.config, `no active flow key for ${phone}: run keygen and upload-key`);
    return active.publicKeyPem;
  } finally {
    await store.close();
  }
}
