/**
 * Apps name their principal's type once, by declaration merging, and every
 * session, context and authorize hook sees it without casts:
 *
 *   declare module 'fastify-webchannel' {
 *     interface PrincipalRegistry { principal: { id: string, name: string } }
 *   }
 */

export interface PrincipalRegistry {}

/** The app's principal type (see PrincipalRegistry), or unknown. */
export type Principal = PrincipalRegistry extends { principal: infer P } ? P : unknown
