// The go-libp2p peer of the lp2p interop matrix (go-libp2p pinned in go.mod).
//
//	go-peer listen [--transport tcp|ws --security noise|tls --muxer yamux]
//	    prints {"peer_id":..,"addrs":[..]} and serves ping, identify and
//	    /echo/1.0.0 until killed
//	go-peer dial MULTIADDR [--transport T --security S --muxer M]
//	    dials, then checks handshake+one RTT, ping, identify, a 10 MiB echo
//	    and 50 concurrent echo streams; one JSON line per check; exit 0 only
//	    when every check passed
//
// The contract is the same for every peer of tests/interop (see README.md).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
)

const (
	echoProtocol = "/echo/1.0.0"
	agent        = "go-interop-peer/go-libp2p-v0.51.0"
	echoBytes    = 10 << 20
	streamCount  = 50
	streamBytes  = 64 << 10
	stepTimeout  = 30 * time.Second
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "go-peer: "+format+"\n", args...)
	os.Exit(1)
}

func emit(v map[string]any) {
	line, err := json.Marshal(v)
	if err != nil {
		fail("json: %v", err)
	}
	fmt.Println(string(line))
}

// options parses --transport/--security/--muxer into go-libp2p options and
// the listen address of that transport. It refuses what this peer does not
// build, so the driver never mistakes an unsupported combination for a pass.
// Built: transport tcp or ws, security noise or tls, muxer yamux (go-libp2p
// dropped mplex).
func options(args []string) ([]libp2p.Option, string) {
	combo := map[string]string{"transport": "tcp", "security": "noise", "muxer": "yamux"}
	for i := 0; i < len(args); i += 2 {
		key := args[i]
		if len(key) < 3 || key[:2] != "--" || i+1 >= len(args) {
			fail("unexpected argument %q", key)
		}
		if _, ok := combo[key[2:]]; !ok {
			fail("unknown option %q", key)
		}
		combo[key[2:]] = args[i+1]
	}
	opts := []libp2p.Option{libp2p.UserAgent(agent), libp2p.Ping(true)}
	listen := ""
	switch combo["transport"] {
	case "tcp":
		opts = append(opts, libp2p.Transport(tcp.NewTCPTransport))
		listen = "/ip4/127.0.0.1/tcp/0"
	case "ws":
		opts = append(opts, libp2p.Transport(websocket.New))
		listen = "/ip4/127.0.0.1/tcp/0/ws"
	default:
		fail("unsupported transport %q", combo["transport"])
	}
	switch combo["security"] {
	case "noise":
		opts = append(opts, libp2p.Security(noise.ID, noise.New))
	case "tls":
		opts = append(opts, libp2p.Security(tls.ID, tls.New))
	default:
		fail("unsupported security %q", combo["security"])
	}
	if combo["muxer"] != "yamux" {
		fail("unsupported muxer %q", combo["muxer"])
	}
	return append(opts, libp2p.Muxer(yamux.ID, yamux.DefaultTransport)), listen
}

func newHost(listen bool, opts []libp2p.Option, addr string) host.Host {
	if listen {
		opts = append(opts, libp2p.ListenAddrStrings(addr))
	} else {
		opts = append(opts, libp2p.NoListenAddrs)
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		fail("new host: %v", err)
	}
	h.SetStreamHandler(echoProtocol, func(s network.Stream) {
		defer s.Close()
		if _, err := io.Copy(s, s); err != nil {
			_ = s.Reset()
			return
		}
		_ = s.CloseWrite()
	})
	return h
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: go-peer listen | go-peer dial MULTIADDR [--transport T --security S --muxer M]")
	}
	switch os.Args[1] {
	case "listen":
		opts, addr := options(os.Args[2:])
		h := newHost(true, opts, addr)
		addrs := []string{}
		for _, a := range h.Addrs() {
			addrs = append(addrs, fmt.Sprintf("%s/p2p/%s", a, h.ID()))
		}
		emit(map[string]any{"peer_id": h.ID().String(), "addrs": addrs})
		select {}
	case "dial":
		if len(os.Args) < 3 {
			fail("dial needs a multiaddr")
		}
		opts, addr := options(os.Args[3:])
		h := newHost(false, opts, addr)
		ok := dial(h, os.Args[2])
		_ = h.Close()
		if !ok {
			os.Exit(1)
		}
	default:
		fail("unknown mode %q", os.Args[1])
	}
}

func dial(h host.Host, addr string) bool {
	target, err := ma.NewMultiaddr(addr)
	if err != nil {
		fail("bad multiaddr: %v", err)
	}
	info, err := peer.AddrInfoFromP2pAddr(target)
	if err != nil {
		fail("multiaddr without /p2p: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Subscribe before dialing: identify may finish before Connect returns.
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted), eventbus.BufSize(16))
	if err != nil {
		fail("subscribe: %v", err)
	}
	defer sub.Close()

	start := time.Now()
	if err := h.Connect(ctx, *info); err != nil {
		emit(map[string]any{"check": "handshake", "ok": false, "error": err.Error()})
		return false
	}
	// Handshake plus one round trip: the first ping completes it.
	if _, err := pingOnce(ctx, h, info.ID); err != nil {
		emit(map[string]any{"check": "handshake", "ok": false, "error": err.Error()})
		return false
	}
	emit(map[string]any{"check": "handshake", "ok": true, "ms": ms(time.Since(start))})

	all := true
	rtt, err := pingOnce(ctx, h, info.ID)
	all = report("ping", err, map[string]any{"rtt_ms": ms(rtt)}) && all
	all = checkIdentify(ctx, sub, info.ID) && all
	all = report("echo", echo(ctx, h, info.ID, echoBytes, 1), map[string]any{"bytes": echoBytes}) && all
	all = report("streams", concurrent(ctx, h, info.ID), map[string]any{"count": streamCount}) && all
	return all
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func report(check string, err error, extra map[string]any) bool {
	extra["check"] = check
	extra["ok"] = err == nil
	if err != nil {
		extra["error"] = err.Error()
	}
	emit(extra)
	return err == nil
}

func pingOnce(ctx context.Context, h host.Host, id peer.ID) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	res, ok := <-ping.Ping(ctx, h, id)
	if !ok {
		return 0, fmt.Errorf("ping: no result")
	}
	return res.RTT, res.Error
}

// checkIdentify waits for identify to complete on the connection, then
// checks what the listener told us: agent, the protocols it serves, its
// listen addresses and its signed peer record (go-libp2p puts the record in
// the event only when it verified; it does not keep it in the peer store).
func checkIdentify(ctx context.Context, sub event.Subscription, id peer.ID) bool {
	var done *event.EvtPeerIdentificationCompleted
	timeout := time.After(stepTimeout)
	for done == nil {
		select {
		case ev, ok := <-sub.Out():
			if !ok {
				return report("identify", fmt.Errorf("event bus closed"), map[string]any{})
			}
			if e, ok := ev.(event.EvtPeerIdentificationCompleted); ok && e.Peer == id {
				done = &e
			}
		case <-timeout:
			return report("identify", fmt.Errorf("no identify within %v", stepTimeout), map[string]any{})
		case <-ctx.Done():
			return report("identify", ctx.Err(), map[string]any{})
		}
	}
	names := []string{}
	for _, p := range done.Protocols {
		names = append(names, string(p))
	}
	addrs := []string{}
	for _, a := range done.ListenAddrs {
		addrs = append(addrs, a.String())
	}
	record := "absent"
	if done.SignedPeerRecord != nil {
		record = "verified"
	}
	var err error
	switch {
	case done.AgentVersion == "":
		err = fmt.Errorf("no agent version")
	case !contains(names, "/ipfs/ping/1.0.0") || !contains(names, "/ipfs/id/1.0.0") || !contains(names, echoProtocol):
		err = fmt.Errorf("protocols %v lack ping, identify or echo", names)
	case len(addrs) == 0:
		err = fmt.Errorf("no listen addresses")
	}
	return report("identify", err, map[string]any{"agent": done.AgentVersion, "protocols": names, "listen_addrs": addrs, "signed_record": record})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func pattern(n int, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*31 + seed*7 + i/251) % 256)
	}
	return b
}

// echo sends n pattern bytes on one /echo/1.0.0 stream, closes its write
// side, and checks that the same bytes come back.
func echo(ctx context.Context, h host.Host, id peer.ID, n int, seed int) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	s, err := h.NewStream(ctx, id, echoProtocol)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	defer s.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(deadline)
	}
	data := pattern(n, seed)
	writeErr := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		if err == nil {
			err = s.CloseWrite()
		}
		writeErr <- err
	}()
	back, err := io.ReadAll(s)
	if err != nil {
		return fmt.Errorf("read after %d bytes: %w", len(back), err)
	}
	if err := <-writeErr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(back, data) {
		return fmt.Errorf("echo returned %d bytes that differ from the %d sent", len(back), len(data))
	}
	return nil
}

func concurrent(ctx context.Context, h host.Host, id peer.ID) error {
	errs := make(chan error, streamCount)
	var wg sync.WaitGroup
	for i := 0; i < streamCount; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- echo(ctx, h, id, streamBytes, i+1)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
