import type { Clock } from '../core/clock.js';
import { type ConfigOptions, type LoadConfigOptions, loadConfig } from '../core/config.js';
import { ValidationError } from '../core/errors.js';
import { createJsonLogger, type Logger } from '../core/logger.js';
import type { Secret } from '../core/secret.js';
import { FlowsApi } from '../flows/management-api.js';
import type { AppSecretProofMode } from '../graph/appsecret-proof.js';
import { GraphClient, type RetryOptions, type TokenProvider } from '../graph/graph-client.js';
import type { Transport } from '../transport/types.js';
import { BlockUsersApi } from './block-users.js';
import { CallingApi } from './calling.js';
import { GroupsApi } from './groups.js';
import { MarketingMessagesApi } from './marketing-messages.js';
import { MediaApi } from './media-api.js';
import { MessagesApi } from './messages-api.js';
import { NumberSettingsApi } from './number-settings.js';
import { QrCodesApi } from './qr-codes.js';
import { TemplatesApi } from './templates.js';
import { UploadsApi } from './uploads.js';
import {
  BusinessAccountApi,
  PhoneNumbersApi,
  ProfileApi,
  RegistrationApi,
  SubscriptionsApi,
} from './waba-apis.js';

/** Options take the seed SDK's names; anything not given comes from the environment / `.env`. */
export interface WhatsAppOptions extends ConfigOptions {
  tokenProvider?: TokenProvider;
  appSecretProof?: AppSecretProofMode;
  transport?: Transport;
  clock?: Clock;
  logger?: Logger;
  retry?: RetryOptions;
  /** Where to read configuration from; defaults to process.env and ./.env. */
  configSource?: LoadConfigOptions;
}

/**
 * The WhatsApp Cloud API client.
 *
 * @example
 * const wa = new WhatsApp(); // CLOUD_API_ACCESS_TOKEN, WA_PHONE_NUMBER_ID, ... from the environment
 * await wa.messages.text({ to: '+16505551234', body: 'Hello' });
 */
export class WhatsApp {
  readonly graph: GraphClient;
  readonly messages: MessagesApi;
  readonly media: MediaApi;
  readonly templates: TemplatesApi;
  readonly phoneNumbers: PhoneNumbersApi;
  readonly profile: ProfileApi;
  readonly registration: RegistrationApi;
  readonly subscriptions: SubscriptionsApi;
  /** WhatsApp Flows management and the business public key (`wacloud/flows` has the endpoint side). */
  readonly flows: FlowsApi;
  readonly groups: GroupsApi;
  readonly calling: CallingApi;
  readonly blockUsers: BlockUsersApi;
  readonly qrCodes: QrCodesApi;
  readonly numberSettings: NumberSettingsApi;
  readonly marketingMessages: MarketingMessagesApi;
  /** Resumable uploads (profile pictures, template samples); needs WA_APP_ID. */
  readonly uploads: UploadsApi;
  /** The WhatsApp Business Account itself: name, time zone, health_status. */
  readonly account: BusinessAccountApi;
  #phoneNumberId: string | undefined;
  #businessAccountId: string | undefined;

  constructor(options: WhatsAppOptions = {}) {
    const config = loadConfig(options, options.configSource);
    this.#phoneNumberId = config.phoneNumberId;
    this.#businessAccountId = config.businessAccountId;
    const logger = options.logger ?? (config.debug ? createJsonLogger({ level: 'debug' }) : undefined);
    this.graph = new GraphClient({
      accessToken: options.tokenProvider ? undefined : config.accessToken,
      tokenProvider: options.tokenProvider,
      appSecret: config.appSecret,
      appSecretProof: options.appSecretProof,
      graphUrl: config.graphUrl,
      apiVersion: config.apiVersion,
      transport: options.transport,
      clock: options.clock,
      logger,
      debug: config.debug,
      timeoutMs: config.requestTimeoutMs,
      retry: options.retry,
    });
    const sender = (): string => this.#requireSender();
    const waba = (): string | undefined => this.#businessAccountId;
    this.messages = new MessagesApi(this.graph, sender);
    this.media = new MediaApi(this.graph, sender);
    this.templates = new TemplatesApi(this.graph, waba);
    this.phoneNumbers = new PhoneNumbersApi(this.graph, waba);
    this.profile = new ProfileApi(this.graph, sender);
    this.registration = new RegistrationApi(this.graph, sender);
    this.subscriptions = new SubscriptionsApi(this.graph, waba);
    this.flows = new FlowsApi(this.graph, waba, sender);
    this.groups = new GroupsApi(this.graph, sender);
    this.calling = new CallingApi(this.graph, sender);
    this.blockUsers = new BlockUsersApi(this.graph, sender);
    this.qrCodes = new QrCodesApi(this.graph, sender);
    this.numberSettings = new NumberSettingsApi(this.graph, sender);
    this.marketingMessages = new MarketingMessagesApi(this.graph, sender);
    this.uploads = new UploadsApi(this.graph, () => config.appId);
    this.account = new BusinessAccountApi(this.graph, waba);
  }

  #requireSender(): string {
    if (!this.#phoneNumberId) {
      throw new ValidationError('is required: set WA_PHONE_NUMBER_ID or pass phoneNumberId', 'phoneNumberId');
    }
    return this.#phoneNumberId;
  }

  get phoneNumberId(): string | undefined {
    return this.#phoneNumberId;
  }

  get businessAccountId(): string | undefined {
    return this.#businessAccountId;
  }

  /** Swaps the token; the next request uses it. */
  updateAccessToken(token: string | Secret): void {
    this.graph.setAccessToken(token);
  }

  /** Sends from another number from the next request on. */
  updateSenderNumberId(phoneNumberId: string): void {
    if (!/^\d{1,32}$/.test(phoneNumberId)) throw new ValidationError('is not a numeric id', 'phoneNumberId');
    this.#phoneNumberId = phoneNumberId;
  }

  updateBusinessAccountId(businessAccountId: string): void {
    if (!/^\d{1,32}$/.test(businessAccountId))
      throw new ValidationError('is not a numeric id', 'businessAcctId');
    this.#businessAccountId = businessAccountId;
  }

  /** Releases the HTTP pool if this client created it. */
  close(): Promise<void> {
    return this.graph.close();
  }
}
