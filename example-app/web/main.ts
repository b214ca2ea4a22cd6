// The chat page: log in, connect with the transport from ?transport=, join
// rooms, send and show messages. Everything typed from ../events.ts.
import { connect, RemoteError, type Client, type TransportKind } from '../../lib/client/index.js'
import type { ChatEvents, ChatMessage } from '../events.js'

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T

const params = new URLSearchParams(location.search)
const wanted = params.get('transport')
const transport: 'auto' | TransportKind = wanted === 'websocket' || wanted === 'webchannel' ? wanted : 'auto'
document.querySelectorAll<HTMLAnchorElement>('#switch a').forEach(a => {
  if (a.textContent === transport) a.classList.add('current')
})

const rooms = new Map<string, ChatMessage[]>()
let active: string | null = null
let client: Client<ChatEvents> | null = null

function log (line: string): void {
  const li = document.createElement('li')
  li.textContent = `${new Date().toLocaleTimeString()} ${line}`
  $('log').prepend(li)
}

function showState (state: string): void {
  const el = $('state')
  el.textContent = state
  el.dataset.state = state
  document.body.dataset.state = state
}

function renderRooms (): void {
  const ul = $('rooms')
  ul.replaceChildren()
  for (const name of rooms.keys()) {
    const li = document.createElement('li')
    li.textContent = '# ' + name
    li.dataset.room = name
    if (name === active) li.classList.add('active')
    li.onclick = () => { active = name; renderRooms(); renderMessages() }
    ul.append(li)
  }
}

function renderMessages (): void {
  $('room-title').textContent = active === null ? 'No room yet' : '# ' + active
  const ol = $('messages')
  ol.replaceChildren()
  for (const m of rooms.get(active ?? '') ?? []) {
    const li = document.createElement('li')
    li.dataset.id = m.id
    const from = document.createElement('span')
    from.className = 'from'
    from.textContent = m.from
    const time = document.createElement('time')
    time.textContent = new Date(m.ts).toLocaleTimeString()
    li.append(time, from, document.createTextNode(m.text))
    ol.append(li)
  }
  ol.scrollTop = ol.scrollHeight
}

/** A validation error from the server, in words for the person typing. */
function explain (err: unknown): string {
  if (err instanceof RemoteError) {
    if (err.code === 'WEBCHANNEL_VALIDATION' && err.path === '/0/text') return 'Messages are 1 to 500 characters. (' + err.message + ')'
    if (err.code === 'WEBCHANNEL_VALIDATION' && err.path === '/0/room') return 'Join the room first.'
    if (err.code === 'WEBCHANNEL_FORBIDDEN') return 'You may not join this room.'
    return err.message
  }
  return err instanceof Error ? err.message : String(err)
}

function start (token: string, name: string): void {
  $('login-view').hidden = true
  $('rooms-view').hidden = false
  $('me').textContent = name
  const c = connect<ChatEvents>('/channel', { transport, token })
  client = c
  c.on('state', showState)
  c.on('transport', ({ transport: now, previous }) => {
    $('transport').textContent = now
    document.body.dataset.transport = now
    log(previous === null ? `transport: ${now}` : `transport: ${previous} → ${now}`)
  })
  c.on('open', ({ reconnected, restored }) => {
    log(reconnected ? `reconnected, rejoined ${restored.length} room(s)` : 'connected')
    if (reconnected) document.body.dataset.reconnects = String(Number(document.body.dataset.reconnects ?? '0') + 1)
  })
  c.on('close', ({ code, reason, willReconnect }) => log(`closed ${code}${reason === '' ? '' : ' ' + reason}${willReconnect ? ', will reconnect' : ''}`))
  c.on('reconnecting', ({ attempt, delay }) => log(`reconnecting (attempt ${attempt}) in ${delay} ms`))
  c.on('error', (err) => log(`error: ${err.message}`))
  c.on('whoami', () => name)
  showState(c.state)
}

function joinedRoom (room: string): void {
  if (client === null) return
  if (!rooms.has(room)) {
    rooms.set(room, [])
    client.of('room:' + room).on('chat.message', (m) => {
      const list = rooms.get(m.room)
      if (list === undefined || list.some(x => x.id === m.id)) return
      list.push(m)
      if (m.room === active) renderMessages()
    })
  }
  active = room
  renderRooms()
  renderMessages()
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault()
  const name = $<HTMLInputElement>('name').value.trim()
  $('login-error').textContent = ''
  try {
    const res = await fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
    if (!res.ok) throw new Error((await res.json() as { message?: string }).message ?? `HTTP ${res.status}`)
    const { token } = await res.json() as { token: string }
    sessionStorage.setItem('chat', JSON.stringify({ token, name }))
    start(token, name)
  } catch (err) {
    $('login-error').textContent = explain(err)
  }
})

$('join-form').addEventListener('submit', async (ev) => {
  ev.preventDefault()
  const room = $<HTMLInputElement>('room').value.trim()
  $('room-error').textContent = ''
  if (client === null || room === '') return
  try {
    await client.subscribe('room:' + room)
    joinedRoom(room)
  } catch (err) {
    $('room-error').textContent = explain(err)
  }
})

$('send-form').addEventListener('submit', async (ev) => {
  ev.preventDefault()
  const input = $<HTMLInputElement>('text')
  $('text-error').textContent = ''
  if (client === null) return
  try {
    await client.request('chat.send', { room: active ?? '', text: input.value })
    input.value = ''
  } catch (err) {
    $('text-error').textContent = explain(err)
  }
})

const saved = sessionStorage.getItem('chat')
if (saved !== null) {
  const { token, name } = JSON.parse(saved) as { token: string, name: string }
  start(token, name)
}
