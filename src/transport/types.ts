/** A request as the transport sees it: absolute URL, final headers, a body already encoded. */
export interface TransportRequest {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH' | 'HEAD';
  url: string;
  headers: Record<string, string>;
  body?: string | Uint8Array | undefined;
  /**
   * Time budget in ms. The fetch transport applies it to the whole request; the undici transport to each phase
   * (connect, time to headers, each wait between body chunks), precisely below 2 s and within ~1 s above.
   */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface TransportResponse {
  status: number;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  text(): Promise<string>;
  bytes(): Promise<Uint8Array>;
  /** Drop the body without reading it (frees the connection). */
  discard(): Promise<void>;
}

/** Anything that talks HTTP takes a Transport, so tests inject faults without patching globals. */
export interface Transport {
  request(request: TransportRequest): Promise<TransportResponse>;
  close(): Promise<void>;
}

/** Why a request failed below HTTP. */
export type TransportFailure =
  | 'connect-refused'
  | 'connect-timeout'
  | 'dns'
  | 'reset'
  | 'timeout'
  | 'aborted'
  | 'bad-response'
  | 'other';
