// nginx configurations for the deploy suite. `recommendedLocation` is the
// block docs/deployment.md shows (test/deploy/docs.test.ts checks they agree);
// the other setups are that block with one thing changed.

export interface Setup {
  /** Port the app listens on (127.0.0.1). */
  upstreamPort: number
  /** Port nginx listens on (127.0.0.1). */
  listenPort: number
  /** nginx's proxy_read_timeout / proxy_send_timeout. */
  readTimeout: string
  /**
   * A proxy that holds streamed responses: proxy_buffering on with the app's
   * X-Accel-Buffering ignored, and nginx's own gzip for text/plain (the app is
   * told the client takes no gzip). nginx alone passes small chunks on at once;
   * its gzip filter without upstream flushes holds them until 4 KiB compress.
   */
  buffering?: boolean
  /** Do not forward Upgrade/Connection: WebSocket upgrades reach the app as plain GETs. */
  noUpgrade?: boolean
  /** Only `proxy_pass`: the app sees Host = the upstream address and must trust X-Forwarded-Host (trustProxy). */
  plainHost?: boolean
  /** TLS with HTTP/2 towards the browser (the upstream stays HTTP/1.1). */
  tls?: { cert: string, key: string }
  /** Answer 503 from the proxy to the first attempt (t=1) of every request that carries a SID. */
  flaky?: boolean
  /**
   * Several instances, round-robin, no stickiness (upstreamPort is ignored):
   * the setup docs/scaling.md shows for a session store. A request an instance
   * refuses while shutting down (503) or cannot take (refused connection) is
   * tried on the next one.
   */
  instances?: number[]
}

/** The upstream block and the retry rule for several instances, as docs/scaling.md shows them. */
export function roundRobin (ports: readonly number[]): { upstream: string, retry: string } {
  return {
    upstream: `    upstream app {
${ports.map(p => `        server 127.0.0.1:${p} max_fails=0;`).join('\n')}
        keepalive 16;
    }`,
    retry: `        # An instance that is shutting down answers 503 without serving the request: safe to retry elsewhere.
        proxy_next_upstream error timeout http_503 non_idempotent;`,
  }
}

/** The location block for the app, as documented. Indented for a server block. */
export function recommendedLocation (upstream: string, readTimeout: string): string {
  return `    location / {
        proxy_pass http://${upstream};
        proxy_http_version 1.1;
        # The browser's Origin must match the Host the app sees (same-origin check).
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
        # WebSocket upgrade at /channel/ws.
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        # WebChannel streams its back channel: pass every chunk through at once.
        proxy_buffering off;
        proxy_request_buffering off;
        # Longer than the plugin's 30 s keepalive, ping and long-poll hold.
        proxy_read_timeout ${readTimeout};
        proxy_send_timeout ${readTimeout};
    }`
}

/** The map the location block needs (http level). */
export const CONNECTION_UPGRADE_MAP = `    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }`

/** A whole nginx.conf for one test run, with every path inside `dir`. */
export function nginxConf (dir: string, s: Setup): string {
  const rr = s.instances === undefined ? null : roundRobin(s.instances)
  let location = recommendedLocation(rr === null ? `127.0.0.1:${s.upstreamPort}` : 'app', s.readTimeout)
  if (rr !== null) location = location.replace('        proxy_http_version 1.1;\n', '        proxy_http_version 1.1;\n' + rr.retry + '\n')
  if (s.buffering === true) {
    location = location.replace('proxy_buffering off;', 'proxy_buffering on;\n        proxy_ignore_headers X-Accel-Buffering;\n        proxy_set_header Accept-Encoding "";\n        gzip on;\n        gzip_types text/plain;\n        gzip_proxied any;\n        gzip_min_length 0;')
  }
  if (s.noUpgrade === true) {
    location = location.replace(/ *proxy_set_header Upgrade .*\n/, '').replace(/ *proxy_set_header Connection .*\n/, '')
  }
  if (s.plainHost === true) {
    location = location.replace(/ *proxy_set_header Host .*\n/, '')
  }
  if (s.flaky === true) {
    // A load balancer that fails now and then: every first attempt of a request in a session.
    location = location.replace('    location / {\n', `    location / {
        set $flaky "";
        if ($arg_SID != "") { set $flaky "s"; }
        if ($arg_t = "1") { set $flaky "\${flaky}1"; }
        if ($flaky = "s1") { return 503; }
`)
  }
  const listen = s.tls === undefined
    ? `listen 127.0.0.1:${s.listenPort};`
    : `listen 127.0.0.1:${s.listenPort} ssl http2;\n        ssl_certificate ${s.tls.cert};\n        ssl_certificate_key ${s.tls.key};`
  return `worker_processes 1;
error_log ${dir}/error.log warn;
events { worker_connections 512; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
${CONNECTION_UPGRADE_MAP}
${rr === null ? '' : rr.upstream}
    server {
        ${listen}
${location}
    }
}
`
}
