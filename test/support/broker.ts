import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { consent } from '../integration/auth-support.js';
import { type CliProcess, spawnCli } from './cli-process.js';

export interface RunningBroker {
  proc: CliProcess;
  base: string;
  emulatorUrl: string;
  /** Printed on the first start only. */
  adminKey: string | undefined;
}

/** Starts `wacloud up --port 0` (the built CLI) in `dataDir` and waits for its banner. */
export async function startBrokerProcess(dataDir: string, port = 0): Promise<RunningBroker> {
  const proc = spawnCli(['up', '--port', String(port)], {
    cwd: dataDir,
    env: { WACLOUD_DATA_DIR: join(dataDir, '.wacloud') },
  });
  await proc.waitFor(/embedded emulator at http:\/\/\S+/, 60_000);
  const out = proc.output();
  const adminKey = /Admin key[^\n]*\n\s+(wck_\S+)/.exec(out)?.[1];
  return {
    proc,
    base: /listening on (http:\/\/\S+)/.exec(out)?.[1] as string,
    emulatorUrl: /embedded emulator at (http:\/\/\S+)/.exec(out)?.[1] as string,
    adminKey,
  };
}

/** The sandbox app's secret, from the emulator's state file in the data dir (a sandbox: it is there on purpose). */
export function sandboxAppSecret(dataDir: string): string {
  const state = JSON.parse(readFileSync(join(dataDir, '.wacloud', 'sandbox-emulator.json'), 'utf8')) as {
    seed: { appSecret: string };
  };
  return state.seed.appSecret;
}

export function api(base: string, key: string) {
  return async <T = Record<string, unknown>>(
    path: string,
    body?: unknown,
    method = body === undefined ? 'GET' : 'POST',
  ): Promise<T> => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
}

/** Creates a tenant and connects it through the dashboard and the sandbox's consent page; returns its ids. */
export async function connectTenant(b: RunningBroker, adminKey: string, name: string) {
  const call = api(b.base, adminKey);
  const tenant = await call<{ id: string }>('/tenants', { name });
  let cookie = '';
  const get = async (url: string, init: RequestInit = {}) => {
    const res = await fetch(url.startsWith('http') ? url : `${b.base}${url}`, {
      ...init,
      redirect: 'manual',
      headers: { cookie, ...(init.headers ?? {}) },
    });
    const set = res.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0] as string;
    return res;
  };
  await get('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ key: adminKey }).toString(),
  });
  const start = await get(`/connect/start?tenant=${tenant.id}`);
  const callback = await consent((u, i) => fetch(u, i), start.headers.get('location') as string);
  const done = await get(callback);
  if (!String(done.headers.get('location')).includes('flash=connected'))
    throw new Error(`connect failed: ${done.headers.get('location')}`);
  const numbers = await call<{ data: Array<{ id: string; wabaId: string }> }>(
    `/tenants/${tenant.id}/phone-numbers`,
  );
  return {
    tenantId: tenant.id,
    phoneNumberId: numbers.data[0]?.id as string,
    wabaId: numbers.data[0]?.wabaId as string,
  };
}
