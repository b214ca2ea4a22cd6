// Shared by test/hostile/: a server with both transports on 127.0.0.1, and
// the "still serving" checks every hostile case ends with.
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { parseFrames } from '../../lib/codecs/webchannel-framing.js'
import type { EndReason, Session, WebChannelOptions } from '../../lib/index.js'
import { startApp, type Started } from './app.js'
import { handshake, request } from './wc-raw.js'
import { connectWs, nextFrame } from './ws-client.js'

export interface Hostile {
  s: Started
  origin: string
  /** Every `n` event and raw message the app received, in order. */
  got: unknown[]
  ended: Array<{ session: Session, reason: EndReason, code: number, detail: string }>
  /** Resolves with the first session end that satisfies `pred` (already seen, or when it comes). */
  whenEnded: (pred: (e: Hostile['ended'][number]) => boolean) => Promise<Hostile['ended'][number]>
}

export const P = '/channel'
export const enc = (env: unknown): string => encodeURIComponent(JSON.stringify(env))
export const fwd = (sid: string, rid: number, aid = 0): string => `${P}?VER=8&SID=${sid}&RID=${rid}&AID=${aid}&zx=z&t=1`
export const bc = (sid: string, aid: number, ci: 0 | 1, extra = ''): string => `${P}?VER=8&RID=rpc&SID=${sid}&AID=${aid}&CI=${ci}&TYPE=xmlhttp&zx=z&t=1${extra}`
export const hs = (rid = 100): string => `${P}?VER=8&RID=${rid}&CVER=22&zx=a&t=1`
/** One forward body carrying these envelopes as __data__ maps. */
export const maps = (ofs: number, ...envs: unknown[]): string =>
  [`count=${envs.length}`, ...(envs.length > 0 ? [`ofs=${ofs}`] : []), ...envs.map((e, i) => `req${i}___data__=${enc(e)}`)].join('&')

/** A server with an `echo` request, an `n` event and the raw hook recorded; short WebChannel timers. */
export async function hostileServer (t: Test, options: WebChannelOptions = {}, setup?: (app: FastifyInstance, h: Hostile) => void | Promise<void>, pre?: (app: FastifyInstance) => void | Promise<void>): Promise<Hostile> {
  const h = { got: [], ended: [] } as unknown as Hostile
  const waiters = new Set<() => void>()
  h.whenEnded = (pred) => new Promise(resolve => {
    const check = () => {
      const e = h.ended.find(pred)
      if (e === undefined) return
      waiters.delete(check)
      resolve(e)
    }
    waiters.add(check)
    check()
  })
  h.s = await startApp({
    ...options,
    webchannel: { keepaliveInterval: 2000, longPollTimeout: 300, gzip: false, ...options.webchannel },
    onSessionEnd: (session, reason, code, detail) => {
      h.ended.push({ session, reason, code, detail })
      for (const w of [...waiters]) w()
    },
  }, async app => {
    app.webchannel.on('echo', (_c, x: unknown) => x)
    app.webchannel.on('n', (_c, x: unknown) => { h.got.push(x) })
    app.webchannel.onRaw((_session, m) => { h.got.push(typeof m === 'string' || Buffer.isBuffer(m) ? m : { ...m as object }) })
    await setup?.(app, h)
  }, pre)
  h.origin = `http://127.0.0.1:${h.s.port}`
  t.teardown(() => h.s.app.close())
  return h
}

/** A new WebChannel session does a full round trip: handshake, a request on a forward POST, its answer on a back channel. */
export async function wcServes (t: Test, origin: string, headers: Record<string, string> = {}): Promise<void> {
  const { sid } = await handshake(origin, P, 'count=0', headers)
  const post = await request(origin, fwd(sid, 101), { body: maps(0, { i: 1, a: ['echo', 'alive'] }), headers })
  t.equal(post.status, 200, 'still serving: a new session\'s forward POST is acknowledged')
  const back = await request(origin, bc(sid, 0, 1), { headers })
  const arrays = parseFrames(back.body).chunks.flat() as Array<[number, unknown]>
  t.same(arrays.map(a => a[1]), [{ i: 1, d: 'alive' }], 'still serving: the answer arrives on the back channel')
  await request(origin, `${P}?VER=8&SID=${sid}&RID=102&TYPE=terminate`, { headers })
}

/** A new WebSocket session answers a request. */
export async function wsServes (t: Test, wsUrl: string): Promise<void> {
  const c = await connectWs(wsUrl)
  c.ws.send(JSON.stringify({ i: 1, a: ['echo', 'alive'] }))
  t.same(await nextFrame(c.ws), { i: 1, d: 'alive' }, 'still serving: a new WebSocket session is answered')
  c.ws.close()
  await c.closed
}

/**
 * Options for a test of behaviour not built yet: tap reports it as todo
 * without running it. `HOSTILE_RUN_TODO=1` runs it anyway, to see it fail
 * today and pass once the fix lands (then drop the option).
 */
export function pending (needs: string): { todo?: string } {
  return process.env.HOSTILE_RUN_TODO === '1' ? {} : { todo: 'needs ' + needs }
}
