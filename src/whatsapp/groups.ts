import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';
import { type ListOptions, type PageIterator, paginate } from './paginate.js';

export interface GroupSummary {
  id: string;
  subject: string;
  created_at: string;
}

export interface GroupInfo {
  id: string;
  messaging_product?: 'whatsapp';
  subject?: string;
  description?: string;
  join_approval_mode?: 'approval_required' | 'auto_approve';
  suspended?: boolean;
  creation_timestamp?: number;
  participants?: Array<{ wa_id: string }>;
  total_participant_count?: number;
}

export interface JoinRequest {
  join_request_id: string;
  wa_id: string;
  creation_timestamp: number;
}

export interface JoinRequestsResult {
  messaging_product: 'whatsapp';
  approved_join_requests?: string[];
  rejected_join_requests?: string[];
  failed_join_requests?: Array<{ join_request_id: string; errors: unknown[] }>;
}

/** Meta's limits: subject 128 characters, description 2048, 1-8 participants per call. */
const MAX_SUBJECT = 128;
const MAX_DESCRIPTION = 2048;
const MAX_PARTICIPANTS = 8;

/** Group ids are opaque base64 text: anything path-safe. */
function groupId(id: string): string {
  if (typeof id !== 'string' || !/^[A-Za-z0-9_=-]{1,256}$/.test(id))
    throw new ValidationError('is not a group id', 'groupId');
  return id;
}

function checkText(value: string | undefined, max: number, name: string): void {
  if (value !== undefined && [...value.trim()].length > max) {
    throw new ValidationError(`is over Meta's ${max}-character limit`, name);
  }
}

function participants(users: string[]): Array<{ user: string }> {
  if (!Array.isArray(users) || users.length < 1 || users.length > MAX_PARTICIPANTS) {
    throw new ValidationError(`needs 1 to ${MAX_PARTICIPANTS} users`, 'participants');
  }
  return users.map((user) => {
    if (typeof user !== 'string' || !/^\+?\d{6,20}$/.test(user)) {
      throw new ValidationError('must be phone numbers or WhatsApp ids', 'participants');
    }
    return { user };
  });
}

/**
 * `wa.groups`: WhatsApp groups the sender number runs (the Groups API). `create` answers with a request id: the
 * group id and invite link arrive in the `group_lifecycle_update` webhook (or find it with `list()`).
 */
export class GroupsApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly sender: () => string,
  ) {}

  async create(input: {
    subject: string;
    description?: string;
    joinApprovalMode?: 'approval_required' | 'auto_approve';
  }): Promise<{ messaging_product: 'whatsapp'; request_id: string }> {
    if (!input.subject?.trim()) throw new ValidationError('is required', 'subject');
    checkText(input.subject, MAX_SUBJECT, 'subject');
    checkText(input.description, MAX_DESCRIPTION, 'description');
    return this.graph.post(`${this.sender()}/groups`, {
      messaging_product: 'whatsapp',
      subject: input.subject,
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.joinApprovalMode ? { join_approval_mode: input.joinApprovalMode } : {}),
    });
  }

  /** The number's active groups: `for await (const g of wa.groups.list())`. */
  list(options: ListOptions = {}): PageIterator<GroupSummary> {
    return paginate(
      this.graph,
      () => `${this.sender()}/groups`,
      options,
      (body) => {
        const groups = (body as { data?: { groups?: GroupSummary[] } } | undefined)?.data?.groups;
        return Array.isArray(groups) ? groups : [];
      },
    );
  }

  async get(id: string, fields?: string): Promise<GroupInfo> {
    return this.graph.get(groupId(id), { fields });
  }

  /** New subject and/or description. */
  async update(
    id: string,
    settings: { subject?: string; description?: string },
  ): Promise<{ success: boolean }> {
    if (settings.subject === undefined && settings.description === undefined) {
      throw new ValidationError('needs subject or description', 'settings');
    }
    if (settings.subject !== undefined && !settings.subject.trim())
      throw new ValidationError('must not be empty', 'subject');
    checkText(settings.subject, MAX_SUBJECT, 'subject');
    checkText(settings.description, MAX_DESCRIPTION, 'description');
    return this.graph.post(groupId(id), { messaging_product: 'whatsapp', ...settings });
  }

  async delete(id: string): Promise<{ success: boolean }> {
    return this.graph.delete(groupId(id));
  }

  async inviteLink(id: string): Promise<{ invite_link: string }> {
    return this.graph.get(`${groupId(id)}/invite_link`);
  }

  /** A new invite link; the old one stops working. */
  async resetInviteLink(id: string): Promise<{ invite_link: string }> {
    return this.graph.post(`${groupId(id)}/invite_link`, { messaging_product: 'whatsapp' });
  }

  async deleteInviteLink(id: string): Promise<{ success: boolean }> {
    return this.#deleteWithBody(`${groupId(id)}/invite_link`, { messaging_product: 'whatsapp' });
  }

  joinRequests(id: string, options: ListOptions = {}): PageIterator<JoinRequest> {
    return paginate(this.graph, () => `${groupId(id)}/join_requests`, options);
  }

  async approveJoinRequests(id: string, joinRequestIds: string[]): Promise<JoinRequestsResult> {
    return this.graph.post(`${groupId(id)}/join_requests`, this.#requests(joinRequestIds));
  }

  async rejectJoinRequests(id: string, joinRequestIds: string[]): Promise<JoinRequestsResult> {
    return this.#deleteWithBody(`${groupId(id)}/join_requests`, this.#requests(joinRequestIds));
  }

  async addParticipants(id: string, users: string[]): Promise<{ success?: boolean }> {
    return this.graph.post(`${groupId(id)}/participants`, {
      messaging_product: 'whatsapp',
      participants: participants(users),
    });
  }

  async removeParticipants(id: string, users: string[]): Promise<{ success?: boolean }> {
    return this.#deleteWithBody(`${groupId(id)}/participants`, {
      messaging_product: 'whatsapp',
      participants: participants(users),
    });
  }

  #requests(ids: string[]): { messaging_product: 'whatsapp'; join_requests: string[] } {
    if (!Array.isArray(ids) || ids.length === 0 || ids.some((x) => typeof x !== 'string' || !x)) {
      throw new ValidationError('needs at least one join request id', 'joinRequestIds');
    }
    return { messaging_product: 'whatsapp', join_requests: ids };
  }

  /** Meta's group DELETE calls take a JSON body (the spec's requestBody). */
  async #deleteWithBody<T>(path: string, json: unknown): Promise<T> {
    return (await this.graph.request<T>({ method: 'DELETE', path, json })).data;
  }
}
