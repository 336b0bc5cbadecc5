// jskad: a js-libp2p kad-dht server on 127.0.0.1 for lp2p's Kademlia interop
// test (tests/tests/kad_go_interop.rs). The same line protocol as the Go
// peer (tests/interop/go-kad/main.go): prints "listening <multiaddr>", then
// answers one line per stdin command (connect, bootstrap, put, get, pk,
// provide, providers, findpeer).
import readline from 'node:readline'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'

// libp2p 3.x calls Promise.withResolvers, which Node 20 lacks (Node 22 has
// it). This is the standard's definition, installed only when missing.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const hex = (bytes) => Buffer.from(bytes).toString('hex')
const unhex = (text) => new Uint8Array(Buffer.from(text ?? '', 'hex'))

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    // Server mode; loopback addresses kept (the default mapper drops private ones).
    dht: kadDHT({ protocol: '/ipfs/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper })
  }
})
const dht = node.services.dht
console.log(`listening ${node.getMultiaddrs()[0].toString()}`)

async function run (f) {
  const signal = AbortSignal.timeout(20000)
  switch (f[0]) {
    case 'connect':
      await node.dial(multiaddr(f[1]), { signal })
      return 'ok'
    case 'bootstrap':
      await dht.refreshRoutingTable({ signal })
      return `ok ${dht.routingTable.size}`
    case 'put':
      for await (const _ of dht.put(unhex(f[1]), unhex(f[2]), { signal })) { /* drain */ }
      return 'ok'
    case 'get':
      for await (const ev of dht.get(unhex(f[1]), { signal })) {
        if (ev.name === 'VALUE') return `value ${hex(ev.value)}`
      }
      return 'error not found'
    case 'pk': {
      const key = new Uint8Array([...Buffer.from('/pk/'), ...node.peerId.toMultihash().bytes])
      return `pk ${hex(key)} ${hex(publicKeyToProtobuf(node.peerId.publicKey))}`
    }
    case 'provide':
    case 'providers': {
      const cid = CID.createV1(0x55, Digest.decode(unhex(f[1])))
      if (f[0] === 'provide') {
        for await (const _ of dht.provide(cid, { signal })) { /* drain */ }
        return 'ok'
      }
      const found = new Set()
      for await (const ev of dht.findProviders(cid, { signal })) {
        if (ev.name === 'PROVIDER') for (const p of ev.providers) found.add(p.id.toString())
      }
      return ['providers', ...found].join(' ')
    }
    case 'findpeer':
      for await (const ev of dht.findPeer(peerIdFromString(f[1]), { signal })) {
        if (ev.name === 'FINAL_PEER') return ['addrs', ...ev.peer.multiaddrs.map((a) => a.toString())].join(' ')
      }
      return 'error not found'
  }
  return `error unknown command ${f[0]}`
}

const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  const f = line.trim().split(/\s+/)
  if (f[0] === '') continue
  try {
    console.log(await run(f))
  } catch (e) {
    console.log(`error ${e.message ?? e}`)
  }
}
await node.stop()
