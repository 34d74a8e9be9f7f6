import type { SubscriptionRecord } from '../store/subscriptions.js';
import type { BrokerContext } from './context.js';

/** A subscription as the API and the dashboard show it: everything but its signing secret. */
export type SubscriptionView = Omit<SubscriptionRecord, 'secret'>;

export function subscriptionView({ secret: _secret, ...rest }: SubscriptionRecord): SubscriptionView {
  return rest;
}

/**
 * Deactivates or reactivates a subscription (the API's PATCH and the dashboard's buttons both come here). Deactivated,
 * nothing new is queued for it and its pending deliveries are dead-lettered when due. Audited only when it changes.
 */
export async function setSubscriptionActive(
  ctx: BrokerContext,
  sub: SubscriptionRecord,
  active: boolean,
): Promise<SubscriptionView> {
  if (sub.active === active) return subscriptionView(sub);
  await ctx.store.subscriptions.update(sub.id, { active }, ctx.clock.now());
  await ctx.audit(active ? 'subscription.activated' : 'subscription.deactivated', {
    tenantId: sub.tenantId,
    detail: { subscriptionId: sub.id },
  });
  const updated = await ctx.store.subscriptions.get(sub.id);
  return subscriptionView(updated ?? { ...sub, active });
}
