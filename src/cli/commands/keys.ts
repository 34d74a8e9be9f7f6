import { join } from 'node:path';
import { systemClock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { booleanFlag, parseCliArgs, printResult, stringFlag } from '../args.js';
import { type CliCommand, CliExit, type CliIo, EXIT } from '../io.js';

const usage = `wacloud keys <status|rotate|rewrap-master> [options]

  status         [--json]
                 the data keys (active, retiring, retired), the master key fingerprint and where it comes from,
                 and how many stored rows each key encrypts
  rotate         [--batch-size N] [--wait] [--json]
                 add a data key, make it active, re-encrypt every row with it and retire keys no row uses.
                 A replaced key stays retiring until the new one has been active for twice the keyring
                 refresh interval (2 min: brokers re-read the keyring every 60 s); run it again after that,
                 or pass --wait to wait, move what was written meanwhile, and retire.
                 Safe while the broker runs; if it stops midway, run it again: it resumes.
  rewrap-master  --new-key-env NAME [--json]
                 re-wrap the data keys under the master key held in environment variable NAME, or named by a
                 secret reference in it (master key rotation); afterwards set WACLOUD_MASTER_KEY to that key

The store is the one the broker uses: DATABASE_URL (PostgreSQL; may be a secret reference) or SQLite in
WACLOUD_DATA_DIR; the master key is
WACLOUD_MASTER_KEY (the key, or a secret reference such as file:/run/secrets/key or vault://host:8200/secret/path#field)
or the key file in the data dir.`;

/** `wacloud keys status | rotate | rewrap-master`: the vault's keyring at a terminal. */
export const command: CliCommand = {
  summary: 'show, rotate or re-wrap the encryption keys of the credential store',
  usage,
  async run(args, io) {
    const [sub, ...rest] = args;
    switch (sub) {
      case 'status':
        return status(rest, io);
      case 'rotate':
        return rotate(rest, io);
      case 'rewrap-master':
        return rewrap(rest, io);
      default:
        throw new CliExit(
          EXIT.usage,
          `${sub ? `unknown subcommand "${sub}"` : 'a subcommand is required'}\nUsage: ${usage}`,
        );
    }
  },
};

function stderrLogger(io: CliIo): Logger {
  return {
    debug() {},
    info() {},
    warn: (msg) => io.stderr(`wacloud keys: warning: ${msg}\n`),
    error: (msg) => io.stderr(`wacloud keys: error: ${msg}\n`),
  };
}

/** The configuration with DATABASE_URL fetched when it is a secret reference (before anything connects). */
export async function keysConfig(io: CliIo) {
  const { loadResolvedConfig } = await import('../../vault/secret-sources/config-references.js');
  return loadResolvedConfig({}, { env: io.env, cwd: io.cwd, secrets: ['DATABASE_URL'] });
}

export async function open(io: CliIo, loaded?: Awaited<ReturnType<typeof keysConfig>>) {
  const config = loaded ?? (await keysConfig(io));
  const { openStore } = await import('../../store/open-store.js');
  // Key commands never create a master key: a missing one means the wrong data dir or a missing variable.
  const store = await openStore(config, {
    logger: stderrLogger(io),
    createMasterKey: false,
    // WACLOUD_MASTER_KEY may be a secret reference; VAULT_TOKEN and env: references come from this environment
    // (with ./.env merged in).
    secretSources: { env: config.sourceEnv },
    ...(io.clock ? { clock: io.clock } : {}),
  });
  const where = store.engine === 'sqlite' ? join(config.dataDir, 'wacloud.db') : 'PostgreSQL (DATABASE_URL)';
  return { store, where };
}

function masterKeyOrigin(s: { masterKeySource: string; masterKeyReference?: string | undefined }): string {
  if (s.masterKeySource === 'env') return 'WACLOUD_MASTER_KEY';
  if (s.masterKeySource === 'reference') return `WACLOUD_MASTER_KEY -> ${s.masterKeyReference}`;
  return s.masterKeySource === 'file' ? 'key file in the data dir' : 'option';
}

const clockTime = (ms: number) => `${new Date(ms).toISOString().slice(11, 19)} UTC`;
const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

async function status(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCliArgs(args, { json: { type: 'boolean', default: false } }, usage);
  const { store, where } = await open(io);
  try {
    const s = await store.keys.status();
    printResult(io, booleanFlag(values, 'json'), { engine: store.engine, ...s }, () => {
      const lines = [
        `store:       ${store.engine} ${where}`,
        `master key:  ${s.masterKeyId} (${masterKeyOrigin(s)})`,
        `active key:  ${s.activeKeyId ?? '(none)'}`,
        '',
        `${'KEY ID'.padEnd(16)} ${'STATE'.padEnd(9)} ${'CREATED'.padEnd(20)} ${'RETIRED'.padEnd(20)} ROWS`,
      ];
      for (const k of s.keys) {
        const per = Object.entries(k.rowsByTable)
          .map(([t, n]) => `${t} ${n}`)
          .join(', ');
        lines.push(
          `${k.keyId.padEnd(16)} ${k.state.padEnd(9)} ${iso(k.createdAtMs).padEnd(20)} ${iso(k.retiredAtMs).padEnd(20)} ${k.rows}${per ? ` (${per})` : ''}`,
        );
      }
      for (const [keyId, n] of Object.entries(s.orphanRows)) {
        lines.push(
          `warning: ${n} rows use key ${keyId}, which is not in the keyring: they cannot be decrypted`,
        );
      }
      for (const k of s.keys.filter((k) => k.state === 'retiring')) {
        const after = k.retireAfterMs ?? 0;
        lines.push(
          after > (io.clock ?? systemClock).now()
            ? `${k.keyId} is retiring: it can be retired after ${iso(after)} (run "wacloud keys rotate" then)`
            : `${k.keyId} is retiring: run "wacloud keys rotate" to finish the rotation`,
        );
      }
      return lines.join('\n');
    });
    return Object.keys(s.orphanRows).length ? EXIT.failure : EXIT.ok;
  } finally {
    await store.close();
  }
}

async function rotate(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCliArgs(
    args,
    {
      'batch-size': { type: 'string' },
      wait: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    usage,
  );
  const batchText = stringFlag(values, 'batch-size');
  const batchSize = batchText === undefined ? undefined : Number(batchText);
  if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000)) {
    throw new CliExit(EXIT.usage, `--batch-size must be a whole number from 1 to 100000\nUsage: ${usage}`);
  }
  const json = booleanFlag(values, 'json');
  const wait = booleanFlag(values, 'wait');
  const { store } = await open(io);
  try {
    const report = await store.keys
      .rotate({
        ...(batchSize ? { batchSize } : {}),
        wait,
        signal: io.stopSignal,
        onWait: (until) => {
          if (!json)
            io.stderr(
              `waiting until ${clockTime(until)} for every instance to use the new key, then retiring the old one\n`,
            );
        },
      })
      .catch((err: unknown) => {
        if (io.stopSignal.aborted)
          throw new CliExit(
            EXIT.failure,
            'stopped while waiting: the replaced key stays retiring; run "wacloud keys rotate" again to finish',
          );
        throw err;
      });
    printResult(io, json, report, () =>
      [
        report.resumed
          ? `resumed an unfinished rotation; active key ${report.activeKeyId}`
          : `added key ${report.addedKeyId}; it is now active`,
        `re-encrypted ${report.reencrypted} rows${report.conflicts ? ` (${report.conflicts} changed meanwhile and were already current)` : ''}`,
        `retired: ${report.retired.length ? report.retired.join(', ') : 'none'}`,
        ...(report.retireAfterMs !== null
          ? [
              `${report.retiring.join(', ')} stays retiring until ${clockTime(report.retireAfterMs)} (instances re-read the keyring every ${seconds(report.retirementGraceMs / 2)}); run \`wacloud keys rotate\` again after that, or with --wait`,
            ]
          : []),
        report.remaining
          ? `${report.remaining} rows are still on older keys (written meanwhile by an instance with an old keyring): run it again`
          : 'every row is on the active key',
      ].join('\n'),
    );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

async function rewrap(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCliArgs(
    args,
    { 'new-key-env': { type: 'string' }, json: { type: 'boolean', default: false } },
    usage,
  );
  const name = stringFlag(values, 'new-key-env');
  if (!name) throw new CliExit(EXIT.usage, `--new-key-env NAME is required\nUsage: ${usage}`);
  const value = io.env[name];
  if (!value?.trim())
    throw new CliExit(
      EXIT.config,
      `${name} is not set: it must hold the new master key or a secret reference to it`,
    );
  const { parseMasterKey, masterKeyId, resolveKeyReference } = await import(
    '../../vault/crypto/master-key.js'
  );
  const { isSecretReferenceText } = await import('../../core/config.js');
  // Everything is fetched before the store is opened: a failed fetch changes nothing.
  const config = await keysConfig(io);
  // NAME may hold a secret reference (file:, vault://, aws-sm://, gcp-sm://, dotenv:, env:), like WACLOUD_MASTER_KEY.
  const key = isSecretReferenceText(value)
    ? (await resolveKeyReference(name, value, { env: config.sourceEnv })).key
    : parseMasterKey(value, name);
  const next = { key, id: masterKeyId(key), source: 'env' as const };
  const { store } = await open(io, config);
  try {
    const before = await store.keys.status();
    if (before.masterKeyId === next.id) {
      throw new CliExit(EXIT.usage, `${name} holds the master key already in use (${next.id})`);
    }
    const result = await store.keys.rewrapMaster(next);
    printResult(io, booleanFlag(values, 'json'), { ...result, from: before.masterKeyId, to: next.id }, () =>
      [
        `re-wrapped ${result.rewrapped} data keys: master key ${before.masterKeyId} -> ${next.id}`,
        `now set WACLOUD_MASTER_KEY to the value of ${name} (the old master key no longer opens this store)`,
      ].join('\n'),
    );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
