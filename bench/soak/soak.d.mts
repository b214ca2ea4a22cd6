export interface Snapshot {
  heapUsed: number
  external: number
  rss: number
  /** Every live Timeout, ref'd or not. */
  timers: number
  refTimers: number
  /** Open TCP sockets of the server process (the listening one is not among them). */
  sockets: number
  stats: { sessions: { websocket: number, webchannel: number }, records: Record<string, number> }
  ended: Record<string, number>
}

export interface SoakReport {
  sessions: number
  slow: number
  batch: number
  concurrency: number
  addresses: number
  /** Clients that failed; `late`: WebChannel clients that came back after their session expired. */
  errors: Record<string, { webchannel: number, websocket: number, slow: number, late: number, first?: string }>
  baseline: Snapshot
  peak: Snapshot & { sampledHeapUsed: number, sampledSessions: number, sampledTimers: number }
  /** While the slow readers' clients still hold their connections, never reading. */
  slowHeld: Snapshot & { ms: number, sessionsGone: boolean }
  slowRounds: number
  mutedNotCut: number
  /** Unread back channels after their sessions ended (absent when skipped). */
  slowloris?: Snapshot & { readers: number, failed: number, size: number, sessionsGone: boolean, socketsFreed: boolean, waitedMs: number }
  /** Streaming GETs and WebSocket upgrades cut while the app's async hook ran (absent when skipped). */
  hangups?: Snapshot & { count: number, failed: number, sessionsGone: boolean, waitedMs: number }
  cleanedUp: boolean
  cleanupMs: number
  loadMs: number
  totalMs: number
  after: Snapshot
  heapGrowth: number
  ended: Record<string, number>
}

export interface SoakOptions {
  sessions?: number
  slow?: number
  batch?: number
  concurrency?: number
  addresses?: number
  warmup?: number
  serverOptions?: Record<string, unknown>
  cleanupDeadline?: number
  slowlorisReaders?: { readers: number, size: number, grace?: number } | null
  hangupClients?: { count: number, delay: number, cutAfter: number } | null
  log?: (line: string) => void
}

export function soak (options?: SoakOptions): Promise<SoakReport>
export function mb (bytes: number): string
