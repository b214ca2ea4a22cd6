import { once } from 'node:events'
import WebSocket from 'ws'
import WebSocketWrapper from 'ws-wrapper'

export interface WsClient {
  ws: WebSocket
  wrapper: any
  /** Next close event as [code, reason]. */
  closed: Promise<[number, string]>
}

/** A real ws-wrapper client over the `ws` package, connected and open. */
export async function connectWs (url: string, options: WebSocket.ClientOptions & { protocols?: string | string[] } = {}): Promise<WsClient> {
  const { protocols, ...rest } = options
  const ws = new WebSocket(url, protocols, rest)
  const wrapper = new (WebSocketWrapper as any)(ws, { requestTimeout: 10_000 })
  const closed = new Promise<[number, string]>(resolve => ws.once('close', (code, reason) => resolve([code, reason.toString()])))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error('HTTP ' + res.statusCode), { statusCode: res.statusCode, res })))
  })
  return { ws, wrapper, closed }
}

/** Try to upgrade and return the HTTP refusal (status and JSON body); statusCode 0: connection refused. */
export async function refusedUpgrade (url: string, options: WebSocket.ClientOptions & { protocols?: string | string[] } = {}): Promise<{ statusCode: number, body: any }> {
  const { protocols, ...rest } = options
  const ws = new WebSocket(url, protocols, rest)
  const failed = new Promise<null>(resolve => ws.on('error', () => resolve(null)))
  const responded = once(ws, 'unexpected-response').then(([, res]) => res as import('node:http').IncomingMessage)
  const res = await Promise.race([responded, failed])
  if (res === null) return { statusCode: 0, body: null }
  let text = ''
  for await (const chunk of res) text += chunk
  ws.terminate()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { statusCode: res.statusCode ?? 0, body }
}

/** Next raw text frame. */
export function nextFrame (ws: WebSocket): Promise<any> {
  return new Promise(resolve => ws.once('message', (data) => resolve(JSON.parse(data.toString()))))
}
