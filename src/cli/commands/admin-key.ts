import { systemClock } from '../../core/clock.js';
import { booleanFlag, parseCliArgs, printResult, stringFlag } from '../args.js';
import { type CliCommand, CliExit, EXIT } from '../io.js';

const usage = `wacloud admin-key create [--label TEXT] [--json]

  create   make a new admin key for the broker's dashboard and API, print it once and record it in the audit log.
           For a lost admin key: existing keys keep working (revoke them in the dashboard or API afterwards).

The store is the broker's: DATABASE_URL (PostgreSQL; may be a secret reference) or SQLite in WACLOUD_DATA_DIR, with
WACLOUD_MASTER_KEY or the key file in the data dir. Nothing is created when the store is not there yet: start
\`wacloud up\` once first (it prints the first admin key).`;

/** `wacloud admin-key create`: recovers admin access with store access, no running broker needed. */
export const command: CliCommand = {
  summary: 'create a new admin key (recovers a lost one); needs access to the store',
  usage,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub !== 'create') {
      throw new CliExit(
        EXIT.usage,
        `${sub ? `unknown subcommand "${sub}"` : 'a subcommand is required'}\nUsage: ${usage}`,
      );
    }
    const { values, positionals } = parseCliArgs(
      rest,
      { label: { type: 'string' }, json: { type: 'boolean', default: false } },
      usage,
    );
    if (positionals.length > 0)
      throw new CliExit(EXIT.usage, `unexpected "${positionals[0]}"\nUsage: ${usage}`);
    const label = stringFlag(values, 'label') ?? 'admin key (wacloud admin-key create)';
    if (label.length > 200 || /[\p{Cc}]/u.test(label)) {
      throw new CliExit(EXIT.invalid, '--label must be at most 200 characters, without control characters');
    }
    const { open } = await import('./keys.js');
    const { store, where } = await open(io);
    try {
      const { generateApiKey } = await import('../../broker/security/api-key.js');
      const made = generateApiKey();
      const now = (io.clock ?? systemClock).now();
      await store.apiKeys.insert({ keyId: made.keyId, hash: made.hash, tenantId: null, label }, now);
      await store.audit.append(
        { event: 'api_key.created', detail: { keyId: made.keyId, admin: true, by: 'cli' } },
        now,
      );
      const key = made.key.reveal();
      printResult(io, booleanFlag(values, 'json'), { keyId: made.keyId, key, label }, () =>
        [
          `Admin key created in ${store.engine} ${where} (id ${made.keyId}, audited).`,
          'Shown once; only its hash is stored — keep it somewhere safe:',
          `  ${key}`,
        ].join('\n'),
      );
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
};
