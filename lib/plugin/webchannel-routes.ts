import type { FastifyInstance } from 'fastify'
import type { Hub } from '../hub/hub.js'

// Placeholder until the WebChannel transport lands (helper replaces this file).
export async function registerWebChannelRoutes (_fastify: FastifyInstance, _hub: Hub): Promise<void> {}
