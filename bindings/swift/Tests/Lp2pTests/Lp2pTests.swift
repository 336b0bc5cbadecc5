// The Swift suite of lp2p: the same test names, for the same behaviours, as
// the Python and Kotlin suites, plus a few for the rest of the API. Runs with
// `swift test` on macOS after build-xcframework.sh; set LP2P_NODE to the
// lp2p-node CLI for test_talks_to_lp2p_node_cli. Builds for iOS too: what
// iOS lacks (Process, to spawn the CLI) is inside #if os(macOS).
import CryptoKit
import Foundation
import XCTest

@testable import Lp2p

let echoProtocol = "/echo/1.0.0"
let loopback = "/ip4/127.0.0.1/tcp/0"

/// Echoes every byte back, then closes its write side. Written in Swift.
final class EchoHandler: StreamHandler, @unchecked Sendable {
    func handle(stream: Lp2pStream) async {
        do {
            while true {
                let chunk = try await stream.read(maxBytes: 65536)
                if chunk.isEmpty { break }
                try await stream.write(data: chunk)
            }
            try await stream.close()
        } catch {
            stream.reset()
        }
    }
}

/// No awaited event came in time.
struct NoEvent: Error {
    let seconds: Double
}

/// Collects a node's events.
final class Collector: EventListener, @unchecked Sendable {
    private let lock = NSLock()
    private var events: [NodeEvent] = []

    func onEvent(event: NodeEvent) {
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    /// The first event so far that `match` accepts (locks synchronously:
    /// NSLock is not for async contexts).
    private func firstMatch<T>(_ match: (NodeEvent) -> T?) -> T? {
        lock.lock()
        defer { lock.unlock() }
        return events.lazy.compactMap(match).first
    }

    /// Waits up to `seconds` for an event that `match` accepts.
    func waitFor<T>(seconds: Double, _ match: (NodeEvent) -> T?) async throws -> T {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let found = firstMatch(match) { return found }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        throw NoEvent(seconds: seconds)
    }
}

/// Deterministic bytes, different at every offset (not all zeros).
func pattern(_ size: Int) -> Data {
    var out = Data(count: size)
    var x: UInt32 = 0x1234_5678
    for i in 0..<size {
        x ^= x << 13
        x ^= x >> 17
        x ^= x << 5
        out[i] = UInt8(truncatingIfNeeded: x)
    }
    return out
}

/// Writes `data` and reads everything back concurrently (the echo needs both).
func echoThrough(_ stream: Lp2pStream, _ data: Data, chunk: Int = 65536) async throws -> Data {
    async let back = stream.readToEnd(maxBytes: UInt64(data.count) + 1)
    var offset = 0
    while offset < data.count {
        let end = min(offset + chunk, data.count)
        try await stream.write(data: data.subdata(in: offset..<end))
        offset = end
    }
    try await stream.close()
    return try await back
}

final class Lp2pTests: XCTestCase {
    private var nodes: [Node] = []

    private func start(listen: Bool = true) throws -> Node {
        let node = try Node(config: NodeConfig(listenAddrs: listen ? [loopback] : []))
        nodes.append(node)
        return node
    }

    override func tearDown() async throws {
        for node in nodes {
            await node.shutdown()
        }
        nodes.removeAll()
    }

    func test_two_nodes_ping() async throws {
        let server = try start()
        let client = try start(listen: false)
        let peer = try await client.dial(address: server.listenAddrs()[0])
        XCTAssertEqual(peer, server.peerId())
        let rtt = try await client.ping(peerId: peer)
        XCTAssertGreaterThan(rtt, 0)
        XCTAssertLessThan(rtt, 10)
    }

    /// Waits until the server's perf counters satisfy `done` (XCTest's timeout bounds it).
    private func perfStatsUntil(_ server: Node, _ done: (PerfServerStats) -> Bool) async throws {
        while !done(server.perfServerStats()) {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }

    func test_perf_counts_bytes_both_ways() async throws {
        let server = try Node(config: NodeConfig(listenAddrs: [loopback], perf: true))
        nodes.append(server)
        let client = try start(listen: false)
        let peer = try await client.dial(address: server.listenAddrs()[0])
        XCTAssertTrue(server.protocols().contains("/perf/1.0.0"))
        let result = try await client.perf(peerId: peer, uploadBytes: 300_000, downloadBytes: 700_000)
        XCTAssertEqual(result.uploadBytes, 300_000)
        XCTAssertEqual(result.downloadBytes, 700_000)
        XCTAssertGreaterThan(result.uploadTime, 0)
        XCTAssertGreaterThan(result.downloadTime, 0)
        // Counted on the server's side: what it drained and sent.
        try await perfStatsUntil(server) { $0.served == 1 }
        XCTAssertEqual(
            server.perfServerStats(),
            PerfServerStats(served: 1, failed: 0, bytesReceived: 300_000, bytesSent: 700_000))
    }

    func test_perf_is_off_by_default() async throws {
        let server = try start()
        let client = try start(listen: false)
        let peer = try await client.dial(address: server.listenAddrs()[0])
        XCTAssertFalse(server.protocols().contains("/perf/1.0.0"))
        do {
            _ = try await client.perf(peerId: peer, uploadBytes: 1000, downloadBytes: 1000)
            XCTFail("a node without perf served it")
        } catch Lp2pError.ProtocolNotSupported {
        }
        XCTAssertEqual(server.perfServerStats(), PerfServerStats(served: 0, failed: 0, bytesReceived: 0, bytesSent: 0))
    }

    func test_rendezvous_register_discover() async throws {
        let point = try start()
        point.serveRendezvous()
        let a = try start()
        let c = try start(listen: false)
        let p = try await a.dial(address: point.listenAddrs()[0])
        _ = try await c.dial(address: point.listenAddrs()[0])
        let ttl = try await a.rendezvousRegister(peerId: p, namespace: "kt-app", ttl: nil)
        XCTAssertEqual(ttl, 7200)
        let found = try await c.rendezvousDiscover(peerId: p, namespace: "kt-app", limit: nil, cookie: nil)
        XCTAssertEqual(found.registrations.map { $0.peerId }, [a.peerId()])
        XCTAssertEqual(found.registrations[0].namespace, "kt-app")
        let again = try await c.rendezvousDiscover(peerId: p, namespace: "kt-app", limit: nil, cookie: found.cookie)
        XCTAssertTrue(again.registrations.isEmpty)
        try await a.rendezvousUnregister(peerId: p, namespace: "kt-app")
        let peers = try await c.bootstrap(addrs: [a.listenAddrs()[0]])
        XCTAssertEqual(peers, [a.peerId()])
        do {
            _ = try await a.rendezvousRegister(peerId: p, namespace: "kt-app", ttl: 60)
            XCTFail("a TTL below the point's minimum was accepted")
        } catch let Lp2pError.ProtocolError(message) {
            XCTAssertTrue(message.contains("E_INVALID_TTL"), message)
        }
        XCTAssertTrue(ipfsBootstrapPeers().contains { $0.hasPrefix("/dnsaddr/bootstrap.libp2p.io/") })
    }

    func test_kad_put_get_provide_find() async throws {
        let a = try start()
        let b = try start()
        let identity = Keypair.generateEd25519()
        let c = try Node(config: NodeConfig(listenAddrs: [loopback], keypair: identity))
        nodes.append(c)
        let ka = a.kad(mode: .server, protocol: nil)
        let kb = b.kad(mode: .server, protocol: nil)
        let kc = c.kad(mode: .server, protocol: nil)
        let viaB = try await kb.addBootstrapPeer(addr: a.listenAddrs()[0])
        XCTAssertEqual(viaB, a.peerId())
        let viaC = try await kc.addBootstrapPeer(addr: a.listenAddrs()[0])
        XCTAssertEqual(viaC, a.peerId())
        let size = try await kc.bootstrap()
        XCTAssertGreaterThanOrEqual(size, 1)
        // An Ed25519 peer ID is the identity multihash of the protobuf public key.
        let publicKey = identity.publicKey()
        var record = Data("/pk/".utf8)
        record.append(contentsOf: [0, UInt8(publicKey.count)])
        record.append(publicKey)
        let stored = try await kc.putValue(key: record, value: publicKey)
        XCTAssertGreaterThanOrEqual(stored, 1)
        let got = try await kb.getValue(key: record, quorum: 1)
        XCTAssertEqual(got, publicKey)
        let missing = try await kb.getValue(key: Data("/pk/nobody".utf8), quorum: 1)
        XCTAssertNil(missing)
        var content = Data([0x12, 0x20])
        content.append(Data(repeating: 3, count: 32))
        let told = try await ka.provide(key: content)
        XCTAssertGreaterThanOrEqual(told, 1)
        let providers = try await kc.providers(key: content, limit: 5)
        XCTAssertTrue(providers.contains { $0.peerId == a.peerId() })
        let found = try await kc.findPeer(peerId: b.peerId())
        XCTAssertFalse(found?.isEmpty ?? true)
    }

    /// Polls `condition` every 20 ms for up to `seconds`.
    private func eventually(seconds: Double = 10, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return condition()
    }

    func test_external_addresses_and_auto_kad() async throws {
        let node = try start()
        let events = Collector()
        let subscription = try node.subscribeEvents(listener: events)
        defer { subscription.cancel() }
        let kad = node.kad(mode: .auto, protocol: nil)
        XCTAssertEqual(kad.mode(), .auto)
        XCTAssertFalse(kad.isServer())
        XCTAssertEqual(node.externalAddrs(), [])
        XCTAssertTrue(try node.addExternalAddress(address: "/ip4/203.0.113.7/tcp/4001"))
        XCTAssertFalse(try node.addExternalAddress(address: "/ip4/203.0.113.7/tcp/4001"))
        XCTAssertEqual(node.externalAddrs(), ["/ip4/203.0.113.7/tcp/4001"])
        let confirmed = try await events.waitFor(seconds: 10) { event -> String? in
            if case let .externalAddrConfirmed(address) = event { return address }
            return nil
        }
        XCTAssertEqual(confirmed, "/ip4/203.0.113.7/tcp/4001")
        let serving = try await eventually { kad.isServer() }
        XCTAssertTrue(serving, "an AUTO DHT serves once the node has an external address")
        XCTAssertTrue(node.protocols().contains("/ipfs/kad/1.0.0"))

        XCTAssertTrue(try node.removeExternalAddress(address: "/ip4/203.0.113.7/tcp/4001"))
        XCTAssertFalse(try node.removeExternalAddress(address: "/ip4/203.0.113.7/tcp/4001"))
        XCTAssertEqual(node.externalAddrs(), [])
        let stopped = try await eventually { !kad.isServer() }
        XCTAssertTrue(stopped, "and stops serving without one")
        XCTAssertThrowsError(try node.addExternalAddress(address: "not-a-multiaddr")) { error in
            guard case Lp2pError.InvalidMultiaddr = error else {
                return XCTFail("expected InvalidMultiaddr, got \(error)")
            }
        }
        XCTAssertEqual(try start().kad(mode: .client, protocol: nil).mode(), .client)
    }

    func test_resource_limits_and_conn_manager() async throws {
        // Bad settings are refused.
        XCTAssertThrowsError(try Node(config: NodeConfig(connManager: ConnManagerConfig(low: 5, high: 2)))) { error in
            guard case Lp2pError.InvalidArgument = error else {
                return XCTFail("expected InvalidArgument, got \(error)")
            }
        }
        XCTAssertThrowsError(try Node(config: NodeConfig(allowlist: ["/dns4/example.com/tcp/1"]))) { error in
            guard case Lp2pError.InvalidArgument = error else {
                return XCTFail("expected InvalidArgument, got \(error)")
            }
        }
        XCTAssertThrowsError(try Node(config: NodeConfig(resourceLimits: ResourceLimits(maxStreams: 0)))) { error in
            guard case Lp2pError.InvalidArgument = error else {
                return XCTFail("expected InvalidArgument, got \(error)")
            }
        }
        // One outbound connection at most: the second dial fails with
        // LimitReached, and an event says which limit.
        let client = try Node(
            config: NodeConfig(
                resourceLimits: ResourceLimits(maxConnections: 1),
                connManager: ConnManagerConfig(low: 1, high: 1, gracePeriod: 60),
                allowlist: ["/ip4/10.0.0.0/ipcidr/8"]))
        nodes.append(client)
        let a = try start()
        let b = try start()
        let events = Collector()
        let subscription = try client.subscribeEvents(listener: events)
        defer { subscription.cancel() }
        let peerA = try await client.dial(address: a.listenAddrs()[0])
        do {
            _ = try await client.dial(address: b.listenAddrs()[0])
            XCTFail("a dial over the connection limit succeeded")
        } catch Lp2pError.LimitReached {
        }
        let hit = try await events.waitFor(seconds: 10) { event -> (String, String, UInt64, UInt64, String?)? in
            if case let .resourceLimitExceeded(scope, peerId, resource, limit, current) = event {
                return (scope, resource, limit, current, peerId)
            }
            return nil
        }
        XCTAssertEqual(hit.0, "system")
        XCTAssertEqual(hit.1, "conns_outbound")
        XCTAssertEqual(hit.2, 1)
        XCTAssertEqual(hit.3, 1)
        XCTAssertNil(hit.4)

        // Tags and protections.
        try client.tagPeer(peerId: peerA, tag: "useful", value: 5)
        XCTAssertThrowsError(try client.tagPeer(peerId: peerA, tag: String(repeating: "x", count: 200), value: 5)) {
            error in
            guard case Lp2pError.InvalidArgument = error else {
                return XCTFail("expected InvalidArgument, got \(error)")
            }
        }
        XCTAssertThrowsError(try client.tagPeer(peerId: "nope", tag: "useful", value: 5)) { error in
            guard case Lp2pError.InvalidPeerId = error else {
                return XCTFail("expected InvalidPeerId, got \(error)")
            }
        }
        try client.untagPeer(peerId: peerA, tag: "useful")
        try client.protectPeer(peerId: peerA, tag: "keep")
        try client.protectPeer(peerId: peerA, tag: "also")
        XCTAssertTrue(try client.isProtected(peerId: peerA, tag: "keep"))
        XCTAssertTrue(try client.unprotectPeer(peerId: peerA, tag: "keep"))
        XCTAssertFalse(try client.unprotectPeer(peerId: peerA, tag: "also"))
        XCTAssertFalse(try client.isProtected(peerId: peerA, tag: nil))
    }

    func test_autonat_confirms_external_address() async throws {
        func autonatNode(server: Bool, client: Bool) throws -> Node {
            let autonat = AutonatConfig(
                server: server, client: client, allowPrivateAddresses: true, confirmations: 3, probeInterval: 0.2)
            let node = try Node(config: NodeConfig(listenAddrs: [loopback], autonat: autonat))
            nodes.append(node)
            return node
        }
        let servers = try (0..<3).map { _ in try autonatNode(server: true, client: false) }
        let node = try autonatNode(server: false, client: true)
        let events = Collector()
        let subscription = try node.subscribeEvents(listener: events)
        defer { subscription.cancel() }
        let kad = node.kad(mode: .auto, protocol: nil)
        XCTAssertFalse(kad.isServer())
        for server in servers {
            _ = try await node.dial(address: server.listenAddrs()[0])
        }
        let expected = String(node.listenAddrs()[0].components(separatedBy: "/p2p/")[0])
        let confirmed = try await events.waitFor(seconds: 30) { event -> String? in
            if case let .externalAddrConfirmed(address) = event { return address }
            return nil
        }
        XCTAssertEqual(confirmed, expected)
        XCTAssertTrue(node.externalAddrs().contains(expected))
        let serving = try await eventually { kad.isServer() }
        XCTAssertTrue(serving, "the AUTO DHT serves once AutoNAT confirmed an address")
        XCTAssertThrowsError(try Node(config: NodeConfig(autonat: AutonatConfig(confirmations: 0)))) { error in
            guard case Lp2pError.InvalidArgument = error else {
                return XCTFail("expected InvalidArgument, got \(error)")
            }
        }
    }

    func test_echo_round_trip_through_handler() async throws {
        let server = try start()
        server.setStreamHandler(protocol: echoProtocol, handler: EchoHandler())
        let client = try start(listen: false)
        let peer = try await client.dial(address: server.listenAddrs()[0])
        let stream = try await client.newStream(peerId: peer, protocol: echoProtocol)
        XCTAssertEqual(stream.`protocol`(), echoProtocol)
        XCTAssertEqual(stream.peerId(), server.peerId())
        let message = Data("hello from swift".utf8)
        let back = try await echoThrough(stream, message)
        XCTAssertEqual(back, message)
    }

    func test_transfer_16_mib_checked() async throws {
        let server = try start()
        server.setStreamHandler(protocol: echoProtocol, handler: EchoHandler())
        let client = try start(listen: false)
        let peer = try await client.dial(address: server.listenAddrs()[0])
        let data = pattern(16 * 1024 * 1024)
        let stream = try await client.newStream(peerId: peer, protocol: echoProtocol)
        let back = try await echoThrough(stream, data)
        XCTAssertEqual(back.count, data.count)
        XCTAssertEqual(Data(SHA256.hash(data: back)), Data(SHA256.hash(data: data)))
        XCTAssertEqual(back, data, "every byte comes back equal")
    }

    func test_invalid_multiaddr_raises() async throws {
        let client = try start(listen: false)
        do {
            _ = try await client.dial(address: "not-a-multiaddr")
            XCTFail("dial accepted not-a-multiaddr")
        } catch Lp2pError.InvalidMultiaddr {
            // expected
        }
        XCTAssertThrowsError(try Node(config: NodeConfig(listenAddrs: ["not-a-multiaddr"]))) { error in
            guard case Lp2pError.InvalidMultiaddr = error else {
                return XCTFail("expected InvalidMultiaddr, got \(error)")
            }
        }
    }

    func test_unknown_protocol_raises() async throws {
        let server = try start()
        let client = try start(listen: false)
        let peer = try await client.dial(address: server.listenAddrs()[0])
        do {
            _ = try await client.newStream(peerId: peer, protocol: "/no-such-protocol/1.0.0")
            XCTFail("new_stream succeeded for a protocol the peer lacks")
        } catch let Lp2pError.ProtocolNotSupported(message) {
            XCTAssertTrue(message.contains("/no-such-protocol/1.0.0"), message)
        }
    }

    // Spawns the CLI with Foundation's Process, which iOS lacks: macOS only
    // (bindings/swift/test.sh checks no such API is used outside #if os(macOS)).
    #if os(macOS)
    func test_talks_to_lp2p_node_cli() async throws {
        guard let cli = ProcessInfo.processInfo.environment["LP2P_NODE"] else {
            throw XCTSkip("set LP2P_NODE to the lp2p-node CLI (examples-c/build/lp2p-node)")
        }

        // The CLI listens; our Swift node pings it and echoes through it.
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: cli)
        listener.arguments = ["listen", "--seconds", "60", "--json"]
        let out = Pipe()
        listener.standardOutput = out
        try listener.run()
        defer { listener.terminate() }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let more = out.fileHandleForReading.availableData
            if more.isEmpty { break }
            line.append(more)
        }
        let text = String(decoding: line, as: UTF8.self)
        let json = try JSONSerialization.jsonObject(with: Data(text.split(separator: "\n")[0].utf8)) as? [String: Any]
        let addrs = try XCTUnwrap(json?["addrs"] as? [String])
        let client = try start(listen: false)
        let peer = try await client.dial(address: addrs[0])
        XCTAssertTrue(addrs[0].hasSuffix("/p2p/\(peer)"))
        let rtt = try await client.ping(peerId: peer)
        XCTAssertGreaterThan(rtt, 0)
        let data = pattern(300_000)
        let stream = try await client.newStream(peerId: peer, protocol: echoProtocol)
        let back = try await echoThrough(stream, data)
        XCTAssertEqual(back, data)

        // Our Swift node listens with a Swift echo handler; the CLI dials it.
        let server = try start()
        server.setStreamHandler(protocol: echoProtocol, handler: EchoHandler())
        let echo = Process()
        echo.executableURL = URL(fileURLWithPath: cli)
        echo.arguments = ["echo", server.listenAddrs()[0], "--bytes", "200000", "--json"]
        let echoOut = Pipe()
        echo.standardOutput = echoOut
        try echo.run()
        let output = String(decoding: echoOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        echo.waitUntilExit()
        XCTAssertEqual(echo.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("\"ok\":true") && output.contains("\"bytes\":200000"), output)
    }
    #endif

    // Beyond the shared names: the rest of the API.

    func test_identify_results() async throws {
        let server = try Node(config: NodeConfig(listenAddrs: [loopback], agentVersion: "swift-test/1"))
        nodes.append(server)
        server.setStreamHandler(protocol: echoProtocol, handler: EchoHandler())
        let client = try start(listen: false)
        let events = Collector()
        let subscription = try client.subscribeEvents(listener: events)
        defer { subscription.cancel() }
        let peer = try await client.dial(address: server.listenAddrs()[0])
        let agent: String = try await events.waitFor(seconds: 10) { event in
            if case let .identified(peerId, agentVersion, _, _, _) = event, peerId == peer { return agentVersion }
            return nil
        }
        XCTAssertEqual(agent, "swift-test/1")
        let info = try client.peerInfo(peerId: peer)
        XCTAssertEqual(info.agentVersion, "swift-test/1")
        XCTAssertTrue(info.protocols.contains(echoProtocol))
        XCTAssertTrue(try client.isConnected(peerId: peer))
    }

    func test_events_report_connections() async throws {
        let server = try start()
        let events = Collector()
        let subscription = try server.subscribeEvents(listener: events)
        defer { subscription.cancel() }
        let client = try start(listen: false)
        _ = try await client.dial(address: server.listenAddrs()[0])
        let (peerId, outbound): (String, Bool) = try await events.waitFor(seconds: 10) { event in
            if case let .connectionEstablished(peerId, _, _, outbound) = event { return (peerId, outbound) }
            return nil
        }
        XCTAssertEqual(peerId, client.peerId())
        XCTAssertFalse(outbound)
    }

    func test_keypair_round_trip() throws {
        let key = Keypair.generateEd25519()
        let again = try Keypair.fromProtobufEncoding(bytes: key.toProtobufEncoding())
        XCTAssertEqual(key.peerId(), again.peerId())
        let node = try Node(config: NodeConfig(keypair: again))
        nodes.append(node)
        XCTAssertEqual(node.peerId(), key.peerId())
        XCTAssertThrowsError(try Keypair.fromProtobufEncoding(bytes: Data([1, 2, 3]))) { error in
            guard case Lp2pError.InvalidKey = error else { return XCTFail("expected InvalidKey, got \(error)") }
        }
    }

    func test_unknown_peer_and_bad_peer_id_raise() async throws {
        let node = try start(listen: false)
        XCTAssertThrowsError(try node.peerInfo(peerId: Keypair.generateEd25519().peerId())) { error in
            guard case Lp2pError.UnknownPeer = error else { return XCTFail("expected UnknownPeer, got \(error)") }
        }
        do {
            _ = try await node.ping(peerId: "not-a-peer-id")
            XCTFail("ping accepted not-a-peer-id")
        } catch Lp2pError.InvalidPeerId {
            // expected
        }
    }

    func test_reset_stream_fails_the_reader() async throws {
        let server = try start()
        server.setStreamHandler(protocol: echoProtocol, handler: EchoHandler())
        let client = try start(listen: false)
        let peer = try await client.dial(address: server.listenAddrs()[0])
        let stream = try await client.newStream(peerId: peer, protocol: echoProtocol)
        try await stream.write(data: Data("x".utf8))
        stream.reset()
        do {
            _ = try await stream.read(maxBytes: 10)
            XCTFail("read succeeded on a reset stream")
        } catch is Lp2pError {
            // expected
        }
    }

    func test_shutdown_node_raises_shutdown() async throws {
        let server = try start()
        let client = try start(listen: false)
        await client.shutdown()
        do {
            _ = try await client.dial(address: server.listenAddrs()[0])
            XCTFail("dial after shutdown succeeded")
        } catch Lp2pError.Shutdown {
            // expected
        }
    }
}
