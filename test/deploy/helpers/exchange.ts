// The traffic every client runs in every setup, in Node and in the page alike
// (no Node or DOM APIs here): join a room of its own, send `count` numbered
// chat messages (with a pause longer than the proxy's read timeout in the
// middle), and collect what comes back. The caller asserts by counting.

export interface Plan {
  /** Room name without the `room:` prefix; one per client so streams do not mix. */
  room: string
  count: number
  /** Between two sends. */
  gapMs: number
  /** Silence after half the messages: longer than the proxy's read timeout. */
  pauseMs: number
  /** Give up waiting for the echoes after this. */
  deadlineMs: number
}

export interface Outcome {
  /** Texts of the chat.message events received, in arrival order. */
  received: string[]
  /** Answers to the chat.send requests (ids the server gave). */
  answered: string[]
  /** Everything that went wrong: errors, closes, failed requests. */
  problems: string[]
  /** Transports seen in `open` events (the project's client) or ''. */
  transports: string[]
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

export const text = (room: string, i: number): string => `${room}#${i}`

/** The project's client (typed loosely: the page and Node import it differently). */
export interface ProjectClient {
  on (event: string, fn: (x: any) => void): unknown
  of (name: string): { on (event: string, fn: (m: any) => void): unknown }
  subscribe (name: string): Promise<void>
  request (event: string, ...args: unknown[]): Promise<unknown>
  close (): void
}

export async function runProject (client: ProjectClient, plan: Plan): Promise<Outcome> {
  const out: Outcome = { received: [], answered: [], problems: [], transports: [] }
  client.on('open', (info: { transport: string }) => out.transports.push(info.transport))
  client.on('close', (info: { code: number, reason: string }) => out.problems.push(`close ${info.code} ${info.reason}`))
  client.on('error', (err: { code: string, message: string }) => out.problems.push(`error ${err.code} ${err.message}`))
  client.of('room:' + plan.room).on('chat.message', (m: { text: string }) => out.received.push(m.text))
  await client.subscribe('room:' + plan.room)
  const sends: Array<Promise<void>> = []
  for (let i = 0; i < plan.count; i++) {
    if (i === Math.floor(plan.count / 2)) await sleep(plan.pauseMs)
    sends.push(client.request('chat.send', { room: plan.room, text: text(plan.room, i) }).then(
      (r) => { out.answered.push((r as { id: string }).id) },
      (err: Error) => { out.problems.push('request ' + err.message) }))
    await sleep(plan.gapMs)
  }
  await Promise.all(sends)
  await until(() => out.received.length >= plan.count, plan.deadlineMs)
  // A snapshot: closing the client afterwards is not a problem of the run.
  return snapshot(out)
}

/** A client that moves raw ws-wrapper envelopes (closure's WebChannel, BCSocket). */
export interface RawWire {
  send (envelope: object): void
  /** Called with each inbound envelope (already parsed). */
  onMessage (fn: (m: any) => void): void
  /** Errors and closes, as text. */
  problems: string[]
}

export async function runRaw (wire: RawWire, plan: Plan): Promise<Outcome> {
  const out: Outcome = { received: [], answered: [], problems: wire.problems, transports: [] }
  const answers = new Map<number, (m: any) => void>()
  wire.onMessage((m) => {
    if (typeof m !== 'object' || m === null) return
    if (m.c === 'room:' + plan.room && Array.isArray(m.a) && m.a[0] === 'chat.message') out.received.push(m.a[1].text)
    else if (typeof m.i === 'number') answers.get(m.i)?.(m)
  })
  const ask = (id: number, args: unknown[]): Promise<any> => new Promise(resolve => {
    answers.set(id, resolve)
    wire.send({ i: id, a: args })
  })
  const joined = await Promise.race([ask(1, ['subscribe', 'room:' + plan.room]), sleep(plan.deadlineMs).then(() => ({ e: 'no answer' }))])
  if (joined.d !== true) out.problems.push('subscribe ' + JSON.stringify(joined))
  const sends: Array<Promise<void>> = []
  for (let i = 0; i < plan.count; i++) {
    if (i === Math.floor(plan.count / 2)) await sleep(plan.pauseMs)
    sends.push(ask(2 + i, ['chat.send', { room: plan.room, text: text(plan.room, i) }]).then(m => {
      if (m.d !== undefined) out.answered.push(m.d.id)
      else out.problems.push('request ' + JSON.stringify(m.e))
    }))
    await sleep(plan.gapMs)
  }
  await Promise.race([Promise.all(sends), sleep(plan.deadlineMs)])
  await until(() => out.received.length >= plan.count, plan.deadlineMs)
  return snapshot(out)
}

function snapshot (o: Outcome): Outcome {
  return { received: [...o.received], answered: [...o.answered], problems: [...o.problems], transports: [...o.transports] }
}

/** Poll a condition, bounded in time. */
async function until (cond: () => boolean, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs
  while (!cond() && Date.now() < end) await sleep(20)
}

/** The wrapper types messageUrlParams as Firestore's `{ database }`; any parameter works on the wire. */
export function urlParams (token: string): { database?: string } {
  return { token } as unknown as { database?: string }
}
