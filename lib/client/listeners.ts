/** A listener as stored: wire listeners get the event's arguments; lifecycle listeners one info object. */
export type AnyListener = (...args: never[]) => unknown

interface Entry { fn: AnyListener, once: boolean }

/** Listeners by channel (null: the main channel) and event name, called in the order added. */
export class Listeners {
  private readonly byChannel = new Map<string | null, Map<string, Entry[]>>()

  add (channel: string | null, event: string, fn: AnyListener, once: boolean): void {
    let events = this.byChannel.get(channel)
    if (events === undefined) {
      events = new Map()
      this.byChannel.set(channel, events)
    }
    const list = events.get(event)
    if (list === undefined) events.set(event, [{ fn, once }])
    else list.push({ fn, once })
  }

  /** Remove one listener, or every listener of the event when `fn` is omitted. */
  remove (channel: string | null, event: string, fn?: AnyListener): void {
    const events = this.byChannel.get(channel)
    const list = events?.get(event)
    if (events === undefined || list === undefined) return
    const kept = fn === undefined ? [] : list.filter(e => e.fn !== fn)
    if (kept.length === 0) events.delete(event)
    else events.set(event, kept)
    if (events.size === 0) this.byChannel.delete(channel)
  }

  /** The listeners to call now; `once` listeners are removed as they are taken. */
  take (channel: string | null, event: string): AnyListener[] {
    const events = this.byChannel.get(channel)
    const list = events?.get(event)
    if (events === undefined || list === undefined) return []
    if (list.some(e => e.once)) {
      const kept = list.filter(e => !e.once)
      if (kept.length === 0) events.delete(event)
      else events.set(event, kept)
    }
    return list.map(e => e.fn)
  }
}
