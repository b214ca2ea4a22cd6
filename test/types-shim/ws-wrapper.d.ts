// ws-wrapper ships no types; the tests use it as the real third-party client.
declare module 'ws-wrapper' {
  const WebSocketWrapper: any
  export default WebSocketWrapper
}
