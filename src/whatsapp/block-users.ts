import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';
import { type ListOptions, type PageIterator, paginate } from './paginate.js';

export interface BlockUsersResult {
  messaging_product: 'whatsapp';
  block_users: {
    added_users?: Array<{ input: string; wa_id: string }>;
    removed_users?: Array<{ input: string; wa_id: string }>;
    failed_users?: Array<{ input: string; errors: unknown[] }>;
  };
}

function body(users: string[]): { messaging_product: 'whatsapp'; block_users: Array<{ user: string }> } {
  if (!Array.isArray(users) || users.length === 0 || users.some((u) => typeof u !== 'string' || !u)) {
    throw new ValidationError('needs at least one phone number or WhatsApp id', 'users');
  }
  return { messaging_product: 'whatsapp', block_users: users.map((user) => ({ user })) };
}

/** `wa.blockUsers`: the sender number's block list. Per-user failures come back in `failed_users`. */
export class BlockUsersApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly sender: () => string,
  ) {}

  async block(users: string[]): Promise<BlockUsersResult> {
    return this.graph.post(`${this.sender()}/block_users`, body(users));
  }

  async unblock(users: string[]): Promise<BlockUsersResult> {
    return (
      await this.graph.request<BlockUsersResult>({
        method: 'DELETE',
        path: `${this.sender()}/block_users`,
        json: body(users),
      })
    ).data;
  }

  list(options: ListOptions = {}): PageIterator<{ messaging_product: 'whatsapp'; wa_id: string }> {
    return paginate(this.graph, () => `${this.sender()}/block_users`, options);
  }
}
