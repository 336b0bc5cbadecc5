// gokad: a go-libp2p-kad-dht server on 127.0.0.1 for lp2p's Kademlia interop
// test (tests/tests/kad_go_interop.rs). It prints "listening <multiaddr>" and
// then answers one line per command read from stdin:
//
//	connect <multiaddr>        -> "ok" | "error <text>"
//	bootstrap                  -> "ok" (after a routing table refresh)
//	put <hex key> <hex value>  -> "ok" | "error <text>"
//	get <hex key>              -> "value <hex>" | "error <text>"
//	pk                         -> "pk <hex key> <hex value>" (this host's /pk/ record)
//	provide <hex multihash>    -> "ok" | "error <text>"
//	providers <hex multihash>  -> "providers <id> ..." (may be empty)
//	findpeer <peer id>         -> "addrs <multiaddr> ..." | "error <text>"
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"
)

func main() {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	kad, err := dht.New(h, dht.Mode(dht.ModeServer))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s/p2p/%s\n", h.Addrs()[0], h.ID())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		op, cancel := context.WithTimeout(ctx, 20*time.Second)
		fmt.Println(run(op, h.ID(), kad, f))
		cancel()
	}
}

func run(ctx context.Context, self peer.ID, kad *dht.IpfsDHT, f []string) string {
	arg := func(i int) []byte {
		if i >= len(f) {
			return nil
		}
		b, _ := hex.DecodeString(f[i])
		return b
	}
	switch f[0] {
	case "connect":
		addr, err := ma.NewMultiaddr(f[1])
		if err != nil {
			return "error " + err.Error()
		}
		info, err := peer.AddrInfoFromP2pAddr(addr)
		if err != nil {
			return "error " + err.Error()
		}
		if err := kad.Host().Connect(ctx, *info); err != nil {
			return "error " + err.Error()
		}
		return "ok"
	case "bootstrap":
		<-kad.RefreshRoutingTable()
		return fmt.Sprintf("ok %d", kad.RoutingTable().Size())
	case "put":
		if err := kad.PutValue(ctx, string(arg(1)), arg(2)); err != nil {
			return "error " + err.Error()
		}
		return "ok"
	case "get":
		v, err := kad.GetValue(ctx, string(arg(1)))
		if err != nil {
			return "error " + err.Error()
		}
		return "value " + hex.EncodeToString(v)
	case "pk":
		pub, err := crypto.MarshalPublicKey(kad.Host().Peerstore().PubKey(self))
		if err != nil {
			return "error " + err.Error()
		}
		return "pk " + hex.EncodeToString([]byte("/pk/"+string(self))) + " " + hex.EncodeToString(pub)
	case "provide", "providers":
		hash, err := mh.Cast(arg(1))
		if err != nil {
			return "error " + err.Error()
		}
		c := cid.NewCidV1(cid.Raw, hash)
		if f[0] == "provide" {
			if err := kad.Provide(ctx, c, true); err != nil {
				return "error " + err.Error()
			}
			return "ok"
		}
		out := []string{"providers"}
		for p := range kad.FindProvidersAsync(ctx, c, 20) {
			out = append(out, p.ID.String())
		}
		return strings.Join(out, " ")
	case "findpeer":
		id, err := peer.Decode(f[1])
		if err != nil {
			return "error " + err.Error()
		}
		info, err := kad.FindPeer(ctx, id)
		if err != nil {
			return "error " + err.Error()
		}
		out := []string{"addrs"}
		for _, a := range info.Addrs {
			out = append(out, a.String())
		}
		return strings.Join(out, " ")
	}
	return "error unknown command " + f[0]
}
