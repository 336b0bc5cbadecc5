// The Kotlin suite of lp2p. The test names match the Python and Swift suites
// (same name, same behaviour); the extra tests cover the rest of the API.
package org.lp2p

import java.io.File
import java.security.MessageDigest
import java.time.Duration
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows

const val ECHO = "/echo/1.0.0"
const val LOOPBACK = "/ip4/127.0.0.1/tcp/0"
const val TEST_TIMEOUT_MS = 60_000L

/** Echoes every byte back, then closes its write side. Written in Kotlin. */
class EchoHandler : StreamHandler {
    override suspend fun handle(stream: Stream) {
        stream.use { s ->
            try {
                while (true) {
                    val chunk = s.read(65536u)
                    if (chunk.isEmpty()) break
                    s.write(chunk)
                }
                s.closeWrite()
            } catch (e: Lp2pException) {
                s.reset()
            }
        }
    }
}

/** Collects a node's events. */
class Collector : EventListener {
    val events = LinkedBlockingQueue<NodeEvent>()
    override fun onEvent(event: NodeEvent) {
        events.add(event)
    }
}

/** Deterministic bytes, different at every offset (not all zeros). */
fun pattern(size: Int): ByteArray {
    val out = ByteArray(size)
    var x = 0x12345678
    for (i in 0 until size) {
        x = x xor (x shl 13); x = x xor (x ushr 17); x = x xor (x shl 5)
        out[i] = x.toByte()
    }
    return out
}

fun sha256(bytes: ByteArray): ByteArray = MessageDigest.getInstance("SHA-256").digest(bytes)

// A separate thread, so that even a blocking read of the CLI's output cannot
// hang a test past its limit.
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class Lp2pTest {
    private val nodes = mutableListOf<Node>()

    private fun start(listen: Boolean = true): Node {
        val config = NodeConfig(listenAddrs = if (listen) listOf(LOOPBACK) else listOf())
        return Node(config).also { nodes += it }
    }

    @AfterEach
    fun stopNodes() {
        runBlocking {
            for (node in nodes) {
                node.shutdown()
                node.close()
            }
        }
    }

    /** Writes `data` and reads everything back concurrently (the echo needs both). */
    private suspend fun echoThrough(stream: Stream, data: ByteArray, chunk: Int = 65536): ByteArray =
        withContext(Dispatchers.IO) {
            val reader = async { stream.readToEnd(data.size.toULong() + 1u) }
            var off = 0
            while (off < data.size) {
                val end = minOf(off + chunk, data.size)
                stream.write(data.copyOfRange(off, end))
                off = end
            }
            stream.closeWrite()
            reader.await()
        }

    @Test
    fun test_two_nodes_ping() {
        runBlocking {
            withTimeout(TEST_TIMEOUT_MS) {
                val server = start()
                val client = start(listen = false)
                val peer = client.dial(server.listenAddrs()[0])
                assertEquals(server.peerId(), peer)
                val rtt = client.ping(peer)
                assertTrue(rtt > Duration.ZERO, "rtt $rtt")
                assertTrue(rtt < Duration.ofSeconds(10), "rtt $rtt")
            }
        }
    }

    /** Waits until the server's perf counters satisfy `done` (the test's timeout bounds it). */
    private suspend fun perfStatsUntil(server: Node, done: (PerfServerStats) -> Boolean) {
        while (!done(server.perfServerStats())) kotlinx.coroutines.delay(10)
    }

    @Test
    fun test_perf_counts_bytes_both_ways() {
        runBlocking {
            withTimeout(TEST_TIMEOUT_MS) {
                val server = Node(NodeConfig(listenAddrs = listOf(LOOPBACK), perf = true)).also { nodes += it }
                val client = start(listen = false)
                val peer = client.dial(server.listenAddrs()[0])
                assertTrue(server.protocols().contains("/perf/1.0.0"))
                val result = client.perf(peer, 300_000uL, 700_000uL)
                assertEquals(300_000uL, result.uploadBytes)
                assertEquals(700_000uL, result.downloadBytes)
                assertTrue(result.uploadTime > Duration.ZERO, "upload ${result.uploadTime}")
                assertTrue(result.downloadTime > Duration.ZERO, "download ${result.downloadTime}")
                // Counted on the server's side: what it drained and sent.
                perfStatsUntil(server) { it.served == 1uL }
                assertEquals(PerfServerStats(1uL, 0uL, 300_000uL, 700_000uL), server.perfServerStats())
            }
        }
    }

    @Test
    fun test_perf_is_off_by_default() {
        val server = start()
        val client = start(listen = false)
        val peer = runBlocking { client.dial(server.listenAddrs()[0]) }
        assertTrue(!server.protocols().contains("/perf/1.0.0"))
        assertThrows<Lp2pException.ProtocolNotSupported> {
            runBlocking { client.perf(peer, 1000uL, 1000uL) }
        }
        assertEquals(PerfServerStats(0uL, 0uL, 0uL, 0uL), server.perfServerStats())
    }

    @Test
    fun test_rendezvous_register_discover() {
        val point = start()
        point.serveRendezvous()
        val a = start()
        val c = start(listen = false)
        runBlocking {
            withTimeout(TEST_TIMEOUT_MS) {
                val p = a.dial(point.listenAddrs()[0])
                c.dial(point.listenAddrs()[0])
                assertEquals(Duration.ofHours(2), a.rendezvousRegister(p, "kt-app", null))
                val found = c.rendezvousDiscover(p, "kt-app", null, null)
                assertEquals(listOf(a.peerId()), found.registrations.map { it.peerId })
                assertEquals("kt-app", found.registrations[0].namespace)
                val again = c.rendezvousDiscover(p, "kt-app", null, found.cookie)
                assertTrue(again.registrations.isEmpty())
                a.rendezvousUnregister(p, "kt-app")
                assertEquals(listOf(a.peerId()), c.bootstrap(listOf(a.listenAddrs()[0])))
            }
        }
        val p = point.peerId()
        val e = assertThrows<Lp2pException.ProtocolException> {
            runBlocking { a.rendezvousRegister(p, "kt-app", Duration.ofSeconds(60)) }
        }
        assertTrue(e.message!!.contains("E_INVALID_TTL"), e.message)
        assertTrue(ipfsBootstrapPeers().any { it.startsWith("/dnsaddr/bootstrap.libp2p.io/") })
    }

    @Test
    fun test_kad_put_get_provide_find() {
        val a = start()
        val b = start()
        val identity = Keypair.generateEd25519()
        val c = Node(NodeConfig(listenAddrs = listOf(LOOPBACK), keypair = identity)).also { nodes += it }
        val ka = a.kad(KadMode.SERVER, null)
        val kb = b.kad(KadMode.SERVER, null)
        val kc = c.kad(KadMode.SERVER, null)
        runBlocking {
            withTimeout(TEST_TIMEOUT_MS) {
                assertEquals(a.peerId(), kb.addBootstrapPeer(a.listenAddrs()[0]))
                assertEquals(a.peerId(), kc.addBootstrapPeer(a.listenAddrs()[0]))
                assertTrue(kc.bootstrap() >= 1uL)
                // An Ed25519 peer ID is the identity multihash of the protobuf public key.
                val public = identity.publicKey()
                val record = "/pk/".toByteArray() + byteArrayOf(0, public.size.toByte()) + public
                assertTrue(kc.putValue(record, public) >= 1uL)
                assertArrayEquals(public, kb.getValue(record, 1u))
                assertEquals(null, kb.getValue("/pk/nobody".toByteArray(), 1u))
                val content = byteArrayOf(0x12, 0x20) + ByteArray(32) { 3 }
                assertTrue(ka.provide(content) >= 1uL)
                assertTrue(kc.providers(content, 5u).any { it.peerId == a.peerId() })
                assertTrue(kc.findPeer(b.peerId())!!.isNotEmpty())
            }
        }
    }

    /** Polls `condition` every 20 ms for up to `seconds`. */
    private fun eventually(seconds: Long = 10, condition: () -> Boolean): Boolean {
        val end = System.nanoTime() + seconds * 1_000_000_000L
        while (System.nanoTime() < end) {
            if (condition()) return true
            Thread.sleep(20)
        }
        return condition()
    }

    @Test
    fun test_external_addresses_and_auto_kad() {
        val node = start()
        val events = Collector()
        node.subscribeEvents(events).use {
            val kad = node.kad(KadMode.AUTO, null)
            assertEquals(KadMode.AUTO, kad.mode())
            assertEquals(false, kad.isServer())
            assertEquals(listOf<String>(), node.externalAddrs())
            assertEquals(true, node.addExternalAddress("/ip4/203.0.113.7/tcp/4001"))
            assertEquals(false, node.addExternalAddress("/ip4/203.0.113.7/tcp/4001"))
            assertEquals(listOf("/ip4/203.0.113.7/tcp/4001"), node.externalAddrs())
            var confirmed: NodeEvent.ExternalAddrConfirmed? = null
            while (confirmed == null) {
                val event = events.events.poll(10, TimeUnit.SECONDS) ?: error("no ExternalAddrConfirmed event")
                if (event is NodeEvent.ExternalAddrConfirmed) confirmed = event
            }
            assertEquals("/ip4/203.0.113.7/tcp/4001", confirmed.address)
            assertTrue(eventually { kad.isServer() }, "an AUTO DHT serves once the node has an external address")
            assertTrue(node.protocols().contains("/ipfs/kad/1.0.0"))

            assertEquals(true, node.removeExternalAddress("/ip4/203.0.113.7/tcp/4001"))
            assertEquals(false, node.removeExternalAddress("/ip4/203.0.113.7/tcp/4001"))
            assertEquals(listOf<String>(), node.externalAddrs())
            assertTrue(eventually { !kad.isServer() }, "and stops serving without one")
            assertThrows<Lp2pException.InvalidMultiaddr> { node.addExternalAddress("not-a-multiaddr") }
            assertEquals(KadMode.CLIENT, start().kad(KadMode.CLIENT, null).mode())
        }
    }

    @Test
    fun test_resource_limits_and_conn_manager() {
        // Bad settings are refused.
        assertThrows<Lp2pException.InvalidArgument> {
            Node(NodeConfig(connManager = ConnManagerConfig(low = 5u, high = 2u)))
        }
        assertThrows<Lp2pException.InvalidArgument> {
            Node(NodeConfig(allowlist = listOf("/dns4/example.com/tcp/1")))
        }
        assertThrows<Lp2pException.InvalidArgument> {
            Node(NodeConfig(resourceLimits = ResourceLimits(maxStreams = 0uL)))
        }
        // One outbound connection at most: the second dial fails with
        // LimitReached, and an event says which limit.
        val client = Node(
            NodeConfig(
                resourceLimits = ResourceLimits(maxConnections = 1uL),
                connManager = ConnManagerConfig(low = 1u, high = 1u, gracePeriod = Duration.ofSeconds(60)),
                allowlist = listOf("/ip4/10.0.0.0/ipcidr/8"),
            )
        ).also { nodes += it }
        val a = start()
        val b = start()
        val events = Collector()
        client.subscribeEvents(events).use {
            val peerA = runBlocking { withTimeout(TEST_TIMEOUT_MS) { client.dial(a.listenAddrs()[0]) } }
            assertThrows<Lp2pException.LimitReached> {
                runBlocking { withTimeout(TEST_TIMEOUT_MS) { client.dial(b.listenAddrs()[0]) } }
            }
            var hit: NodeEvent.ResourceLimitExceeded? = null
            while (hit == null) {
                val event = events.events.poll(10, TimeUnit.SECONDS) ?: error("no ResourceLimitExceeded event")
                if (event is NodeEvent.ResourceLimitExceeded) hit = event
            }
            assertEquals("system", hit.scope)
            assertEquals("conns_outbound", hit.resource)
            assertEquals(1uL, hit.limit)
            assertEquals(1uL, hit.current)
            assertEquals(null, hit.peerId)

            // Tags and protections.
            client.tagPeer(peerA, "useful", 5L)
            assertThrows<Lp2pException.InvalidArgument> { client.tagPeer(peerA, "x".repeat(200), 5L) }
            assertThrows<Lp2pException.InvalidPeerId> { client.tagPeer("nope", "useful", 5L) }
            client.untagPeer(peerA, "useful")
            client.protectPeer(peerA, "keep")
            client.protectPeer(peerA, "also")
            assertEquals(true, client.isProtected(peerA, "keep"))
            assertEquals(true, client.unprotectPeer(peerA, "keep"))
            assertEquals(false, client.unprotectPeer(peerA, "also"))
            assertEquals(false, client.isProtected(peerA, null))
        }
    }

    @Test
    fun test_autonat_confirms_external_address() {
        fun autonatNode(server: Boolean, client: Boolean): Node {
            val autonat = AutonatConfig(
                server = server,
                client = client,
                allowPrivateAddresses = true,
                confirmations = 3u,
                probeInterval = Duration.ofMillis(200),
            )
            return Node(NodeConfig(listenAddrs = listOf(LOOPBACK), autonat = autonat)).also { nodes += it }
        }
        val servers = List(3) { autonatNode(server = true, client = false) }
        val node = autonatNode(server = false, client = true)
        val events = Collector()
        node.subscribeEvents(events).use {
            val kad = node.kad(KadMode.AUTO, null)
            assertEquals(false, kad.isServer())
            runBlocking {
                withTimeout(TEST_TIMEOUT_MS) {
                    for (server in servers) node.dial(server.listenAddrs()[0])
                }
            }
            val expected = node.listenAddrs()[0].substringBefore("/p2p/")
            var confirmed: NodeEvent.ExternalAddrConfirmed? = null
            while (confirmed == null) {
                val event = events.events.poll(30, TimeUnit.SECONDS) ?: error("no ExternalAddrConfirmed event")
                if (event is NodeEvent.ExternalAddrConfirmed) confirmed = event
            }
            assertEquals(expected, confirmed.address)
            assertTrue(node.externalAddrs().contains(expected))
            assertTrue(eventually { kad.isServer() }, "the AUTO DHT serves once AutoNAT confirmed an address")
        }
        assertThrows<Lp2pException.InvalidArgument> {
            Node(NodeConfig(autonat = AutonatConfig(confirmations = 0u)))
        }
    }

    @Test
    fun test_echo_round_trip_through_handler() {
        runBlocking {
            withTimeout(TEST_TIMEOUT_MS) {
                val server = start()
                server.setStreamHandler(ECHO, EchoHandler())
                val client = start(listen = false)
                val peer = client.dial(server.listenAddrs()[0])
                client.newStream(peer, ECHO).use { stream ->
                    assertEquals(ECHO, stream.protocol())
                    assertEquals(server.peerId(), stream.peerId())
                    val message = "hello from kotlin".toByteArray()
                    assertArrayEquals(message, echoThrough(stream, message))
                }
            }
        }
    }

    @Test
    fun test_transfer_16_mib_checked() {
        runBlocking {
            withTimeout(TEST_TIMEOUT_MS) {
                val server = start()
                server.setStreamHandler(ECHO, EchoHandler())
                val client = start(listen = false)
                val peer = client.dial(server.listenAddrs()[0])
                val data = pattern(16 * 1024 * 1024)
                client.newStream(peer, ECHO).use { stream ->
                    val back = echoThrough(stream, data)
                    assertEquals(data.size, back.size)
                    assertArrayEquals(sha256(data), sha256(back))
                    assertTrue(data.contentEquals(back), "every byte comes back equal")
                }
            }
        }
    }

    @Test
    fun test_invalid_multiaddr_raises() {
        val client = start(listen = false)
        assertThrows<Lp2pException.InvalidMultiaddr> {
            runBlocking { client.dial("not-a-multiaddr") }
        }
        assertThrows<Lp2pException.InvalidMultiaddr> {
            Node(NodeConfig(listenAddrs = listOf("not-a-multiaddr")))
        }
    }

    @Test
    fun test_unknown_protocol_raises() {
        val server = start()
        val client = start(listen = false)
        val peer = runBlocking { client.dial(server.listenAddrs()[0]) }
        val e = assertThrows<Lp2pException.ProtocolNotSupported> {
            runBlocking { client.newStream(peer, "/no-such-protocol/1.0.0") }
        }
        assertTrue(e.message!!.contains("/no-such-protocol/1.0.0"), e.message)
    }

    @Test
    fun test_talks_to_lp2p_node_cli() {
        val cli = File(System.getProperty("lp2p.node") ?: error("-Dlp2p.node is not set"))
        assertTrue(cli.canExecute(), "$cli is not built")

        // The CLI listens; our Kotlin node pings it and echoes through it.
        val listener = ProcessBuilder(cli.path, "listen", "--seconds", "60", "--json")
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        try {
            val line = listener.inputStream.bufferedReader().readLine() ?: error("lp2p-node printed nothing")
            val addr = Regex("\"addrs\":\\[\"([^\"]+)\"").find(line)?.groupValues?.get(1)
                ?: error("no address in $line")
            runBlocking {
                withTimeout(TEST_TIMEOUT_MS) {
                    val client = start(listen = false)
                    val peer = client.dial(addr)
                    assertTrue(addr.endsWith("/p2p/$peer"))
                    assertTrue(client.ping(peer) > Duration.ZERO)
                    val data = pattern(300_000)
                    client.newStream(peer, ECHO).use { stream ->
                        assertArrayEquals(data, echoThrough(stream, data))
                    }
                }
            }
        } finally {
            listener.destroy()
            listener.waitFor(10, TimeUnit.SECONDS)
        }

        // Our Kotlin node listens with a Kotlin echo handler; the CLI dials it.
        val server = start()
        server.setStreamHandler(ECHO, EchoHandler())
        val echo = ProcessBuilder(cli.path, "echo", server.listenAddrs()[0], "--bytes", "200000", "--json")
            .redirectErrorStream(true)
            .start()
        val output = echo.inputStream.bufferedReader().readText()
        assertTrue(echo.waitFor(60, TimeUnit.SECONDS), "lp2p-node echo did not finish")
        assertEquals(0, echo.exitValue(), output)
        assertTrue(output.contains("\"ok\":true") && output.contains("\"bytes\":200000"), output)
    }

    // Beyond the shared names: the rest of the API.

    @Test
    fun test_identify_results() {
        runBlocking {
            withTimeout(TEST_TIMEOUT_MS) {
                val server = Node(NodeConfig(listenAddrs = listOf(LOOPBACK), agentVersion = "kotlin-test/1")).also { nodes += it }
                server.setStreamHandler(ECHO, EchoHandler())
                val client = start(listen = false)
                val events = Collector()
                client.subscribeEvents(events).use {
                    val peer = client.dial(server.listenAddrs()[0])
                    var identified: NodeEvent.Identified? = null
                    while (identified == null) {
                        val event = events.events.poll(10, TimeUnit.SECONDS) ?: error("no Identified event")
                        if (event is NodeEvent.Identified && event.peerId == peer) identified = event
                    }
                    assertEquals("kotlin-test/1", identified.agentVersion)
                    assertTrue(ECHO in identified.protocols)
                    val info = client.peerInfo(peer)
                    assertEquals("kotlin-test/1", info.agentVersion)
                    assertTrue(ECHO in info.protocols)
                    assertTrue(client.isConnected(peer))
                    assertEquals(listOf(peer), client.connectedPeers())
                }
            }
        }
    }

    @Test
    fun test_events_report_connections() {
        runBlocking {
            withTimeout(TEST_TIMEOUT_MS) {
                val server = start()
                val events = Collector()
                server.subscribeEvents(events).use {
                    val client = start(listen = false)
                    client.dial(server.listenAddrs()[0])
                    var established: NodeEvent.ConnectionEstablished? = null
                    while (established == null) {
                        val event = events.events.poll(10, TimeUnit.SECONDS) ?: error("no ConnectionEstablished event")
                        if (event is NodeEvent.ConnectionEstablished) established = event
                    }
                    assertEquals(client.peerId(), established.peerId)
                    assertEquals(false, established.outbound)
                }
            }
        }
    }

    @Test
    fun test_keypair_round_trip() {
        val key = Keypair.generateEd25519()
        val again = Keypair.fromProtobufEncoding(key.toProtobufEncoding())
        assertEquals(key.peerId(), again.peerId())
        val node = Node(NodeConfig(keypair = again)).also { nodes += it }
        assertEquals(key.peerId(), node.peerId())
        assertThrows<Lp2pException.InvalidKey> { Keypair.fromProtobufEncoding(byteArrayOf(1, 2, 3)) }
    }

    @Test
    fun test_unknown_peer_and_bad_peer_id_raise() {
        val node = start(listen = false)
        assertThrows<Lp2pException.UnknownPeer> { node.peerInfo(Keypair.generateEd25519().peerId()) }
        assertThrows<Lp2pException.InvalidPeerId> { runBlocking { node.ping("not-a-peer-id") } }
    }

    @Test
    fun test_reset_stream_fails_the_reader() {
        runBlocking {
            withTimeout(TEST_TIMEOUT_MS) {
                val server = start()
                server.setStreamHandler(ECHO, EchoHandler())
                val client = start(listen = false)
                val peer = client.dial(server.listenAddrs()[0])
                client.newStream(peer, ECHO).use { stream ->
                    stream.write("x".toByteArray())
                    stream.reset()
                    assertThrows<Lp2pException> { runBlocking { stream.read(10u) } }
                }
            }
        }
    }

    @Test
    fun test_shutdown_node_raises_shutdown() {
        val server = start()
        val client = start(listen = false)
        runBlocking { client.shutdown() }
        assertThrows<Lp2pException.Shutdown> { runBlocking { client.dial(server.listenAddrs()[0]) } }
    }
}
