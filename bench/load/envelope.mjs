// The ws-wrapper envelope as the load generator speaks it (ws, @fastify/websocket,
// ours on both transports, and the browserchannel server's naive handler).
//   request  {"i":id,"a":["echo",arg]}   response {"i":id,"d":arg}
//   broadcast {"c":"bench","a":["tick",payload]}

/** Request id of the subscribe call (echo ids count up from 1 per client). */
export const SUBSCRIBE_ID = 2 ** 31 - 1

export function encodeEcho (id, arg) {
  return JSON.stringify({ i: id, a: ['echo', arg] })
}

export function encodeSubscribe () {
  return JSON.stringify({ i: SUBSCRIBE_ID, a: ['subscribe', 'bench'] })
}

/** Route one decoded envelope to the client's callbacks; anything unexpected fails the run. */
export function dispatchEnvelope (client, m, fail) {
  if (m === null || typeof m !== 'object') return fail(`not an envelope: ${JSON.stringify(m)}`)
  if (m.c !== undefined) {
    if (m.c !== 'bench' || !Array.isArray(m.a) || m.a[0] !== 'tick') return fail(`unexpected broadcast ${JSON.stringify(m).slice(0, 120)}`)
    return client.onTick(m.a[1])
  }
  if (m.e !== undefined) return fail(`request ${m.i} rejected: ${JSON.stringify(m.e)}`)
  if (m.i === SUBSCRIBE_ID) {
    if (m.d !== true) return fail(`subscribe refused: ${JSON.stringify(m)}`)
    return client.subscribed()
  }
  if (typeof m.i !== 'number') return fail(`unexpected message ${JSON.stringify(m).slice(0, 120)}`)
  client.onResponse(m.i, m.d)
}
