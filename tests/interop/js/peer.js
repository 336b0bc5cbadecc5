// The js-libp2p peer of the lp2p interop matrix (versions pinned in
// package.json and package-lock.json).
//
//   node peer.js listen [--transport tcp|ws --security noise|tls --muxer yamux]
//       prints {"peer_id":..,"addrs":[..]} and serves ping, identify and
//       /echo/1.0.0 until killed
//   node peer.js dial MULTIADDR [--transport T --security S --muxer M]
//       dials, then checks handshake+one RTT, ping, identify, a 10 MiB echo
//       and 50 concurrent echo streams; one JSON line per check; exit 0 only
//       when every check passed
//
// The contract is the same for every peer of tests/interop (see README.md).

// libp2p 3.x calls Promise.withResolvers, which Node 20 lacks (Node 22 has
// it). This is the standard's definition, installed only when missing.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

// @libp2p/websockets dials with the global WebSocket, which Node 20 has only
// behind --experimental-websocket (Node 22 has it): use the ws package's,
// same API, when it is missing.
if (typeof globalThis.WebSocket !== 'function') {
  globalThis.WebSocket = (await import('ws')).WebSocket
}

const { createLibp2p } = await import('libp2p')
const { tcp } = await import('@libp2p/tcp')
const { webSockets } = await import('@libp2p/websockets')
const { tls } = await import('@libp2p/tls')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { identify } = await import('@libp2p/identify')
const { ping } = await import('@libp2p/ping')
const { multiaddr } = await import('@multiformats/multiaddr')

const ECHO = '/echo/1.0.0'
const AGENT = 'js-interop-peer/libp2p-3.3.11'
const ECHO_BYTES = 10 << 20
const STREAM_COUNT = 50
const STREAM_BYTES = 64 << 10
const STEP_TIMEOUT_MS = 30_000
// Room for the 50 concurrent streams (js-libp2p's default is 32 inbound).
const STREAM_LIMITS = { maxInboundStreams: 256, maxOutboundStreams: 256 }

function fail (msg) {
  process.stderr.write(`js-peer: ${msg}\n`)
  process.exit(1)
}

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// What this peer builds: its transport (with the address it listens on), its
// security and its muxer.
const TRANSPORTS = {
  tcp: { make: tcp, listen: '/ip4/127.0.0.1/tcp/0' },
  ws: { make: webSockets, listen: '/ip4/127.0.0.1/tcp/0/ws' }
}
const SECURITY = { noise, tls }
const MUXERS = { yamux }

// Refuses what this peer does not build, so the driver never mistakes an
// unsupported combination for a pass.
function parseCombo (args) {
  const combo = { transport: 'tcp', security: 'noise', muxer: 'yamux' }
  if (args.length % 2 !== 0) fail(`option ${args[args.length - 1]} needs a value`)
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i].replace(/^--/, '')
    if (!(key in combo)) fail(`unknown option ${args[i]}`)
    combo[key] = args[i + 1]
  }
  if (!(combo.transport in TRANSPORTS) || !(combo.security in SECURITY) || !(combo.muxer in MUXERS)) {
    fail(`unsupported combination ${JSON.stringify(combo)}`)
  }
  return combo
}

async function newNode (listen, combo) {
  const transport = TRANSPORTS[combo.transport]
  const node = await createLibp2p({
    addresses: { listen: listen ? [transport.listen] : [] },
    transports: [transport.make()],
    connectionEncrypters: [SECURITY[combo.security]()],
    streamMuxers: [MUXERS[combo.muxer]()],
    nodeInfo: { userAgent: AGENT },
    services: {
      identify: identify(),
      ping: ping(STREAM_LIMITS)
    }
  })
  await node.handle(ECHO, async (stream) => {
    try {
      for await (const chunk of stream) {
        if (!stream.send(chunk)) await stream.onDrain()
      }
      await stream.close()
    } catch (err) {
      stream.abort(err)
    }
  }, STREAM_LIMITS)
  return node
}

function withTimeout (promise, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function pattern (n, seed) {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + Math.floor(i / 251)) % 256
  return b
}

// Sends n pattern bytes on one /echo/1.0.0 stream, closes the write side and
// checks the same bytes come back.
async function echo (node, peer, n, seed) {
  const stream = await node.dialProtocol(peer, ECHO, STREAM_LIMITS)
  const data = pattern(n, seed)
  const write = async () => {
    for (let off = 0; off < n; off += 64 << 10) {
      if (!stream.send(data.subarray(off, Math.min(n, off + (64 << 10))))) await stream.onDrain()
    }
    await stream.close()
  }
  const read = async () => {
    const back = new Uint8Array(n)
    let got = 0
    for await (const chunk of stream) {
      const bytes = chunk.subarray()
      if (got + bytes.length > n) throw new Error(`echo returned more than the ${n} bytes sent`)
      back.set(bytes, got)
      got += bytes.length
    }
    if (got !== n) throw new Error(`echo returned ${got} of ${n} bytes`)
    for (let i = 0; i < n; i++) {
      if (back[i] !== data[i]) throw new Error(`echo differs at byte ${i}`)
    }
  }
  await withTimeout(Promise.all([write(), read()]), 'echo')
}

async function check (name, fn) {
  try {
    const extra = await fn()
    emit({ check: name, ok: true, ...extra })
    return true
  } catch (err) {
    emit({ check: name, ok: false, error: String(err?.message ?? err) })
    return false
  }
}

async function dial (node, addr) {
  const target = multiaddr(addr)
  const peer = target.getComponents().findLast(c => c.name === 'p2p')?.value
  if (peer == null) fail('the multiaddr must end in /p2p/<id>')
  // Listen before dialing: identify may finish before dial returns.
  const identified = new Promise((resolve) => {
    node.addEventListener('peer:identify', (ev) => {
      if (ev.detail.peerId.toString() === peer) resolve(ev.detail)
    })
  })

  const start = performance.now()
  let conn
  const handshakeOk = await check('handshake', async () => {
    conn = await withTimeout(node.dial(target), 'dial')
    // Handshake plus one round trip: the first ping completes it.
    await withTimeout(node.services.ping.ping(conn.remotePeer), 'ping')
    return { ms: performance.now() - start }
  })
  if (!handshakeOk) return false
  const remote = conn.remotePeer

  let all = true
  all = await check('ping', async () => {
    const rtt = await withTimeout(node.services.ping.ping(remote), 'ping')
    return { rtt_ms: rtt }
  }) && all
  all = await check('identify', async () => {
    const info = await withTimeout(identified, 'identify')
    const protocols = info.protocols
    const listenAddrs = info.listenAddrs.map(a => a.toString())
    // js-libp2p reports a signed record only after it verified the envelope.
    const record = info.signedPeerRecord != null ? 'verified' : 'absent'
    if (!info.agentVersion) throw new Error('no agent version')
    for (const p of ['/ipfs/ping/1.0.0', '/ipfs/id/1.0.0', ECHO]) {
      if (!protocols.includes(p)) throw new Error(`protocols ${protocols} lack ${p}`)
    }
    if (listenAddrs.length === 0) throw new Error('no listen addresses')
    return { agent: info.agentVersion, protocols, listen_addrs: listenAddrs, signed_record: record }
  }) && all
  all = await check('echo', async () => {
    await echo(node, remote, ECHO_BYTES, 0)
    return { bytes: ECHO_BYTES }
  }) && all
  all = await check('streams', async () => {
    const jobs = []
    for (let i = 0; i < STREAM_COUNT; i++) jobs.push(echo(node, remote, STREAM_BYTES, i + 1))
    await Promise.all(jobs)
    return { count: STREAM_COUNT }
  }) && all
  return all
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === 'listen') {
  const node = await newNode(true, parseCombo(rest))
  const addrs = node.getMultiaddrs().map(a => a.toString())
  emit({ peer_id: node.peerId.toString(), addrs })
} else if (mode === 'dial') {
  if (rest.length === 0) fail('dial needs a multiaddr')
  const node = await newNode(false, parseCombo(rest.slice(1)))
  const ok = await dial(node, rest[0])
  await node.stop()
  process.exit(ok ? 0 : 1)
} else {
  fail('usage: node peer.js listen | node peer.js dial MULTIADDR [--transport T --security S --muxer M]')
}
