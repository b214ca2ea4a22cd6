// The contract between a session and the transport that carries it. A session
// knows nothing of HTTP or frames; a transport knows nothing of events or
// channels. Both WebSocket and WebChannel implement `Transport`.

export type TransportKind = 'websocket' | 'webchannel'

/** Why a session ended. Delivered to the app's `onSessionEnd` hook. */
export type EndReason =
  | 'client-close' // the peer closed (WebSocket close frame, WebChannel terminate)
  | 'server-close' // the app called session.close()
  | 'timeout' // dead peer (no pong) or idle long-poll session expired
  | 'error' // protocol error, oversize message, slow consumer, socket error
  | 'shutdown' // app.close()
  | 'expired' // the principal's authentication expired (expiresAt, or reauthenticate said no)
  | 'moved' // app.close() with a session store: the session goes on at another instance

/**
 * One outbound message, serialised once. Fan-out hands the same instance to
 * every recipient; the WebSocket transport caches its frame on the object.
 */
export class OutboundMessage {
  /** The message's JSON text (a ws-wrapper envelope, or whatever the app sent raw). */
  readonly json: string
  /** Binary payload for raw binary sends (WebSocket only). */
  readonly binary: Buffer | null
  /** The complete WebSocket frame, built once for every recipient without compression. */
  wsFrame: Buffer | null = null

  /** The WebChannel array payload, built once for every recipient. */
  wcPayload: string | null = null
  /** true: `json` is app text sent as is (sendRaw), not an envelope we serialised, so it may not be JSON. */
  readonly raw: boolean

  constructor (json: string, binary: Buffer | null = null, raw = false) {
    this.json = json
    this.binary = binary
    this.raw = raw
  }
}

/**
 * What a transport offers its session. The one door between a transport and
 * the layers above: a transport is handed a `TransportSink` and never sees
 * the session, the hub or the plugin.
 */
export interface Transport {
  readonly kind: TransportKind
  /**
   * Start carrying a session: inbound traffic and the end go to `sink`.
   * Called once, before the app's onConnection, so that it can send at once.
   */
  attach (sink: TransportSink): void
  /**
   * Queue one message for the peer, in order. Returns false when the
   * per-session buffer cap is exceeded: the transport has then already begun
   * closing the session (slow-consumer policy) and the message is dropped.
   */
  send (message: OutboundMessage): boolean
  /** Close from the server side with a WebSocket-style code and reason. */
  close (code: number, reason: string, why: EndReason): void
  /** Cut the connection now, without a close handshake (shutdown timeout). */
  abort? (why: EndReason): void
  /** Bytes queued and not yet acknowledged by the peer. */
  readonly bufferedAmount: number
  /** The session joined or left a channel (a transport that stores its sessions remembers it). */
  membership? (channel: string, joined: boolean): void
}

/** What a session offers its transport: where inbound traffic and the end go. */
export interface TransportSink {
  /** The session id (the WebChannel transport sends it to the client as its SID). */
  readonly id: string
  /**
   * One inbound message: JSON text, or (WebChannel maps without __data__) a
   * plain object. Returns undefined when the app accepted it synchronously,
   * else a promise that resolves once it did and rejects when it did not
   * (WebChannel then withholds the acknowledgement so the client resends).
   */
  receive (message: string | Record<string, unknown>): Promise<void> | undefined
  /** 0 when `count` more inbound messages may come in now, else seconds to wait (WebChannel asks per POST). */
  admit? (count: number): number
  /** Binary frames (WebSocket only) go straight to the raw hook. */
  receiveBinary? (data: Buffer): void
  /** The transport is gone. Called exactly once. */
  ended (reason: EndReason, code: number, detail: string): void
}
