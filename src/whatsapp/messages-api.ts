import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';
import type {
  ContactCard,
  InteractiveHeader,
  InteractiveMessage,
  ListSection,
  LocationMessage,
  MarkReadRequest,
  MediaRef,
  MessageContext,
  MessagesRequest,
  OutgoingMessage,
  SendMessageResponse,
  TemplateComponent,
} from './message-types.js';
import { impliedMessageType, validateMessage } from './validate-message.js';

export interface SendOptions {
  /** Send from this number instead of the client's sender. */
  phoneNumberId?: string;
  /** Skip client-side validation (the request still goes to Graph, which validates). */
  skipValidation?: boolean;
  /**
   * Allow one retry after a transient Graph error. Off by default: a send that may have reached Meta is not
   * re-sent unless you accept a possible duplicate.
   */
  retryTransient?: boolean;
  /**
   * Leave out fields whose value Graph implies: `recipient_type` when it is `individual` (the default), `type`
   * when the payload object names it (text when there is none). By default both are written out; some of Meta's
   * own examples omit them, and this lets a helper produce those bodies exactly.
   */
  omitImplied?: ReadonlyArray<'recipient_type' | 'type'>;
  signal?: AbortSignal;
}

/** The recipient: `to` (a phone number) or `recipient` (a BSUID or parent BSUID); `to` wins when both are set. */
interface Common {
  to?: string;
  recipient?: string;
  /** wamid to reply to. */
  replyTo?: string;
  bizOpaqueCallbackData?: string;
}

function base(c: Common): {
  to?: string;
  recipient?: string;
  context?: MessageContext;
  biz_opaque_callback_data?: string;
} {
  return {
    ...(c.to !== undefined ? { to: c.to } : {}),
    ...(c.recipient !== undefined ? { recipient: c.recipient } : {}),
    ...(c.replyTo ? { context: { message_id: c.replyTo } } : {}),
    ...(c.bizOpaqueCallbackData ? { biz_opaque_callback_data: c.bizOpaqueCallbackData } : {}),
  };
}

type MediaInput = { id: string } | { link: string };
function media(
  m: MediaInput,
  extra: { caption?: string | undefined; filename?: string | undefined } = {},
): MediaRef {
  const ref = ('id' in m ? { id: m.id } : { link: m.link }) as MediaRef;
  if (extra.caption !== undefined) ref.caption = extra.caption;
  if (extra.filename !== undefined) ref.filename = extra.filename;
  return ref;
}

interface InteractiveCommon extends Common {
  body: string;
  header?: InteractiveHeader | string;
  footer?: string;
}

function interactive(
  c: InteractiveCommon,
  type: string,
  action: Record<string, unknown>,
): InteractiveMessage {
  const header: InteractiveHeader | undefined =
    typeof c.header === 'string' ? { type: 'text', text: c.header } : c.header;
  return {
    ...base(c),
    type: 'interactive',
    interactive: {
      type,
      ...(header ? { header } : {}),
      body: { text: c.body },
      ...(c.footer ? { footer: { text: c.footer } } : {}),
      action,
    },
  };
}

/** `wa.messages`: send any Cloud API message body, or build one with a typed helper. */
export class MessagesApi {
  readonly #graph: GraphClient;
  readonly #sender: () => string;

  constructor(graph: GraphClient, sender: () => string) {
    this.#graph = graph;
    this.#sender = sender;
  }

  /**
   * Sends any `/messages` body. Fills `messaging_product` (and `recipient_type: individual` for non-group sends),
   * validates before the request, never re-sends after the request may have reached Meta.
   *
   * @see https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
   */
  async send(message: MessagesRequest, options: SendOptions = {}): Promise<SendMessageResponse> {
    const body = { messaging_product: 'whatsapp', ...message } as MessagesRequest;
    const omit = options.omitImplied;
    if (!('status' in body)) {
      const b = body as OutgoingMessage;
      if (!omit) {
        b.recipient_type ??= 'individual';
      } else {
        if (omit.includes('recipient_type')) {
          if (b.recipient_type === 'individual') delete b.recipient_type;
        } else b.recipient_type ??= 'individual';
        if (omit.includes('type') && b.type !== undefined && impliedMessageType(b) === b.type) {
          delete (b as { type?: string }).type;
        }
      }
    }
    if (!options.skipValidation) validateMessage(body);
    const from = options.phoneNumberId ?? this.#sender();
    const res = await this.#graph.request<SendMessageResponse>({
      method: 'POST',
      path: `${from}/messages`,
      json: body,
      retry: options.retryTransient ? 'idempotent' : 'once-only',
      signal: options.signal,
    });
    return res.data;
  }

  async text(
    input: Common & { body: string; previewUrl?: boolean },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    const text: { body: string; preview_url?: boolean } = { body: input.body };
    if (input.previewUrl !== undefined) text.preview_url = input.previewUrl;
    return this.send({ ...base(input), type: 'text', text }, options);
  }

  async image(
    input: Common & MediaInput & { caption?: string },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    return this.send({ ...base(input), type: 'image', image: media(input, input) }, options);
  }

  async video(
    input: Common & MediaInput & { caption?: string },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    return this.send({ ...base(input), type: 'video', video: media(input, input) }, options);
  }

  async audio(
    input: Common & MediaInput & { voice?: boolean },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    const audio = media(input) as MediaRef & { voice?: boolean };
    if (input.voice !== undefined) audio.voice = input.voice;
    return this.send({ ...base(input), type: 'audio', audio }, options);
  }

  async document(
    input: Common & MediaInput & { caption?: string; filename?: string },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    return this.send({ ...base(input), type: 'document', document: media(input, input) }, options);
  }

  async sticker(input: Common & MediaInput, options?: SendOptions): Promise<SendMessageResponse> {
    return this.send({ ...base(input), type: 'sticker', sticker: media(input) }, options);
  }

  async location(
    input: Common & LocationMessage['location'],
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    const { latitude, longitude, name, address } = input;
    const location: LocationMessage['location'] = { latitude, longitude };
    if (name !== undefined) location.name = name;
    if (address !== undefined) location.address = address;
    return this.send({ ...base(input), type: 'location', location }, options);
  }

  async contacts(
    input: Common & { contacts: ContactCard[] },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    return this.send({ ...base(input), type: 'contacts', contacts: input.contacts }, options);
  }

  /** React to a message; `emoji: ''` removes the reaction. */
  async reaction(
    input: Common & { messageId: string; emoji: string },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    return this.send(
      { ...base(input), type: 'reaction', reaction: { message_id: input.messageId, emoji: input.emoji } },
      options,
    );
  }

  async template(
    input: Common & {
      name: string;
      language?: string;
      /** `deterministic`: use exactly this language (Meta's only policy value). */
      languagePolicy?: 'deterministic';
      components?: TemplateComponent[];
    },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    return this.send(
      {
        ...base(input),
        type: 'template',
        template: {
          name: input.name,
          language: {
            code: input.language ?? 'en_US',
            ...(input.languagePolicy ? { policy: input.languagePolicy } : {}),
          },
          ...(input.components ? { components: input.components } : {}),
        },
      },
      options,
    );
  }

  /** Up to three quick-reply buttons. */
  async buttons(
    input: InteractiveCommon & { buttons: Array<{ id: string; title: string }> },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    const buttons = input.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } }));
    return this.send(interactive(input, 'button', { buttons }), options);
  }

  async list(
    input: InteractiveCommon & { button: string; sections: ListSection[] },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    return this.send(interactive(input, 'list', { button: input.button, sections: input.sections }), options);
  }

  async ctaUrl(
    input: InteractiveCommon & { displayText: string; url: string },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    return this.send(
      interactive(input, 'cta_url', {
        name: 'cta_url',
        parameters: { display_text: input.displayText, url: input.url },
      }),
      options,
    );
  }

  /** A Flow by id or name; `mode: 'draft'` for unpublished flows. */
  async flow(
    input: InteractiveCommon & {
      flowCta: string;
      flowId?: string;
      flowName?: string;
      flowToken?: string;
      mode?: 'draft' | 'published';
      flowAction?: 'navigate' | 'data_exchange';
      flowActionPayload?: Record<string, unknown>;
    },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    if (!input.flowId === !input.flowName)
      throw new ValidationError('give exactly one of flowId or flowName', 'flow');
    const parameters: Record<string, unknown> = { flow_message_version: '3', flow_cta: input.flowCta };
    if (input.flowId) parameters.flow_id = input.flowId;
    if (input.flowName) parameters.flow_name = input.flowName;
    if (input.flowToken) parameters.flow_token = input.flowToken;
    if (input.mode) parameters.mode = input.mode;
    if (input.flowAction) parameters.flow_action = input.flowAction;
    if (input.flowActionPayload) parameters.flow_action_payload = input.flowActionPayload;
    return this.send(interactive(input, 'flow', { name: 'flow', parameters }), options);
  }

  /** Asks the user to share their location. */
  async locationRequest(
    input: Common & { body: string },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    return this.send(interactive(input, 'location_request_message', { name: 'send_location' }), options);
  }

  async product(
    input: Omit<InteractiveCommon, 'body'> & { body?: string; catalogId: string; productRetailerId: string },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    const msg = interactive({ ...input, body: input.body ?? '' }, 'product', {
      catalog_id: input.catalogId,
      product_retailer_id: input.productRetailerId,
    });
    if (!input.body) delete msg.interactive.body;
    return this.send(msg, options);
  }

  async productList(
    input: InteractiveCommon & {
      header: InteractiveHeader | string;
      catalogId: string;
      sections: ListSection[];
    },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    return this.send(
      interactive(input, 'product_list', { catalog_id: input.catalogId, sections: input.sections }),
      options,
    );
  }

  async catalog(
    input: InteractiveCommon & { thumbnailProductRetailerId?: string },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    const action: Record<string, unknown> = { name: 'catalog_message' };
    if (input.thumbnailProductRetailerId) {
      action.parameters = { thumbnail_product_retailer_id: input.thumbnailProductRetailerId };
    }
    return this.send(interactive(input, 'catalog_message', action), options);
  }

  /** Marks a received message as read; `typing: true` also shows the typing indicator (up to 25 s). */
  async markRead(
    input: { messageId: string; typing?: boolean },
    options?: SendOptions,
  ): Promise<SendMessageResponse> {
    const body: MarkReadRequest = {
      messaging_product: 'whatsapp',
      status: 'read',
      message_id: input.messageId,
    };
    if (input.typing) body.typing_indicator = { type: 'text' };
    return this.send(body, options);
  }
}
