import type {
  EventOfType,
  InboundMessage,
  InboundMessageType,
  MessageEvent,
  WebhookEvent,
  WebhookEventType,
} from './events.js';

/** What a handler is told besides the event. */
export interface HandlerContext {
  /** The tenant that owns the event's phone number, from the router's `tenants` option. */
  tenant: string | undefined;
}

export type EventHandler<E extends WebhookEvent = WebhookEvent> = (
  event: E,
  context: HandlerContext,
) => void | Promise<void>;

/** A message event narrowed to one message type. */
export type MessageEventOf<M extends InboundMessageType> = MessageEvent & {
  message: Extract<InboundMessage, { type: M }>;
};

/** `message`, `status`, … ; `message:text`, `message:image`, … for one message type; `*` for everything. */
export type EventSelector = WebhookEventType | `message:${InboundMessageType}` | '*';

/** A handler that threw (or rejected), with the event it was given. */
export interface HandlerFailure {
  event: WebhookEvent;
  selector: EventSelector | 'tenant';
  error: unknown;
}

export interface DispatchReport {
  /** Events given to the router. */
  events: number;
  /** Handler invocations that completed. */
  handled: number;
  /** Events no handler matched. */
  unhandled: number;
  failures: HandlerFailure[];
}

/** Maps a phone number id to its tenant: a table or a function (which may look it up). */
export type TenantResolver =
  | Readonly<Record<string, string>>
  | ((
      phoneNumberId: string | undefined,
      event: WebhookEvent,
    ) => string | undefined | Promise<string | undefined>);

export interface WebhookRouterOptions {
  tenants?: TenantResolver;
}

interface Route {
  selector: EventSelector;
  handler: EventHandler;
  phoneNumberId: string | undefined;
  tenant: string | undefined;
}

/** Handlers by event type, message type, phone number id and tenant. */
export interface WebhookRouter {
  on<T extends WebhookEventType>(type: T, handler: EventHandler<EventOfType<T>>): WebhookRouter;
  on<M extends InboundMessageType>(
    type: `message:${M}`,
    handler: EventHandler<MessageEventOf<M>>,
  ): WebhookRouter;
  on(type: '*', handler: EventHandler): WebhookRouter;
  /** A view of this router whose handlers see only events for this `phone_number_id`. */
  phoneNumber(phoneNumberId: string): WebhookRouter;
  /** A view of this router whose handlers see only events whose phone number belongs to this tenant. */
  tenant(tenant: string): WebhookRouter;
  /**
   * Runs the matching handlers for each event, in order; one event's handlers run one after another. A failing
   * handler does not stop the others: its error is collected in the report.
   */
  dispatch(events: readonly WebhookEvent[]): Promise<DispatchReport>;
  /** Number of registered handlers. */
  readonly size: number;
}

/**
 * Creates a router. Handlers are matched by event type (`message`, `status`, …), by message type
 * (`message:text`), by phone number (`router.phoneNumber(id).on(…)`) and by tenant (`router.tenant(t).on(…)`).
 *
 * @example
 * const router = createWebhookRouter({ tenants: { '106540352242922': 'acme' } });
 * router.on('message:text', (e) => console.log(e.message.text.body));
 * router.tenant('acme').on('status', (e, { tenant }) => console.log(tenant, e.status));
 */
export function createWebhookRouter(options: WebhookRouterOptions = {}): WebhookRouter {
  const routes: Route[] = [];
  const resolve = tenantResolver(options.tenants);

  const view = (phoneNumberId: string | undefined, tenant: string | undefined): WebhookRouter => {
    const on = (selector: EventSelector, handler: EventHandler): WebhookRouter => {
      if (typeof handler !== 'function')
        throw new TypeError(`the handler for "${selector}" is not a function`);
      routes.push({ selector, handler, phoneNumberId, tenant });
      return router;
    };
    const router: WebhookRouter = {
      on: on as WebhookRouter['on'],
      phoneNumber: (id) => view(id, tenant),
      tenant: (t) => view(phoneNumberId, t),
      dispatch: (events) => dispatch(routes, resolve, events),
      get size() {
        return routes.length;
      },
    };
    return router;
  };
  return view(undefined, undefined);
}

function matches(route: Route, event: WebhookEvent, tenant: string | undefined): boolean {
  if (route.phoneNumberId !== undefined && route.phoneNumberId !== event.phoneNumberId) return false;
  if (route.tenant !== undefined && route.tenant !== tenant) return false;
  const s = route.selector;
  if (s === '*' || s === event.type) return true;
  return event.type === 'message' && s.startsWith('message:') && s.slice(8) === event.message.type;
}

async function dispatch(
  routes: readonly Route[],
  resolve: ((event: WebhookEvent) => Promise<string | undefined>) | undefined,
  events: readonly WebhookEvent[],
): Promise<DispatchReport> {
  const report: DispatchReport = { events: events.length, handled: 0, unhandled: 0, failures: [] };
  for (const event of events) {
    let tenant: string | undefined;
    if (resolve) {
      try {
        tenant = await resolve(event);
      } catch (error) {
        report.failures.push({ event, selector: 'tenant', error });
      }
    }
    let matched = false;
    for (const route of routes) {
      if (!matches(route, event, tenant)) continue;
      matched = true;
      try {
        await route.handler(event, { tenant });
        report.handled++;
      } catch (error) {
        report.failures.push({ event, selector: route.selector, error });
      }
    }
    if (!matched) report.unhandled++;
  }
  return report;
}

function tenantResolver(
  tenants: TenantResolver | undefined,
): ((event: WebhookEvent) => Promise<string | undefined>) | undefined {
  if (tenants === undefined) return undefined;
  if (typeof tenants === 'function') return async (event) => tenants(event.phoneNumberId, event);
  const table = new Map(Object.entries(tenants));
  return async (event) => (event.phoneNumberId === undefined ? undefined : table.get(event.phoneNumberId));
}
