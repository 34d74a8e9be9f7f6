import type { TokenManager, TokenPolicies } from '../auth/token-manager.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Secret } from '../core/secret.js';
import type { GraphClient } from '../graph/graph-client.js';
import type { Transport } from '../transport/types.js';
import type { AccessCache } from './access.js';
import type { BrokerMetrics } from './metrics.js';
import type { OutboundPolicy } from './outbound-policy.js';
import type { BrokerStore } from './ports.js';
import type { AuthGuard } from './security/auth-guard.js';
import type { Sessions } from './security/session.js';

/** Everything a broker route needs, built once by createBroker. */
export interface BrokerContext {
  store: BrokerStore;
  manager: TokenManager;
  policies: TokenPolicies;
  graph: GraphClient;
  transport: Transport;
  /** Where outbound webhooks may go: checked when a subscription is created and when each delivery connects. */
  outbound: OutboundPolicy;
  access: AccessCache;
  /** Failed-authentication counting and throttling on every surface; the client address (trusted proxies). */
  authGuard: AuthGuard;
  sessions: Sessions;
  metrics: BrokerMetrics;
  clock: Clock;
  logger: Logger;
  appId: string;
  appSecret: Secret;
  graphUrl: string;
  dialogUrl: string;
  /** Login for Business configuration for Connect (config_id instead of scopes). */
  loginConfigId: string | undefined;
  /** Configuration of the dashboard's Embedded Signup; unset: no Embedded Signup. */
  embeddedSignupConfigId: string | undefined;
  apiVersion: string;
  sandbox: boolean;
  /** The broker's own base URL (redirect URIs, links); known once it listens. */
  publicUrl(): string;
  /** Wake the background workers (a webhook was committed, a replay was asked for). */
  poke(): void;
  /** Records an audit entry; never throws (audit failures are logged). */
  audit(
    event: string,
    fields: { tenantId?: string | null; credentialId?: string | null; detail?: Record<string, unknown> },
  ): Promise<void>;
}
